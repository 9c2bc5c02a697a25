"""The one policy that groups rows of different lengths into padded batches of bounded size:
the encoder's windows at prediction time (`spacy_rnn.featurize.bucket_windows`) and the docs
the CRF decodes and scores together (`EntityTaggerNet.decode`, `span_probabilities`)."""
from typing import List, Sequence


def length_groups(lengths: Sequence[int], max_cells: int) -> List[List[int]]:
    """The indices of the non-empty rows, longest first (equal lengths in index order), in groups
    of at most `max_cells` padded positions (rows x the group's longest row; a longer row forms a
    group alone). Rows of similar length go together, so padding stays small."""
    order = sorted((i for i, n in enumerate(lengths) if n), key=lambda i: -lengths[i])
    groups = []
    while order:
        size = max(1, max_cells // lengths[order[0]])
        groups.append(order[:size])
        order = order[size:]
    return groups
