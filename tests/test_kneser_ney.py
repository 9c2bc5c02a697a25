"""The interpolated modified Kneser-Ney baseline: a proper distribution over the vocabulary for
any context, the numbers of Chen & Goodman's formulas worked out by hand on a tiny corpus,
SRILM's sentence conventions (<s> never predicted, <eos> predicted) and the `kneser-ney` command."""
import json
import math
from collections import Counter

import pytest
from typer.testing import CliRunner

from spacy_rnn.cli import app
from spacy_rnn.corpora.ptb import PTB_TOKEN_COUNTS, read_sentences
from spacy_rnn.lm.kneser_ney import FALLBACK_DISCOUNTS, KneserNeyLM, estimate_discounts
from spacy_rnn.lm.vocab import EOS, UNK, Vocabulary

from helpers import SHARED_CORPORA

PTB = SHARED_CORPORA / "ptb"

STORY = [
    "the man yelled at the dog".split(),
    "the woman yelled at the cat".split(),
    "the dog yelled at the man".split(),
    "a cat sat on the mat".split(),
    "the dog sat on a mat".split(),
    "the man yelled at the dog again".split(),
    "a dog sat".split(),
    [],
]

# a b / a b / b a, vocabulary <eos> <unk> a b (|V| = 4). Too small for Chen & Goodman's
# estimates (no n-gram seen 3 or 4 times), so every order uses FALLBACK_DISCOUNTS
# D1 = 1/2, D2 = 1, D3+ = 3/2.
TINY = [["a", "b"], ["a", "b"], ["b", "a"]]


def story_model(order: int) -> KneserNeyLM:
    # "unseen" is in the vocabulary but not in the training text: only the uniform level gives it mass.
    vocab = Vocabulary.from_corpus(STORY + [["unseen"]])
    return KneserNeyLM(STORY, vocab, order)


@pytest.mark.parametrize("order", [2, 3, 4])
@pytest.mark.parametrize(
    "context",
    [
        [],  # the unigram distribution
        ["<s>"],  # start of a sentence
        ["yelled", "at", "the"],  # seen at every order
        ["cat", "yelled", "at"],  # "yelled at" seen, "cat yelled at" not
        ["zebra", "unseen"],  # <unk> and a word never seen in training
        ["the", "mat", "<s>", "the"],  # a new sentence starts at <s>
    ],
)
def test_probabilities_sum_to_one_over_the_vocabulary(order, context):
    model = story_model(order)
    probs = [model.prob(word, context) for word in model.vocab.words]
    assert math.fsum(probs) == pytest.approx(1.0, abs=1e-12)
    assert min(probs) > 0
    assert EOS in model.vocab and UNK in model.vocab and "unseen" in model.vocab


def test_discounts_from_count_of_counts():
    # n1..n4 = 100, 40, 20, 10: Y = 100 / (100 + 2 * 40) = 5/9
    # D1  = 1 - 2 * 5/9 * 40/100 = 5/9
    # D2  = 2 - 3 * 5/9 * 20/40  = 7/6
    # D3+ = 3 - 4 * 5/9 * 10/20  = 17/9
    discounts, fallback = estimate_discounts({1: 100, 2: 40, 3: 20, 4: 10, 7: 5})
    assert discounts == pytest.approx((5 / 9, 7 / 6, 17 / 9))
    assert not fallback


@pytest.mark.parametrize(
    "count_of_counts",
    [{1: 5, 2: 1}, {1: 10, 2: 0, 3: 1, 4: 1}, {1: 10, 2: 1, 3: 10, 4: 1}],  # an nj is 0; D2 < 0
)
def test_discounts_fall_back_when_count_of_counts_cannot_give_them(count_of_counts):
    assert estimate_discounts(count_of_counts) == (FALLBACK_DISCOUNTS, True)


def test_model_uses_each_orders_count_of_counts():
    model = story_model(3)
    for k in (1, 2, 3):
        assert (model.discounts[k], model.discount_fallback[k]) == estimate_discounts(Counter(model.counts[k].values()))


def test_bigram_probabilities_by_hand():
    model = KneserNeyLM(TINY, Vocabulary(["a", "b"]), order=2)
    assert model.discounts == {1: FALLBACK_DISCOUNTS, 2: FALLBACK_DISCOUNTS}
    # Unigrams use continuation counts, the number of distinct words before them (<s> included):
    # a after <s>, b; b after a, <s>; <eos> after b, a. So 2, 2, 2 of a total of 6.
    assert model.counts[1] == {(2,): 2, (3,): 2, (0,): 2}
    # gamma() = D2 * 3 / 6 = 1/2; p1(w) = (2 - D2) / 6 + 1/2 * 1/4 = 1/6 + 1/8 = 7/24, p1(<unk>) = 1/8
    assert model.prob("a") == pytest.approx(7 / 24)
    assert model.prob(UNK) == pytest.approx(1 / 8)
    # The bigram is the top order: raw counts. After a: "a b" twice, "a <eos>" once; c(a) = 3,
    # gamma(a) = (D2 * 1 + D1 * 1) / 3 = 1/2.
    # p(b | a)     = (2 - 1)   / 3 + 1/2 * 7/24 = 11.5/24
    # p(<eos> | a) = (1 - 1/2) / 3 + 1/2 * 7/24 = 7.5/24
    # p(a | a)     = 0             + 1/2 * 7/24 = 3.5/24
    # p(<unk> | a) = 0             + 1/2 * 1/8  = 1.5/24      (sum: 24/24)
    assert model.prob("b", ["a"]) == pytest.approx(11.5 / 24)
    assert model.prob(EOS, ["a"]) == pytest.approx(7.5 / 24)
    assert model.prob("a", ["a"]) == pytest.approx(3.5 / 24)
    assert model.prob(UNK, ["a"]) == pytest.approx(1.5 / 24)


def test_trigram_probabilities_by_hand():
    model = KneserNeyLM(TINY, Vocabulary(["a", "b"]), order=3)
    # Bigrams get continuation counts from the trigram types <s> a b, a b <eos>, <s> b a, b a <eos>:
    # "a b" 1 (after <s>), "b <eos>" 1, "b a" 1, "a <eos>" 1; bigrams starting with <s> have no
    # word before them and keep their raw counts: "<s> a" 2, "<s> b" 1.
    bos = model.bos_id
    assert model.counts[2] == {(2, 3): 1, (3, 0): 1, (3, 2): 1, (2, 0): 1, (bos, 2): 2, (bos, 3): 1}
    # Order 2 after a: c(a) = 2, gamma(a) = (D1 + D1) / 2 = 1/2
    # p2(b | a) = (1 - 1/2) / 2 + 1/2 * p1(b) = 1/4 + 1/2 * 7/24 = 9.5/24
    # Order 3 after <s> a: "<s> a b" twice, c(<s> a) = 2, gamma(<s> a) = D2 / 2 = 1/2
    # p(b | <s> a) = (2 - 1) / 2 + 1/2 * 9.5/24 = 16.75/24
    assert model.prob("b", ["<s>", "a"]) == pytest.approx(16.75 / 24)
    # "x a" was never seen: order 3 passes p2(b | a) through.
    assert model.prob("b", ["x", "a"]) == pytest.approx(9.5 / 24)
    # The first word of a sentence is predicted from <s> alone, with raw bigram counts:
    # c(<s>) = 3, gamma(<s>) = (D2 + D1) / 3 = 1/2; p(a | <s>) = (2 - 1) / 3 + 1/2 * 7/24
    ids_after_bos = [model.prob(w, ["<s>"]) for w in ("a", "b")]
    assert ids_after_bos == pytest.approx([1 / 3 + 3.5 / 24, 0.5 / 3 + 3.5 / 24])


def test_explain_shows_the_counts_behind_a_prediction():
    model = story_model(4)
    # "yelled at the" 4 times, followed by "dog" twice (count("yelled at the dog") / count("yelled at the")).
    entries = model.explain(["the", "man", "yelled", "at", "the"], "dog")
    assert [e["order"] for e in entries] == [4, 3, 2, 1]
    top = entries[0]
    assert (top["ngram"], top["context"], top["count_type"]) == ("yelled at the dog", "yelled at the", "count")
    assert (top["count"], top["context_count"]) == (2, 4)
    assert top["discount"] == model.discount(4, 2)
    assert top["prob"] == pytest.approx(model.prob("dog", ["yelled", "at", "the"]))
    assert top["prob"] == pytest.approx(
        (top["count"] - top["discount"]) / top["context_count"] + top["backoff_weight"] * top["lower_order_prob"]
    )
    for higher, lower in zip(entries, entries[1:]):
        assert higher["lower_order_prob"] == lower["prob"]
        assert lower["count_type"] == "continuation count"
    # "at the dog" follows only "yelled": continuation count 1.
    assert (entries[1]["ngram"], entries[1]["count"]) == ("at the dog", 1)
    assert entries[-1]["lower_order_prob"] == pytest.approx(1 / len(model.vocab))


def test_explain_of_an_unseen_context_backs_off_with_weight_one():
    model = story_model(3)
    entries = model.explain(["zebra", "yelled"], "at")  # "<unk> yelled" never seen
    assert entries[0]["ngram"] == "<unk> yelled at"
    assert (entries[0]["context_count"], entries[0]["backoff_weight"]) == (0, 1.0)
    assert entries[0]["prob"] == entries[1]["prob"]


def test_words_outside_the_vocabulary_are_unk():
    vocab = Vocabulary(["the", "dog", "yelled", "at"])  # no "man", "cat", ...
    model = KneserNeyLM(STORY, vocab, order=3)
    assert model.prob("zebra", ["the"]) == model.prob(UNK, ["the"])
    assert model.prob("dog", ["the", "zebra"]) == model.prob("dog", ["the", UNK])
    # "the man" and "the cat" in training are "the <unk>": seen after "the".
    assert model.counts[3][(model.bos_id, vocab.id("the"), vocab.unk_id)] == 3
    assert model.evaluate([["the", "zebra", "cat"]])["n_unk"] == 2


def test_perplexity_is_exp_of_minus_the_mean_log_prob_of_words_and_eos():
    model = story_model(3)
    sentences = [["the", "dog", "yelled"], ["a", "zebra"], []]
    log_probs = []
    for words in sentences:
        history = ["<s>"]
        for word in words + [EOS]:
            log_probs.append(model.log_prob(word, history))
            history.append(word)
    result = model.evaluate(sentences)
    assert result["n_tokens"] == 4 + 3 + 1 == len(log_probs)
    assert result["n_sentences"] == 3
    assert result["log_prob"] == pytest.approx(math.fsum(log_probs))
    assert result["perplexity"] == pytest.approx(math.exp(-math.fsum(log_probs) / 8))
    assert model.sentence_log_prob(["a", "zebra"]) == pytest.approx(math.fsum(log_probs[4:7]))


def test_higher_orders_fit_their_training_text_better():
    perplexities = [story_model(order).evaluate(STORY)["perplexity"] for order in (1, 2, 3, 4)]
    assert perplexities == sorted(perplexities, reverse=True)


def test_needs_tokens_and_a_positive_order():
    with pytest.raises(ValueError):
        KneserNeyLM([], Vocabulary(["a"]), order=2)
    with pytest.raises(ValueError):
        KneserNeyLM(TINY, Vocabulary(["a"]), order=0)


def test_kneser_ney_command_writes_reports(tmp_path):
    paths = {}
    for split, sentences in (("train", STORY), ("valid", STORY[:3]), ("test", STORY[3:])):
        paths[split] = tmp_path / f"{split}.txt"
        paths[split].write_text("".join(" ".join(words) + "\n" for words in sentences), encoding="utf8")
    args = ["kneser-ney", "--train", str(paths["train"]), "--valid", str(paths["valid"]), "--test", str(paths["test"]),
            "--orders", "2", "3", "--output-dir", str(tmp_path / "lm"), "--word", "dog"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "lm" / "kneser_ney.json").read_text(encoding="utf8"))
    assert set(report["scores"]) == {f"kn{n}.ptb.{split}.perplexity" for n in (2, 3) for split in ("valid", "test")}
    assert report["orders"]["3"]["ptb.test.n_tokens"] == sum(len(words) + 1 for words in STORY[3:])
    assert report["orders"]["3"]["ngrams"]["3"] > 0 and report["vocabulary"]["size"] == 12 + 2  # words of STORY, <eos>, <unk>
    assert report["example"]["words"]["dog"][0]["ngram"] == "at the dog"
    assert "| 3 |" in (tmp_path / "lm" / "kneser_ney.md").read_text(encoding="utf8")
    assert 'count("at the dog") = 2' in result.output


def test_kneser_ney_command_rejects_stray_arguments(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("a b\n", encoding="utf8")
    result = CliRunner().invoke(app, ["kneser-ney", "--train", str(train), "--orders", "2", "x"])
    assert result.exit_code == 1 and "unexpected arguments ['x']" in result.output


@pytest.mark.slow
@pytest.mark.skipif(not PTB.is_dir(), reason="no local Penn Treebank")
def test_kn5_on_penn_treebank_matches_srilm():
    # SRILM interpolated modified KN 5-gram, no cutoffs: 141.2 on PTB test (Mikolov et al. 2011).
    train = list(read_sentences(PTB / "ptb.train.txt"))
    model = KneserNeyLM(train, Vocabulary.from_corpus(train), order=5)
    assert len(model.vocab) == 10_000
    result = model.evaluate(read_sentences(PTB / "ptb.test.txt"))
    assert result["n_tokens"] == PTB_TOKEN_COUNTS["test"]
    assert result["perplexity"] == pytest.approx(141.2, abs=0.3)
