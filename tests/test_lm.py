"""The LSTM language model: TBPTT batching, tied weights, the component's probabilities
checked by hand, bounded windows, generation, training and atomic checkpoints."""
import math
import pickle
import subprocess
import sys

import pytest
import spacy
import torch
import torch.nn.functional as F
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_rnn.corpora.ptb import PTB_TOKEN_COUNTS, count_tokens, read_sentences, sentences_from_hf
from spacy_rnn.layers import get_torch_net
from spacy_rnn.lm.batching import batchify, bptt_chunks, n_chunks
from spacy_rnn.lm.trainer import LMTrainingSettings
from spacy_rnn.lm.training import atomic_save, train_language_model
from spacy_rnn.lm.vocab import EOS, UNK, Normalizer, Vocabulary
from spacy_rnn.models.language_model import LanguageModelNet, detach_state

from conftest import SHARED_CORPORA

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat ate the fish",
    "the dog ate N bones",
    "a bird sang on the roof",
]
TINY_LM = {
    "@architectures": "lstm.LanguageModel.v1",
    "embed_width": 16,
    "hidden_width": 16,
    "depth": 2,
    "embed_dropout": 0.0,
    "layer_dropout": 0.0,
    "output_dropout": 0.0,
    "window_size": 5,
    "batch_size": 2,
}


def make_lm_nlp(**model):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("lstm_lm", name="lm", config={"model": {**TINY_LM, **model}})
    return nlp


def lm_examples(nlp):
    sentencizer = nlp.get_pipe("sentencizer")
    return [Example(nlp.make_doc(text), sentencizer(nlp.make_doc(text))) for text in CORPUS]


@pytest.fixture(scope="module")
def lm_nlp():
    """A tiny LM overfitted on CORPUS (shared: do not modify it)."""
    torch.manual_seed(0)
    nlp = make_lm_nlp()
    examples = lm_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.01
    for _ in range(150):
        nlp.update(examples, sgd=optimizer)
    return nlp


def by_hand_log_probs(net, ids):
    """log p(ids[i] | ids[:i]) for i >= 1, one token at a time with the state carried."""
    net.eval()
    state, out = None, []
    with torch.no_grad():
        for current, following in zip(ids, ids[1:]):
            logits, state = net(torch.tensor([[current]]), state)
            out.append(float(F.log_softmax(logits[0, -1], dim=-1)[following]))
    return out


# --- truncated BPTT batching -------------------------------------------------------------


def test_batchify_cuts_the_stream_into_contiguous_rows():
    rows = batchify(torch.arange(23), 4)
    assert rows.tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14], [15, 16, 17, 18, 19]]


@pytest.mark.parametrize("length,bptt", [(20, 3), (21, 5), (10, 20), (35, 7)])
def test_bptt_chunks_predict_every_position_exactly_once(length, bptt):
    rows = batchify(torch.arange(length * 2), 2)
    targets, inputs = [], []
    for x, y in bptt_chunks(rows, bptt):
        assert x.shape == y.shape and x.shape[1] <= bptt
        assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y, x + 1)  # targets = inputs shifted by one
        inputs.append(x)
        targets.append(y)
    assert torch.equal(torch.cat(targets, dim=1), rows[:, 1:])  # nothing lost, nothing repeated
    assert torch.equal(torch.cat(inputs, dim=1), rows[:, :-1])
    assert len(targets) == n_chunks(rows, bptt)


def test_the_state_carried_between_chunks_is_detached():
    torch.manual_seed(0)
    net = LanguageModelNet(n_words=10, embed_width=4, hidden_width=4, depth=1)
    _, state = net(torch.tensor([[1, 2, 3]]))
    assert state[0].grad_fn is not None
    carried = detach_state(state)
    assert all(s.grad_fn is None and not s.requires_grad for s in carried)
    assert all(torch.equal(a, b) for a, b in zip(carried, state))
    # The second chunk's gradients are those of a fresh graph started from the carried values.
    logits, _ = net(torch.tensor([[4, 5]]), carried)
    logits.sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    fresh = tuple(s.clone() for s in carried)
    net(torch.tensor([[4, 5]]), fresh)[0].sum().backward()
    assert all(torch.equal(a, p.grad) for a, p in zip(grads, net.parameters()))


# --- the torch module --------------------------------------------------------------------


def test_tied_weights_share_storage():
    net = LanguageModelNet(n_words=50, embed_width=8, hidden_width=8, depth=2, tied=True)
    assert net.decoder.weight is net.embed.weight
    assert net.decoder.weight.data_ptr() == net.embed.weight.data_ptr()
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in set(net.parameters()))
    untied = LanguageModelNet(n_words=50, embed_width=8, hidden_width=8, depth=2, tied=False)
    assert untied.decoder.weight.data_ptr() != untied.embed.weight.data_ptr()
    with pytest.raises(ValueError, match="embed_width == hidden_width"):
        LanguageModelNet(n_words=50, embed_width=8, hidden_width=6, depth=1, tied=True)


def test_tied_weights_stay_tied_after_loading(lm_nlp, tmp_path):
    lm_nlp.to_disk(tmp_path / "nlp")
    net = get_torch_net(spacy.load(tmp_path / "nlp").get_pipe("lm").model)
    assert net.decoder.weight.data_ptr() == net.embed.weight.data_ptr()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_every_cell_gives_logits_over_the_vocabulary(cell):
    net = LanguageModelNet(n_words=30, embed_width=8, hidden_width=8, depth=2, cell=cell)
    logits, state = net(torch.tensor([[1, 2, 3], [4, 5, 6]]))
    assert logits.shape == (2, 3, 30)
    logits, _ = net(torch.tensor([[7], [8]]), state)
    assert logits.shape == (2, 1, 30)


# --- vocabulary and normalisation --------------------------------------------------------


def test_normalizer_lowercases_maps_numbers_and_keeps_special_tokens():
    normalize = Normalizer()
    assert [normalize(w) for w in ["Morning", "1,250.5", "-3", "N", UNK, EOS, "1990s"]] == [
        "morning", "N", "N", "N", UNK, EOS, "1990s"
    ]
    assert Normalizer(lowercase=False, number_token="")("Morning 42".split()[1]) == "42"


def test_vocabulary_puts_eos_and_unk_first_and_ranks_by_frequency():
    vocab = Vocabulary.from_corpus([["b", "a", "b"], ["c", "a", "b", UNK]], max_size=4)
    assert vocab.words == [EOS, UNK, "b", "a"]
    assert vocab.encode([["b", "c"], ["a"]]) == [2, vocab.unk_id, vocab.eos_id, 3, vocab.eos_id]


def test_doc_stream_follows_the_training_conventions(lm_nlp):
    lm = lm_nlp.get_pipe("lm")
    doc = lm_nlp("The CAT sat, on 42 mats.  The dog!")
    ids, positions = lm.doc_stream(doc)
    words = [lm.lm_vocab.words[i] for i in ids]
    # <eos> context first; "," "." "!" are skipped; one <eos> per sentence; unknown -> <unk>
    assert words == [EOS, "the", "cat", "sat", "on", "N", UNK, EOS, "the", "dog", EOS]
    assert [doc[i].text if i >= 0 else EOS for i in positions] == ["The", "CAT", "sat", "on", "42", "mats", EOS, "The", "dog", EOS]


# --- the component: probabilities checked by hand ----------------------------------------


def test_perplexity_equals_exp_of_the_mean_nll_computed_by_hand(lm_nlp):
    lm = lm_nlp.get_pipe("lm")
    doc = lm_nlp("The cat sat on the log. A dog ate the fish")
    ids, positions = lm.doc_stream(doc)
    log_probs = by_hand_log_probs(lm.net, ids)
    assert doc._.lm_n_tokens == len(ids) - 1 == 13  # 11 words + 2 <eos>
    assert doc._.log_prob == pytest.approx(sum(log_probs), rel=1e-5)
    assert doc._.perplexity == pytest.approx(math.exp(-sum(log_probs) / len(log_probs)), rel=1e-5)
    surprisals = [t._.surprisal for t in doc]
    expected = [-lp / math.log(2) for lp, i in zip(log_probs, positions) if i >= 0]
    assert [s for s in surprisals if s is not None] == pytest.approx(expected, rel=1e-5)


def test_windows_carry_the_state_so_results_do_not_depend_on_window_size(lm_nlp):
    """window_size 5 reads a 40-token doc in 8 windows: same numbers as one token at a time."""
    lm = lm_nlp.get_pipe("lm")
    doc = lm_nlp.make_doc(" ".join(CORPUS * 2))
    lm(doc)
    ids, _ = lm.doc_stream(doc)
    assert len(ids) > 8 * lm.model.attrs["settings"]["window_size"]
    assert doc._.log_prob == pytest.approx(sum(by_hand_log_probs(lm.net, ids)), rel=1e-5)


def test_batched_predictions_equal_one_doc_at_a_time(lm_nlp):
    lm = lm_nlp.get_pipe("lm")
    docs = [lm_nlp.make_doc(text) for text in ["a cat", " ".join(CORPUS), "the dog sat", ""]]
    batched = lm.predict(docs)
    for doc, (log_probs, positions) in zip(docs, batched):
        alone, alone_positions = lm.predict([doc])[0]
        assert positions == alone_positions
        torch.testing.assert_close(torch.from_numpy(log_probs), torch.from_numpy(alone), rtol=1e-5, atol=1e-6)


def test_next_words_are_the_most_probable_continuations(lm_nlp):
    lm = lm_nlp.get_pipe("lm")
    prefix = lm_nlp("the cat sat on the")
    ranked = lm.next_words(prefix, k=3)
    ids, _ = lm.doc_stream(prefix, end_with_eos=False)
    with torch.no_grad():
        logits, _ = lm.net(torch.tensor([ids]))
    probs = F.softmax(logits[0, -1], dim=-1)
    probs[[0, 1]] = 0  # <eos> and <unk> are left out by default
    top = probs.topk(3)
    assert [w for w, _ in ranked] == [lm.lm_vocab.words[i] for i in top.indices]
    assert [p for _, p in ranked] == pytest.approx(top.values.tolist(), rel=1e-5)
    assert ranked[0][0] in ("mat", "log", "roof")
    everything = lm.next_words(prefix, k=len(lm.lm_vocab), include_special=True)
    assert sum(p for _, p in everything) == pytest.approx(1.0, abs=1e-5)


def test_generation_is_seeded_and_respects_top_k(lm_nlp):
    lm = lm_nlp.get_pipe("lm")
    prompt = lm_nlp("the dog")
    assert lm.generate(prompt, n_words=8, seed=3) == lm.generate(prompt, n_words=8, seed=3)
    greedy = lm.generate(prompt, n_words=4, top_k=1, stop_at_eos=False)
    assert greedy[0] == lm.next_words(prompt, k=1)[0][0]
    words = lm.generate(prompt, n_words=30, temperature=2.0, seed=1, stop_at_eos=False)
    assert len(words) == 30 and UNK not in words and EOS not in words
    with pytest.raises(ValueError, match="temperature"):
        lm.generate(prompt, temperature=0)


def test_empty_whitespace_and_emoji_texts(lm_nlp):
    for text in ["", "   \n ", ". , !"]:
        doc = lm_nlp(text)
        assert doc._.perplexity is None and doc._.lm_n_tokens == 0 and doc._.log_prob == 0.0
    doc = lm_nlp("the 🐈 sat 👍🏽")
    assert doc._.lm_n_tokens == len(doc) + 1 and math.isfinite(doc._.perplexity)  # emoji are <unk> words
    assert doc[1]._.surprisal is not None  # an unknown word: <unk>


def test_a_very_long_text_is_read_in_bounded_windows(lm_nlp):
    lm = lm_nlp.get_pipe("lm")
    text = " ".join(CORPUS) + " "
    doc = lm_nlp.make_doc(text * 2000)  # 50,000 tokens, no sentence boundaries
    longest = []
    hook = lm.net.rnn.register_forward_hook(lambda module, args, out: longest.append(args[0].shape[1]))
    try:
        lm(doc)
    finally:
        hook.remove()
    assert doc._.lm_n_tokens == len(doc) + 1
    assert max(longest) <= lm.model.attrs["settings"]["window_size"]
    assert math.isfinite(doc._.perplexity)


def test_perplexity_flows_through_spacys_scorer(lm_nlp):
    examples = lm_examples(lm_nlp)
    scores = lm_nlp.evaluate(examples)
    docs = [lm_nlp(eg.reference.text) for eg in examples]
    by_hand = math.exp(-sum(d._.log_prob for d in docs) / sum(d._.lm_n_tokens for d in docs))
    assert scores["lm_perplexity"] == pytest.approx(by_hand, rel=1e-6)
    assert scores["lm_perplexity"] < 3.0  # overfitted


def test_round_trips_give_identical_numbers(lm_nlp, tmp_path):
    text = "The cat sat on the mat. A bird sang"
    expected = [t._.surprisal for t in lm_nlp(text)]
    lm_nlp.to_disk(tmp_path / "nlp")
    assert [t._.surprisal for t in spacy.load(tmp_path / "nlp")(text)] == expected
    fresh = make_lm_nlp()
    fresh.from_bytes(lm_nlp.to_bytes())
    assert [t._.surprisal for t in fresh(text)] == expected
    assert [t._.surprisal for t in pickle.loads(pickle.dumps(lm_nlp))(text)] == expected


def test_a_fresh_process_loads_the_model_through_entry_points(lm_nlp, tmp_path):
    """No import of spacy_rnn and no --code; loading runs no pickled code (weights_only)."""
    lm_nlp.to_disk(tmp_path / "nlp")
    script = "import spacy, sys; doc = spacy.load(sys.argv[1])(sys.argv[2]); print(repr(doc._.log_prob))"
    text = "The cat sat on the mat. A bird sang"
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "nlp"), text], capture_output=True, text=True, check=True)
    assert float(out.stdout) == lm_nlp(text)._.log_prob


def test_update_clips_gradients_to_the_configured_norm():
    nlp = make_lm_nlp()
    optimizer = nlp.initialize(lambda: lm_examples(nlp))
    lm = nlp.get_pipe("lm")
    lm.cfg["max_grad_norm"] = 1e-3
    nlp.update(lm_examples(nlp), sgd=optimizer)
    (norm_before_clipping,) = lm.drain_grad_norms()
    assert norm_before_clipping > 1e-3


def test_seeded_updates_are_reproducible():
    states = []
    for _ in range(2):
        fix_random_seed(7)
        nlp = make_lm_nlp(embed_dropout=0.3)
        optimizer = nlp.initialize(lambda: lm_examples(nlp))
        for _ in range(3):
            nlp.update(lm_examples(nlp), sgd=optimizer)
        states.append(get_torch_net(nlp.get_pipe("lm").model).state_dict())
    for name, tensor in states[0].items():
        assert torch.equal(tensor, states[1][name]), name


def test_an_uninitialized_model_says_so():
    with pytest.raises(ValueError, match="not initialized"):
        make_lm_nlp()("the cat")


def test_update_reads_long_docs_in_windows_and_ignores_empty_ones():
    nlp = make_lm_nlp()
    optimizer = nlp.initialize(lambda: lm_examples(nlp))
    empty = Example(nlp.make_doc(""), nlp.make_doc(""))
    assert nlp.update([empty], sgd=optimizer)["lm"] == 0.0
    long_doc = nlp.make_doc(" ".join(CORPUS * 20))
    losses = nlp.update([Example(long_doc, long_doc)], sgd=optimizer)
    assert math.isfinite(losses["lm"]) and losses["lm"] > 0


# --- training ----------------------------------------------------------------------------


def training_settings(**overrides):
    return LMTrainingSettings(**{"batch_size": 2, "bptt": 5, "learning_rate": 5.0, "max_epochs": 30, "log_every": 5, **overrides})


def test_training_lowers_dev_perplexity_and_keeps_the_best_pipeline(tmp_path):
    nlp = make_lm_nlp()
    sentences = [text.split() for text in CORPUS] * 4
    record = train_language_model(nlp, sentences, sentences[:5], training_settings(), tmp_path)
    perplexities = [e["dev_perplexity"] for e in record["evaluations"]]
    assert perplexities[0] > 2 * min(perplexities)
    assert record["best_dev_perplexity"] == min(perplexities)
    assert (tmp_path / "training_log.jsonl").read_text().count('"type": "eval"') == len(perplexities)
    best = spacy.load(tmp_path / "model-best")
    assert best.pipe_names == ["sentencizer", "lm"]
    doc = best(" ".join(CORPUS[:5]).replace(" the", ". The"))
    assert math.isfinite(doc._.perplexity)


def test_training_is_reproducible_with_a_seed(tmp_path):
    sentences = [text.split() for text in CORPUS] * 2
    records = [
        train_language_model(make_lm_nlp(), sentences, sentences, training_settings(max_epochs=3), tmp_path / str(i))
        for i in range(2)
    ]
    assert [e["dev_perplexity"] for e in records[0]["evaluations"]] == [e["dev_perplexity"] for e in records[1]["evaluations"]]


def test_a_hugging_face_dataset_with_a_text_column_is_a_training_corpus(tmp_path):
    datasets = pytest.importorskip("datasets")
    dataset = datasets.Dataset.from_dict({"text": ["The cat sat.\nThe dog ran.", "A bird sang", ""]})
    sentences = list(sentences_from_hf(dataset))
    assert sentences == [["The", "cat", "sat."], ["The", "dog", "ran."], ["A", "bird", "sang"], []]
    record = train_language_model(make_lm_nlp(), sentences * 3, sentences, training_settings(max_epochs=2), tmp_path)
    assert record["vocabulary_size"] == 2 + len({"the", "cat", "sat.", "dog", "ran.", "a", "bird", "sang"})
    with pytest.raises(ValueError, match="Row 0: no column 'sentence'"):
        list(sentences_from_hf(dataset, column="sentence"))


def test_a_crash_while_saving_leaves_the_previous_checkpoint_intact(lm_nlp, tmp_path, monkeypatch):
    atomic_save(lm_nlp, tmp_path / "model-best")
    before = sorted(p.name for p in (tmp_path / "model-best").rglob("*"))

    def crash(path, *args, **kwargs):
        (path / "half-written").parent.mkdir(parents=True, exist_ok=True)
        (path / "half-written").write_text("")
        raise OSError("disk full")

    monkeypatch.setattr(lm_nlp, "to_disk", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_save(lm_nlp, tmp_path / "model-best")
    assert sorted(p.name for p in (tmp_path / "model-best").rglob("*")) == before
    assert spacy.load(tmp_path / "model-best")("the cat")._.perplexity is not None


def test_settings_reject_unknown_choices():
    with pytest.raises(ValueError, match="optimizer"):
        LMTrainingSettings(optimizer="rmsprop")
    with pytest.raises(ValueError, match="mixed_precision"):
        LMTrainingSettings(mixed_precision="fp8")


# --- the corpus --------------------------------------------------------------------------


def test_corpus_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"the cat\nsat \xff on\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: not UTF-8"):
        list(read_sentences(path))


@pytest.mark.skipif(not (SHARED_CORPORA / "ptb").is_dir(), reason="needs ../shared/corpora/ptb")
def test_ptb_token_counts_match_mikolov():
    for split, expected in PTB_TOKEN_COUNTS.items():
        assert count_tokens(read_sentences(SHARED_CORPORA / "ptb" / f"ptb.{split}.txt")) == expected
