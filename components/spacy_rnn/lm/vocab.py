"""The language model's vocabulary and the normalisation that maps raw words onto it.

The same `Normalizer` is applied to the training corpus and to tokens of raw text at
`nlp(text)` time, and both are saved with the model, so a word is looked up the way training
saw it: e.g. "Morning" -> "morning", "1,250.5" -> "N", an unseen word -> "<unk>".
"""
import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional, Sequence

EOS = "<eos>"
UNK = "<unk>"
# Numbers as in Mikolov's PTB: digits with optional sign, separators and decimals ("1,250.5",
# "-3", "1990s" is not a number there, nor is "N-year").
NUMBER_PATTERN = re.compile(r"[+-]?(\d+([,.:/]\d+)*|[,.]\d+)")


@dataclass(frozen=True)
class Normalizer:
    """lowercase: map words to lower case; number_token: replace numbers by this token ("" keeps
    them); skip_punctuation: raw-text tokens that are punctuation are not part of the LM stream
    (PTB has no punctuation). The special tokens (<unk>, <eos>, number_token) are kept as they are."""

    lowercase: bool = True
    number_token: str = "N"
    skip_punctuation: bool = True

    def __call__(self, word: str) -> str:
        if word in (UNK, EOS) or (self.number_token and word == self.number_token):
            return word
        if self.number_token and NUMBER_PATTERN.fullmatch(word):
            return self.number_token
        return word.lower() if self.lowercase else word

    def to_dict(self) -> Dict:
        return asdict(self)


class Vocabulary:
    """Words <-> ids. Id 0 is <eos> and id 1 is <unk>; other words follow in the given order."""

    def __init__(self, words: Sequence[str]):
        rest = [w for w in words if w not in (EOS, UNK)]
        self.words: List[str] = [EOS, UNK] + rest
        self.ids: Dict[str, int] = {w: i for i, w in enumerate(self.words)}
        if len(self.ids) != len(self.words):
            raise ValueError("Vocabulary words must be unique")

    @property
    def eos_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.ids

    def id(self, word: str) -> int:
        return self.ids.get(word, self.unk_id)

    def encode(self, sentences: Iterable[Sequence[str]]) -> List[int]:
        """The id stream of sentences, each followed by <eos>."""
        ids: List[int] = []
        for words in sentences:
            ids.extend(self.ids.get(w, 1) for w in words)
            ids.append(0)
        return ids

    @classmethod
    def from_corpus(
        cls, sentences: Iterable[Sequence[str]], *, max_size: Optional[int] = None, min_count: int = 1
    ) -> "Vocabulary":
        """The words of (normalised) training sentences seen at least `min_count` times, the
        most frequent first, at most `max_size` entries in all (including <eos> and <unk>).
        Ties are broken alphabetically so the vocabulary does not depend on corpus order."""
        counts: Counter = Counter()
        for words in sentences:
            counts.update(words)
        counts.pop(EOS, None)
        counts.pop(UNK, None)
        ranked = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]
        return cls(ranked)
