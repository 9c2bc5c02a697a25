"""What the text classification converters (sst, sst2, imdb, hf) share: label names, text
cleaning and Docs with exclusive doc.cats.

Output contract (what the text classifier relies on): one Doc per text; doc.cats holds every
label of the corpus, 1.0 for the gold label and 0.0 for all others (mutually exclusive).
Label names are BINARY_LABELS ("negative", "positive") for SST-2, binary SST and IMDB, and
FINE_LABELS ("very negative" ... "very positive") for SST-5. SST trees keep their leaves as
tokens (PTB escapes such as -LRB- undone; `` and '' kept, as in GLUE's SST-2); raw text is
tokenised by spacy.blank("en") after clean_text: "<br />" tags become whitespace and every
run of whitespace becomes one space, so no Doc has whitespace tokens.
"""
import re
from typing import Dict, Iterable, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

BINARY_LABELS = ("negative", "positive")
FINE_LABELS = ("very negative", "negative", "neutral", "positive", "very positive")
# Label spellings of other distributions (IMDB, the hub's "imdb") -> ours.
LABEL_ALIASES = {"neg": "negative", "pos": "positive"}

_BR_TAG = re.compile(r"<br\s*/?\s*>", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Raw text as it is tokenised: "<br />" tags (any case, with or without the slash)
    become whitespace, whitespace runs become one space, and the ends are stripped."""
    return _WHITESPACE.sub(" ", _BR_TAG.sub(" ", text)).strip()


def exclusive_cats(label: str, labels: Sequence[str]) -> Dict[str, float]:
    """doc.cats for one gold label: 1.0 for it, 0.0 for every other label.
    Raises ValueError if label is not one of labels."""
    if label not in labels:
        raise ValueError(f"label {label!r} is not one of {list(labels)}")
    return {name: 1.0 if name == label else 0.0 for name in labels}


def words_doc(vocab: Vocab, words: List[str], label: str, labels: Sequence[str]) -> Doc:
    """A Doc of the given words, separated by single spaces, with exclusive cats."""
    doc = Doc(vocab, words=words, spaces=[True] * (len(words) - 1) + [False])
    doc.cats = exclusive_cats(label, labels)
    return doc


def check_unicode(text: str) -> None:
    """ValueError for a text that is not valid Unicode: a lone surrogate (e.g. from a JSON
    escape such as "\\ud800"), which spaCy's tokenizer cannot encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"the text is not valid Unicode (a lone surrogate at character {err.start})") from None


def text_doc(nlp: Language, text: str, label: str, labels: Sequence[str]) -> Doc:
    """A Doc of the text tokenised by nlp, with exclusive cats (see check_unicode)."""
    check_unicode(text)
    doc = nlp.make_doc(text)
    doc.cats = exclusive_cats(label, labels)
    return doc


class Counted:
    """Iterate over items and count them (the n_read of a conversion)."""

    def __init__(self, items: Iterable) -> None:
        self.items = iter(items)
        self.count = 0

    def __iter__(self):
        for item in self.items:
            self.count += 1
            yield item
