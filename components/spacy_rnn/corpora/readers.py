"""spaCy corpus readers that keep the corpus's own tokens and whole documents.

spaCy's `spacy.Corpus.v1` either re-tokenizes the text (gold_preproc = false) or splits every
doc into sentences (gold_preproc = true). These readers give the model the gold tokens of the
whole multi-sentence doc, with no sentence boundaries: exactly what it sees on raw text.
"""
from pathlib import Path
from typing import Callable, Iterable, Iterator

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example


def gold_tokens_example(nlp: Language, reference: Doc) -> Example:
    """An Example whose predicted doc has the reference's words and spaces, nothing else."""
    words = [token.text for token in reference]
    spaces = [bool(token.whitespace_) for token in reference]
    return Example(Doc(nlp.vocab, words=words, spaces=spaces), reference)


@spacy.registry.readers("spacy_rnn.GoldTokensCorpus.v1")
def create_gold_tokens_reader(path: Path, limit: int = 0) -> Callable[[Language], Iterable[Example]]:
    """Read Examples from a DocBin (.spacy) file; limit = maximum number of docs (0: all)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DocBin corpus not found: {path}")

    def read_examples(nlp: Language) -> Iterator[Example]:
        for i, reference in enumerate(DocBin().from_disk(path).get_docs(nlp.vocab)):
            if limit and i >= limit:
                break
            yield gold_tokens_example(nlp, reference)

    return read_examples
