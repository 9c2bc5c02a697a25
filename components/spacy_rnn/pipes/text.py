"""Text that is not valid Unicode: lone surrogates.

A Python `str` can hold a lone surrogate (U+D800..U+DFFF without its pair), e.g. from bytes decoded
with errors="surrogateescape" (how Python decodes command-line arguments and file names it cannot
decode) or from JSON with an unpaired "\\ud800" escape. Such a text cannot be encoded as UTF-8, and
spaCy's tokenizer, for every pipeline, fails on it with a UnicodeEncodeError whose position is
within a token, not the text. What the project offers:

- `check_text(text, source)`: a ValueError (`NotUnicodeText`) naming where the text came from,
  each lone surrogate's code point and character offset, and the remedies; the project's commands
  and readers call it on the texts they take;
- `clean_text(text)`: the text with each lone surrogate replaced by U+FFFD (one character for one,
  so character offsets are kept);
- the tokenizer `spacy_rnn.Tokenizer.v1` (`[nlp.tokenizer]`): spaCy's own (the language's rules,
  identical tokens) that, given a text with lone surrogates, raises `NotUnicodeText`
  (errors = "strict", the default) or tokenizes `clean_text(text)` (errors = "replace"); valid
  text costs nothing more.
"""
import re
from typing import Callable, List

from spacy.tokenizer import Tokenizer
from spacy.util import registry

LONE_SURROGATE = re.compile("[\ud800-\udfff]")
ERRORS = ("strict", "replace")
SHOWN = 5  # positions named in a message


class NotUnicodeText(ValueError):
    """A text with lone surrogates (not encodable as UTF-8), named by `check_text`."""


def lone_surrogates(text: str) -> List[int]:
    """The character offsets of the lone surrogates in text (a str holds no surrogate pairs)."""
    return [match.start() for match in LONE_SURROGATE.finditer(text)]


def clean_text(text: str) -> str:
    """text with each lone surrogate replaced by U+FFFD (same length: offsets are kept)."""
    return LONE_SURROGATE.sub("\ufffd", text)


def check_text(text: str, source: str = "the text") -> str:
    """text, when it is valid Unicode; else NotUnicodeText naming `source` (e.g. "the TEXT
    argument", "line 12 of reviews.jsonl"), the lone surrogates and where they are."""
    if LONE_SURROGATE.search(text):
        raise NotUnicodeText(not_unicode_message(text, source))
    return text


def not_unicode_message(text: str, source: str) -> str:
    """What `check_text` says about a text with lone surrogates."""
    positions = lone_surrogates(text)
    found = ", ".join(f"U+{ord(text[i]):04X} at character {i}" for i in positions[:SHOWN])
    more = f" and {len(positions) - SHOWN} more" if len(positions) > SHOWN else ""
    return (
        f"{source} is not valid Unicode: it holds {len(positions)} lone surrogate(s) ({found}{more}), which no "
        f"UTF-8 text can (bytes decoded with errors='surrogateescape'? JSON with an unpaired \\ud800-style "
        f"escape?). Decode with errors='replace', or clean the text: spacy_rnn.pipes.text.clean_text replaces "
        f"them with U+FFFD, as the tokenizer spacy_rnn.Tokenizer.v1 does with errors = \"replace\"."
    )


class CheckedTokenizer(Tokenizer):
    """spaCy's tokenizer with lone surrogates handled (`errors`, see the module docstring)."""

    errors = "strict"

    def __call__(self, text):
        try:
            return super().__call__(text)
        except UnicodeEncodeError:
            if not isinstance(text, str) or not lone_surrogates(text):
                raise
        if self.errors == "replace":
            return super().__call__(clean_text(text))
        raise NotUnicodeText(not_unicode_message(text, "the text"))

    def __reduce__(self):
        _, args, *_ = super().__reduce__()
        return (_rebuild_checked_tokenizer, (args, self.errors))


def _rebuild_checked_tokenizer(args, errors: str) -> CheckedTokenizer:
    tokenizer = CheckedTokenizer(*args)
    tokenizer.errors = errors
    return tokenizer


@registry.tokenizers("spacy_rnn.Tokenizer.v1")
def create_checked_tokenizer(errors: str = "strict") -> Callable:
    """spaCy's `spacy.Tokenizer.v1` (the language's rules) with lone surrogates refused with a
    message naming them (errors = "strict") or replaced by U+FFFD (errors = "replace")."""
    if errors not in ERRORS:
        raise ValueError(f"errors must be one of {ERRORS}, not {errors!r}")
    spacy_tokenizer = registry.tokenizers.get("spacy.Tokenizer.v1")()

    def tokenizer_factory(nlp) -> CheckedTokenizer:
        base = spacy_tokenizer(nlp)
        tokenizer = CheckedTokenizer(
            nlp.vocab,
            rules=base.rules,
            prefix_search=base.prefix_search,
            suffix_search=base.suffix_search,
            infix_finditer=base.infix_finditer,
            token_match=base.token_match,
            url_match=base.url_match,
        )
        tokenizer.errors = errors
        return tokenizer

    return tokenizer_factory
