"""`EntityTaggerNet.span_probabilities` over several docs against brute force over every tag
sequence: docs in several length groups, of one token, without spans, with a token forced "O"."""
import pytest
import torch
from test_crf import BILUO_TAGS, BIO_TAGS, brute_force_scores, random_crf
from torch import nn

from spacy_rnn.models.ner import EntityTaggerNet


class NoEncoder(nn.Module):
    """Stands in for an encoder: the net's CRF is all these tests use."""

    output_width = 1


def entities(tags):
    """(start, end, label) entities of a valid BIO or BILUO tag sequence."""
    found, start = [], None
    for i, tag in enumerate(tags + ["O"]):
        if start is not None and not tag.startswith(("I-", "L-")):
            found.append((start, i, tags[start][2:]))
            start = None
        if tag.startswith(("B-", "U-")):
            start = i
    return found


@pytest.mark.parametrize("tags", [BILUO_TAGS, BIO_TAGS], ids=["BILUO", "BIO"])
def test_span_probabilities_of_several_docs_equal_brute_force(tags):
    net = EntityTaggerNet(NoEncoder(), tags)
    net.crf = random_crf(tags).double()
    torch.manual_seed(7)
    lengths = [4, 1, 3, 2, 4]
    emissions = [torch.randn(n, len(tags)) * 2 for n in lengths]
    outside = [torch.zeros(n, dtype=torch.bool) for n in lengths]
    outside[4][1] = True
    spans = [
        [(0, 2, "PER"), (3, 4, "LOC"), (0, 4, "LOC"), (1, 3, "PER")],
        [(0, 1, "PER"), (0, 1, "LOC")],
        [],
        [(1, 2, "PER"), (0, 2, "LOC")],
        [(0, 1, "PER"), (2, 4, "LOC"), (1, 2, "PER")],
    ]
    probabilities = net.span_probabilities(emissions, outside, spans, max_cells=8)  # groups: docs 0, 4; docs 3, 1
    assert [len(doc) for doc in probabilities] == [len(doc) for doc in spans]
    for doc_emissions, fixed, doc_spans, doc_probabilities in zip(emissions, outside, spans, probabilities):
        allowed = doc_emissions.double()
        allowed[fixed, 1:] = float("-inf")  # "O" only
        scores = brute_force_scores(net.crf, tags, allowed, len(fixed))
        log_z = torch.logsumexp(torch.stack(list(scores.values())), dim=0)
        for span, probability in zip(doc_spans, doc_probabilities):
            kept = [score for sequence, score in scores.items() if span in entities([tags[i] for i in sequence])]
            expected = float((torch.logsumexp(torch.stack(kept), dim=0) - log_z).exp()) if kept else 0.0
            assert probability == pytest.approx(expected, abs=1e-9), span
