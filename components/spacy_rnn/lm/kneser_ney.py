"""Interpolated modified Kneser-Ney n-gram language model (Chen & Goodman 1998), with SRILM's
conventions so its perplexities compare with published ones (KN5 on PTB test: 141.2):

- Every sentence is predicted on its own. Its context starts with a begin-of-sentence marker
  <s> that is never predicted; its words and then <eos> are predicted, so a sentence of k words
  contributes k + 1 tokens. Words outside the vocabulary are <unk>, predicted like any word.
- The highest order uses raw counts; lower orders use continuation counts N1+(. w): the number
  of distinct words seen before the n-gram. N-grams that begin with <s> have no word before
  them and keep their raw counts at every order.
- Each order k has three discounts D1, D2, D3+ estimated from its count-of-counts n1..n4
  (`estimate_discounts`), and

      p_k(w | h) = (c(h w) - D(c(h w))) / c(h) + gamma(h) * p_{k-1}(w | h minus its first word)
      gamma(h)   = (D1 N1(h .) + D2 N2(h .) + D3 N3+(h .)) / c(h)

  where c(h) = sum over w of c(h w) and Nj(h .) counts the words seen after h j times (3+: at
  least 3). A context never seen leaves p_k = p_{k-1}. The unigram level interpolates with the
  uniform distribution over the vocabulary (p_0 = 1 / |V|), so every vocabulary word, <eos> and
  <unk> included, has p > 0 and the probabilities over the vocabulary sum to 1 for any context.
"""
import math
import time
from collections import Counter
from typing import Dict, Iterable, List, Sequence, Tuple

from tqdm import tqdm

from .vocab import Vocabulary

BOS = "<s>"
# KenLM's `--discount_fallback` values, used for an order whose count-of-counts cannot give
# valid discounts (tiny corpora: e.g. no n-gram seen exactly twice).
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)

NGram = Tuple[int, ...]


def estimate_discounts(count_of_counts: Dict[int, int]) -> Tuple[Tuple[float, float, float], bool]:
    """((D1, D2, D3+), fallback) from n1..n4, the numbers of n-grams seen exactly 1..4 times:

        Y = n1 / (n1 + 2 n2),  D1 = 1 - 2 Y n2 / n1,  D2 = 2 - 3 Y n3 / n2,  D3+ = 3 - 4 Y n4 / n3

    When some nj is 0 or a discount Dj is outside (0, j], returns FALLBACK_DISCOUNTS and True."""
    n1, n2, n3, n4 = (count_of_counts.get(j, 0) for j in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return FALLBACK_DISCOUNTS, True
    y = n1 / (n1 + 2 * n2)
    discounts = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < d <= j for j, d in enumerate(discounts, 1)):
        return FALLBACK_DISCOUNTS, True
    return discounts, False


class KneserNeyLM:
    """An order-`order` interpolated modified Kneser-Ney model over `vocab` (see the module
    docstring), fitted on word sentences; words not in `vocab` count as <unk>."""

    def __init__(self, sentences: Iterable[Sequence[str]], vocab: Vocabulary, order: int, progress: bool = False):
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        self.vocab = vocab
        self.order = order
        self.bos_id = len(vocab)  # not a vocabulary id: <s> is never predicted
        raw = self._count(sentences, progress)
        if not raw[1]:
            raise ValueError("No tokens to fit the model on")
        # counts[k]: n-gram of length k -> the count that order k uses (raw or continuation).
        self.counts: Dict[int, Dict[NGram, int]] = {order: raw[order]}
        for k in range(order - 1, 0, -1):
            counts = Counter(gram[1:] for gram in raw[k + 1])  # <s> counts as a word before
            counts.update({gram: n for gram, n in raw[k].items() if gram[0] == self.bos_id})
            self.counts[k] = dict(counts)
        self.discounts: Dict[int, Tuple[float, float, float]] = {}
        self.discount_fallback: Dict[int, bool] = {}
        # contexts[k]: context of length k - 1 -> (c(h), gamma(h)).
        self.contexts: Dict[int, Dict[NGram, Tuple[int, float]]] = {}
        for k in range(1, order + 1):
            self.discounts[k], self.discount_fallback[k] = estimate_discounts(Counter(self.counts[k].values()))
            self.contexts[k] = self._context_stats(self.counts[k], self.discounts[k])

    def _count(self, sentences: Iterable[Sequence[str]], progress: bool) -> Dict[int, Dict[NGram, int]]:
        """Raw counts of every n-gram of length 1..order in the padded sentences <s> w1 .. wk <eos>
        (the n-grams that end on a predicted token)."""
        counts: Dict[int, Counter] = {k: Counter() for k in range(1, self.order + 1)}
        for words in tqdm(sentences, desc=f"counting {self.order}-grams", unit=" sentences", disable=not progress):
            ids = [self.bos_id] + [self.vocab.id(w) for w in words] + [self.vocab.eos_id]
            for k in range(1, self.order + 1):
                counts[k].update(tuple(ids[i - k + 1 : i + 1]) for i in range(max(1, k - 1), len(ids)))
        return {k: dict(c) for k, c in counts.items()}

    @staticmethod
    def _context_stats(counts: Dict[NGram, int], discounts: Tuple[float, float, float]) -> Dict[NGram, Tuple[int, float]]:
        totals: Counter = Counter()
        removed: Counter = Counter()  # the discounted mass D1 N1(h .) + D2 N2(h .) + D3 N3+(h .)
        for gram, n in counts.items():
            totals[gram[:-1]] += n
            removed[gram[:-1]] += discounts[min(n, 3) - 1]
        return {h: (total, removed[h] / total) for h, total in totals.items()}

    def discount(self, k: int, count: int) -> float:
        """The discount order k takes off an n-gram seen `count` times (0 for an unseen one)."""
        return self.discounts[k][min(count, 3) - 1] if count else 0.0

    def num_ngrams(self) -> Dict[int, int]:
        """Distinct n-grams per order (those with a non-zero count at that order)."""
        return {k: len(self.counts[k]) for k in range(1, self.order + 1)}

    def _context_ids(self, context: Sequence[str]) -> NGram:
        """The last order - 1 ids of `context`; a context containing <s> starts at its last <s>."""
        ids = [self.bos_id if w == BOS else self.vocab.id(w) for w in context]
        if self.bos_id in ids:
            ids = ids[len(ids) - 1 - ids[::-1].index(self.bos_id) :]
        return tuple(ids[max(0, len(ids) - (self.order - 1)) :]) if self.order > 1 else ()

    def _prob_id(self, word_id: int, context: NGram) -> float:
        p = 1.0 / len(self.vocab)
        for k in range(1, len(context) + 2):
            h = context[len(context) - k + 1 :]
            stats = self.contexts[k].get(h)
            if stats is None:  # and so is every longer context ending in h
                break
            total, gamma = stats
            count = self.counts[k].get(h + (word_id,), 0)
            p = (count - self.discount(k, count)) / total + gamma * p
        return p

    def prob(self, word: str, context: Sequence[str] = ()) -> float:
        """p(word | context): context is the preceding words (only the last order - 1 are used,
        and none before a <s>; ["<s>"] is the start of a sentence; [] gives the unigram model)."""
        return self._prob_id(self.vocab.id(word), self._context_ids(context))

    def log_prob(self, word: str, context: Sequence[str] = ()) -> float:
        """Natural log of `prob`."""
        return math.log(self.prob(word, context))

    def sentence_log_prob(self, words: Sequence[str]) -> float:
        """Natural log-probability of the sentence's words and its <eos>, given <s>."""
        ids = [self.bos_id] + [self.vocab.id(w) for w in words] + [self.vocab.eos_id]
        n = self.order - 1
        return sum(math.log(self._prob_id(ids[i], tuple(ids[max(0, i - n) : i]))) for i in range(1, len(ids)))

    def evaluate(self, sentences: Iterable[Sequence[str]], progress: bool = False) -> Dict[str, float]:
        """perplexity = exp(-log_prob / n_tokens) over the words and one <eos> per sentence;
        also n_sentences, n_unk (tokens that are <unk>, in the text or out of the vocabulary) and
        seconds."""
        start = time.perf_counter()
        log_prob, n_tokens, n_sentences, n_unk = 0.0, 0, 0, 0
        for words in tqdm(sentences, desc=f"evaluating {self.order}-gram", unit=" sentences", disable=not progress):
            log_prob += self.sentence_log_prob(words)
            n_tokens += len(words) + 1
            n_sentences += 1
            n_unk += sum(self.vocab.id(w) == self.vocab.unk_id for w in words)
        return {
            "perplexity": math.exp(-log_prob / n_tokens),
            "log_prob": log_prob,
            "n_tokens": n_tokens,
            "n_sentences": n_sentences,
            "n_unk": n_unk,
            "seconds": time.perf_counter() - start,
        }

    def explain(self, context: Sequence[str], word: str) -> List[Dict[str, object]]:
        """How p(word | context) is built, one entry per order from the highest used down to 1:
        order, ngram and context (words), count of the n-gram at that order and count_type ("count"
        or "continuation count"), context_count c(h), discount, backoff_weight gamma(h),
        lower_order_prob and prob = (count - discount) / context_count + backoff_weight *
        lower_order_prob. An unseen context has context_count 0, backoff_weight 1 and passes the
        lower order's probability through; the lowest order's lower_order_prob is 1 / |V|."""
        h_ids = self._context_ids(context)
        word_id = self.vocab.id(word)
        entries = []
        p = 1.0 / len(self.vocab)
        for k in range(1, len(h_ids) + 2):
            h = h_ids[len(h_ids) - k + 1 :]
            total, gamma = self.contexts[k].get(h, (0, 1.0))
            count = self.counts[k].get(h + (word_id,), 0)
            lower = p
            if total:
                p = (count - self.discount(k, count)) / total + gamma * lower
            raw = k == self.order or (len(h) > 0 and h[0] == self.bos_id)
            entries.append({
                "order": k,
                "ngram": " ".join(self._word(i) for i in h + (word_id,)),
                "context": " ".join(self._word(i) for i in h),
                "count": count,
                "count_type": "count" if raw else "continuation count",
                "context_count": total,
                "discount": self.discount(k, count),
                "backoff_weight": gamma,
                "lower_order_prob": lower,
                "prob": p,
            })
        return entries[::-1]

    def _word(self, word_id: int) -> str:
        return BOS if word_id == self.bos_id else self.vocab.words[word_id]


def explanation_text(entries: List[Dict[str, object]]) -> str:
    """`KneserNeyLM.explain` entries as lines of text, highest order first."""
    lines = []
    for e in entries:
        counts = f'{e["count_type"]}("{e["ngram"]}") = {e["count"]}, context total "{e["context"]}" = {e["context_count"]}'
        lines.append(
            f'{e["order"]}-gram: {counts}; D = {e["discount"]:.3f}, gamma = {e["backoff_weight"]:.4f}, '
            f'p_lower = {e["lower_order_prob"]:.6f} -> p = {e["prob"]:.6f}'
        )
    return "\n".join(lines)
