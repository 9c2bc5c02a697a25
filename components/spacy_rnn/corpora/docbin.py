"""Write converted Docs to a .spacy DocBin and count what was written: the one place every
converter (CoNLL-U, CoNLL-2003, Hugging Face, SST, SST-2, IMDB, PTB) saves its output."""
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Union

from spacy.tokens import Doc, DocBin


@dataclass
class CorpusStats:
    """Sizes of a converted corpus."""

    n_docs: int = 0
    n_sentences: int = 0
    n_tokens: int = 0
    n_entities: int = 0


@dataclass
class TextcatStats:
    """Sizes of a converted text classification corpus.

    n_read counts the units of the input (trees, TSV rows, reviews, dataset rows); n_docs the
    Docs written, which differs where neutral sentences are dropped, phrases are expanded or a
    dev set is split off.
    """

    n_read: int = 0
    n_docs: int = 0
    n_tokens: int = 0
    label_counts: Dict[str, int] = field(default_factory=dict)


def save_docbin(docs: Iterable[Doc], output_path: Union[str, Path], count: Callable[[Doc], None]) -> None:
    """Save docs as a DocBin (without user data) at output_path, creating its folder; call
    count on every Doc as it is added."""
    doc_bin = DocBin(store_user_data=False)
    for doc in docs:
        doc_bin.add(doc)
        count(doc)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    doc_bin.to_disk(output_path)


def write_docbin(docs: Iterable[Doc], output_path: Union[str, Path]) -> CorpusStats:
    """Save docs as a DocBin at output_path, creating its folder, and count them."""
    stats = CorpusStats()

    def count(doc: Doc) -> None:
        stats.n_docs += 1
        stats.n_sentences += sum(1 for token in doc if token.is_sent_start)
        stats.n_tokens += len(doc)
        stats.n_entities += len(doc.ents)

    save_docbin(docs, output_path, count)
    return stats


def write_textcat_docbin(docs: Iterable[Doc], output_path: Union[str, Path]) -> TextcatStats:
    """Save docs as a DocBin at output_path (creating its folder) and count docs, tokens and
    gold labels (the label whose cat is 1.0). n_read is left 0 for the caller to set."""
    stats = TextcatStats()
    labels: Counter = Counter()

    def count(doc: Doc) -> None:
        stats.n_docs += 1
        stats.n_tokens += len(doc)
        labels[max(doc.cats, key=doc.cats.get)] += 1

    save_docbin(docs, output_path, count)
    stats.label_counts = dict(sorted(labels.items()))
    return stats
