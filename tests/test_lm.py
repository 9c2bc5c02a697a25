"""The LSTM language model: tied weights, the component's probabilities checked by hand,
bounded chunks, generation, the factory's defaults and architectures, the contract every
component keeps (parametrised over how the pipeline was obtained), lazy and eager values
(serialization, copies, two pipelines, changed weights), and its updates."""
import math
import pickle
import subprocess
import sys
from contextlib import contextmanager

import pytest
import spacy
import torch
import torch.nn.functional as F
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_rnn.layers import get_torch_net
from spacy_rnn.lm.step import train_step
from spacy_rnn.lm.vocab import EOS, UNK, Normalizer, Vocabulary
from spacy_rnn.models.language_model import LanguageModelSettings
from spacy_rnn.pipes.lm_values import LM_VALUES, LMValues, PendingLMValues

from lm_helpers import CORPUS, by_hand_log_probs, lm_examples, make_lm_nlp, make_net


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


# --- the torch module --------------------------------------------------------------------


def test_tied_weights_share_storage():
    net = make_net(50, 8, 2, tied=True)
    assert net.decoder.weight is net.embed.weight
    assert net.decoder.weight.data_ptr() == net.embed.weight.data_ptr()
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in set(net.parameters()))
    untied = make_net(50, 8, 2, tied=False)
    assert untied.decoder.weight.data_ptr() != untied.embed.weight.data_ptr()
    with pytest.raises(ValueError, match="embed_width == hidden_width"):
        LanguageModelSettings(embed_width=8, hidden_width=6, depth=1, tied=True)


def test_tied_weights_stay_tied_after_loading(lm_nlp, tmp_path):
    lm_nlp.to_disk(tmp_path / "nlp")
    net = get_torch_net(spacy.load(tmp_path / "nlp").get_pipe("lm").model)
    assert net.decoder.weight.data_ptr() == net.embed.weight.data_ptr()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_every_cell_gives_logits_over_the_vocabulary(cell):
    net = make_net(30, 8, 2, cell=cell)
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


def test_chunks_carry_the_state_so_results_do_not_depend_on_chunk_size(lm_nlp):
    """chunk_size 5 reads a 40-token doc in 8 chunks: same numbers as one token at a time."""
    lm = lm_nlp.get_pipe("lm")
    doc = lm_nlp.make_doc(" ".join(CORPUS * 2))
    lm(doc)
    ids, _ = lm.doc_stream(doc)
    assert len(ids) > 8 * lm.model.attrs["chunk_size"]
    assert doc._.log_prob == pytest.approx(sum(by_hand_log_probs(lm.net, ids)), rel=1e-5)


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


def test_perplexity_flows_through_spacys_scorer(lm_nlp):
    examples = lm_examples(lm_nlp)
    scores = lm_nlp.evaluate(examples)
    docs = [lm_nlp(eg.reference.text) for eg in examples]
    by_hand = math.exp(-sum(d._.log_prob for d in docs) / sum(d._.lm_n_tokens for d in docs))
    assert scores["lm_perplexity"] == pytest.approx(by_hand, rel=1e-6)
    assert scores["lm_perplexity"] < 3.0  # overfitted
    with eager(lm_nlp):
        eager_scores = lm_nlp.evaluate(examples)
    keys = ("lm_perplexity", "lm_log_prob", "lm_n_tokens")
    assert [scores[key] for key in keys] == [eager_scores[key] for key in keys]  # bit for bit


# --- the factory and its architectures --------------------------------------------------


def test_add_pipe_with_the_default_config():
    """The default model is a config block (it was a string: ConfigValidationError)."""
    nlp = spacy.blank("en")
    lm = nlp.add_pipe("torch_lm")
    model_config = nlp.config["components"]["torch_lm"]["model"]
    assert model_config["@architectures"] == "spacy_rnn.LanguageModel.v1"
    assert (model_config["chunk_size"], model_config["max_batch_docs"]) == (256, 16)
    lm.initialize(lambda: [], nlp=nlp, words=["the", "cat"])
    assert lm.net.settings == LanguageModelSettings()  # 2 x 400 tied LSTM, dropout 0.4
    assert math.isfinite(nlp("the cat")._.perplexity)


@pytest.mark.parametrize("setting", ["chunk_size", "max_batch_docs"])
def test_reading_settings_must_be_positive(setting):
    with pytest.raises(ValueError, match=setting):
        make_lm_nlp(**{setting: 0})


# --- the contract every component keeps, for the trained pipeline and its copies ---------

TEXTS = ["The cat sat on the mat. A bird sang", "a dog", "Zyx qwv 42 !", "the fish ate the cat. The end"]


def annotations(doc):
    return [t._.surprisal for t in doc], doc._.log_prob, doc._.lm_n_tokens, doc._.perplexity


@pytest.fixture(params=["trained", "from_disk", "from_bytes", "unpickled"], scope="module")
def pipeline(request, lm_nlp, tmp_path_factory):
    """The overfitted pipeline, or a copy of it loaded back (shared: do not modify it)."""
    if request.param == "from_disk":
        path = tmp_path_factory.mktemp("lm") / "nlp"
        lm_nlp.to_disk(path)
        return spacy.load(path)
    if request.param == "from_bytes":
        return make_lm_nlp().from_bytes(lm_nlp.to_bytes())
    if request.param == "unpickled":
        return pickle.loads(pickle.dumps(lm_nlp))
    return lm_nlp


def test_copies_give_identical_numbers(pipeline, lm_nlp):
    assert [annotations(pipeline(text)) for text in TEXTS] == [annotations(lm_nlp(text)) for text in TEXTS]
    doc = lm_nlp("the cat sat on the")
    assert pipeline.get_pipe("lm").next_words(doc) == lm_nlp.get_pipe("lm").next_words(doc)
    assert pipeline.get_pipe("lm").model.attrs["chunk_size"] == 5


def assert_close(values, expected, rel=1e-5):
    """The same None positions, the floats equal up to `rel` (pytest.approx of a list holding
    None raises TypeError)."""
    assert [v is None for v in values] == [v is None for v in expected]
    assert [v for v in values if v is not None] == pytest.approx([v for v in expected if v is not None], rel=rel)


def test_pipe_equals_call_doc_by_doc(pipeline):
    """Up to float rounding: docs read together are padded to the longest (see the next test)."""
    texts = ["The dog sat .", "", "a bird sang on the roof of the old red house", "Is this Paris ?"]
    for piped, text in zip(pipeline.pipe(texts, batch_size=3), texts):
        surprisals, *totals = annotations(piped)
        alone_surprisals, *alone_totals = annotations(pipeline(text))
        assert_close(surprisals, alone_surprisals)
        assert_close(totals, alone_totals)


def test_batched_predictions_equal_one_doc_at_a_time(pipeline):
    lm = pipeline.get_pipe("lm")
    docs = [pipeline.make_doc(text) for text in ["a cat", " ".join(CORPUS), "the dog sat", ""]]
    batched = lm.predict(docs)
    for doc, (log_probs, positions) in zip(docs, batched):
        alone, alone_positions = lm.predict([doc])[0]
        assert positions == alone_positions
        torch.testing.assert_close(torch.from_numpy(log_probs), torch.from_numpy(alone), rtol=1e-5, atol=1e-6)


def test_empty_whitespace_and_emoji_texts(pipeline):
    for text in ["", "   \n ", ". , !"]:
        doc = pipeline(text)
        assert doc._.perplexity is None and doc._.lm_n_tokens == 0 and doc._.log_prob == 0.0
    assert list(pipeline.pipe([])) == []
    doc = pipeline("the 🐈 sat 👍🏽")
    assert doc._.lm_n_tokens == len(doc) + 1 and math.isfinite(doc._.perplexity)  # emoji are <unk> words
    assert doc[1]._.surprisal is not None  # an unknown word: <unk>


def test_a_long_text_is_read_in_bounded_chunks(pipeline):
    lm = pipeline.get_pipe("lm")
    doc = pipeline.make_doc((" ".join(CORPUS) + " ") * 400)  # 10,000 tokens, no sentence boundaries
    longest = []
    hook = lm.net.rnn.register_forward_hook(lambda module, args, out: longest.append(args[0].shape[1]))
    try:
        lm(doc)
        assert doc._.lm_n_tokens == len(doc) + 1  # computed here, on the first read
    finally:
        hook.remove()
    assert max(longest) <= lm.model.attrs["chunk_size"] == 5
    assert math.isfinite(doc._.perplexity)


def test_a_fresh_process_loads_the_model_through_entry_points(lm_nlp, tmp_path):
    """No import of spacy_rnn and no --code; loading runs no pickled code (weights_only)."""
    lm_nlp.to_disk(tmp_path / "nlp")
    script = "import spacy, sys; doc = spacy.load(sys.argv[1])(sys.argv[2]); print(repr(doc._.log_prob))"
    text = "The cat sat on the mat. A bird sang"
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "nlp"), text], capture_output=True, text=True, check=True)
    assert float(out.stdout) == lm_nlp(text)._.log_prob


# --- lazy (the default) and eager values ------------------------------------------------

# Empty, whitespace-only, multi-sentence, unknown words, emoji, a long doc: with batch_size 3 and
# max_batch_docs 2, the eager path reads them in groups that mix lengths.
LAZY_TEXTS = [
    "",
    "The cat sat on the mat. A bird sang. The dog ate the fish",
    "   \n ",
    "a dog",
    "Zyx qwv 42 !",
    "the 🐈 sat 👍🏽",
    " ".join(CORPUS),
    ". , !",
    "the fish ate the cat. The end",
]


@contextmanager
def eager(nlp, value=True):
    lm = nlp.get_pipe("lm")
    before, lm.cfg["eager"] = lm.cfg["eager"], value
    try:
        yield nlp
    finally:
        lm.cfg["eager"] = before


def test_lazy_values_are_the_eager_values_bit_for_bit(pipeline):
    """Read in any order, one doc or one token first: the numbers of the eager path, exactly."""
    with eager(pipeline):
        eager_piped = [annotations(doc) for doc in pipeline.pipe(LAZY_TEXTS, batch_size=3)]
        eager_alone = [annotations(pipeline(text)) for text in LAZY_TEXTS]
    lazy = list(pipeline.pipe(LAZY_TEXTS, batch_size=3))
    assert all(isinstance(doc.user_data[LM_VALUES], PendingLMValues) for doc in lazy)
    assert [annotations(doc) for doc in reversed(lazy)] == eager_piped[::-1]
    assert all(type(doc.user_data[LM_VALUES]) is LMValues for doc in lazy)
    assert [annotations(doc) for doc in lazy] == eager_piped  # a second read: the stored values
    singles = [pipeline(text) for text in LAZY_TEXTS]
    assert [[t._.surprisal for t in doc] for doc in singles] == [values[0] for values in eager_alone]  # tokens first
    assert [annotations(doc) for doc in singles] == eager_alone
    empty = eager_alone[0]
    assert empty == ([], 0.0, 0, None)
    assert eager_alone[2][1:] == (0.0, 0, None) and set(eager_alone[2][0]) == {None}  # whitespace only
    lm = pipeline.get_pipe("lm")
    with eager(pipeline):
        eager_next, eager_generated = lm.next_words(pipeline("the cat sat on the")), lm.generate(pipeline("the dog"), seed=2)
    assert (lm.next_words(pipeline("the cat sat on the")), lm.generate(pipeline("the dog"), seed=2)) == (eager_next, eager_generated)


def test_the_first_read_computes_the_docs_group_once(lm_nlp):
    lm = lm_nlp.get_pipe("lm")
    batches = []
    hook = lm.net.register_forward_hook(lambda module, args, out: batches.append(args[0].shape[0]))
    try:
        docs = list(lm_nlp.pipe(["the cat sat", "a dog", "the dog ate the fish", "a bird sang on the roof"], batch_size=4))
        assert batches == []  # nothing read: the model did not run
        assert docs[1][0]._.surprisal is not None
        assert batches and set(batches) == {2}  # "a dog" with "the cat sat": max_batch_docs = 2 docs of similar length
        n_calls = len(batches)
        annotations(docs[1]), annotations(docs[0])
        assert len(batches) == n_calls  # the rest of the doc and of its group cost nothing
        annotations(docs[3])
        assert len(batches) > n_calls
    finally:
        hook.remove()


def test_eager_is_a_config_setting_that_a_saved_pipeline_takes(lm_nlp, tmp_path):
    lm_nlp.to_disk(tmp_path / "nlp")
    lazy = spacy.load(tmp_path / "nlp")
    assert lazy.config["components"]["lm"]["eager"] is False and lazy.get_pipe("lm").cfg["eager"] is False
    eager_nlp = spacy.load(tmp_path / "nlp", config={"components": {"lm": {"eager": True}}})
    assert eager_nlp.get_pipe("lm").cfg["eager"] is True
    text = "The cat sat on the mat. A bird sang"
    eager_doc, lazy_doc = eager_nlp(text), lazy(text)
    assert type(eager_doc.user_data[LM_VALUES]) is LMValues  # computed in nlp(text)
    assert isinstance(lazy_doc.user_data[LM_VALUES], PendingLMValues)
    assert annotations(lazy_doc) == annotations(eager_doc)
    assert all(type(doc.user_data[LM_VALUES]) is LMValues for doc in eager_nlp.pipe(LAZY_TEXTS))
    eager_nlp.to_disk(tmp_path / "eager")
    assert spacy.load(tmp_path / "eager").get_pipe("lm").cfg["eager"] is True  # saved in its config
    override = spacy.load(tmp_path / "eager", config={"components": {"lm": {"eager": False}}})
    assert override.get_pipe("lm").cfg["eager"] is False  # the config wins over the saved cfg
    assert spacy.blank("en").add_pipe("torch_lm", config={"eager": True}).cfg["eager"] is True


def test_serialized_docs_carry_their_values(lm_nlp, tmp_path):
    """Doc.to_bytes, a DocBin with user data and pickling compute unread values first: they travel
    with the doc and are read without the pipeline, in this process or another."""
    with eager(lm_nlp):
        expected = [annotations(doc) for doc in lm_nlp.pipe(LAZY_TEXTS, batch_size=3)]
    docs = list(lm_nlp.pipe(LAZY_TEXTS, batch_size=3))
    restored = [Doc(lm_nlp.vocab).from_bytes(doc.to_bytes()) for doc in docs]
    assert all(isinstance(doc.user_data[LM_VALUES], dict) for doc in restored)  # plain data
    assert [annotations(doc) for doc in restored] == expected
    assert [annotations(doc) for doc in docs] == expected  # computed once, for the originals too
    docs = list(lm_nlp.pipe(LAZY_TEXTS, batch_size=3))
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "docs.spacy")
    assert [annotations(doc) for doc in DocBin().from_disk(tmp_path / "docs.spacy").get_docs(lm_nlp.vocab)] == expected
    assert [annotations(doc) for doc in pickle.loads(pickle.dumps(list(lm_nlp.pipe(LAZY_TEXTS, batch_size=3))))] == expected
    without_user_data = DocBin(docs=list(lm_nlp.pipe(LAZY_TEXTS))).to_bytes()  # the DocBin default: no user data
    for doc in DocBin().from_bytes(without_user_data).get_docs(lm_nlp.vocab):
        assert annotations(doc) == ([None] * len(doc), None, None, None)
    script = (
        "import sys, spacy, spacy_rnn; from spacy.tokens import DocBin; "
        "docs = DocBin().from_disk(sys.argv[1]).get_docs(spacy.blank('en').vocab); "
        "print(repr([([t._.surprisal for t in d], d._.log_prob, d._.lm_n_tokens, d._.perplexity) for d in docs]))"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "docs.spacy")], capture_output=True, text=True, check=True)
    assert eval(out.stdout) == expected


def test_copies_share_the_values_and_parts_do_not_take_them(lm_nlp):
    text = "The cat sat on the mat. A bird sang"
    with eager(lm_nlp):
        expected = annotations(lm_nlp(text))
    doc = lm_nlp(text)
    copy = doc.copy()
    assert annotations(copy) == expected == annotations(doc)
    doc = lm_nlp(text)
    sentence = list(doc.sents)[1]
    for part in (sentence.as_doc(), sentence.as_doc(copy_user_data=True)):
        assert annotations(part) == ([None] * len(part), None, None, None)  # not the whole doc's
    with pytest.warns(UserWarning, match="lm_values"):
        merged = Doc.from_docs([doc, lm_nlp("a dog")])
    assert annotations(merged) == ([None] * len(merged), None, None, None)
    part = lm_nlp.get_pipe("lm")(sentence.as_doc(copy_user_data=True))  # its own values: run the lm on it
    assert part._.lm_n_tokens == 4 and part._.log_prob != doc._.log_prob  # "a bird sang" + <eos>


def test_two_pipelines_in_one_process_each_read_with_their_own_model(lm_nlp):
    torch.manual_seed(1)
    other = make_lm_nlp()
    other.initialize(lambda: lm_examples(other))
    pairs = [(lm_nlp(text), other(text)) for text in LAZY_TEXTS]  # interleaved, unread
    with eager(lm_nlp), eager(other):
        expected = [(annotations(lm_nlp(text)), annotations(other(text))) for text in LAZY_TEXTS]
    assert [(annotations(a), annotations(b)) for a, b in pairs] == expected
    assert expected[1][0] != expected[1][1]


def test_values_read_after_the_weights_changed_raise_and_serializing_does_not():
    nlp = make_lm_nlp()
    optimizer = nlp.initialize(lambda: lm_examples(nlp))
    read, unread = nlp("the cat sat"), nlp("the cat sat")
    expected = annotations(read)
    nlp.update(lm_examples(nlp), sgd=optimizer)
    assert annotations(read) == expected  # read before the update: kept
    for doc in (unread, Doc(nlp.vocab).from_bytes(unread.to_bytes())):
        with pytest.raises(ValueError, match="weights changed"):
            doc._.perplexity
        with pytest.raises(ValueError, match="weights changed"):
            doc[0]._.surprisal
    fresh = nlp("the cat sat")
    nlp.from_bytes(nlp.to_bytes())  # loading counts as a change too
    with pytest.raises(ValueError, match="weights changed"):
        fresh._.log_prob
    assert nlp("the cat sat")._.log_prob != expected[1]  # new docs read with the new weights
    with eager(nlp):
        assert nlp("a dog")._.perplexity is not None


# --- updates (the `spacy train` path) ----------------------------------------------------


def test_update_clips_gradients_to_the_configured_norm(monkeypatch):
    nlp = make_lm_nlp()
    optimizer = nlp.initialize(lambda: lm_examples(nlp))
    lm = nlp.get_pipe("lm")
    lm.cfg["max_grad_norm"] = 1e-3
    seen = []
    original = lm.model.shims[0].finish_update

    def record(sgd):
        seen.append(torch.norm(torch.stack([p.grad.norm() for p in lm.net.parameters() if p.grad is not None])))
        original(sgd)

    monkeypatch.setattr(lm.model.shims[0], "finish_update", record)
    nlp.update(lm_examples(nlp), sgd=optimizer)
    (norm_before_clipping,) = lm.drain_grad_norms()
    assert norm_before_clipping > 1e-3
    assert float(seen[0]) == pytest.approx(1e-3, rel=1e-3)


def test_averaged_parameters_are_used_inside_use_params_and_restored_after():
    nlp = make_lm_nlp()
    optimizer = nlp.initialize(lambda: lm_examples(nlp))
    optimizer.averages = {}  # what `use_averages = true` sets up
    for _ in range(3):
        nlp.update(lm_examples(nlp), sgd=optimizer)
    lm = nlp.get_pipe("lm")
    shim_id = lm.model.shims[0].id
    trained = {name: param.detach().clone() for name, param in lm.net.named_parameters()}
    assert {(shim_id, name) for name in trained} <= set(optimizer.averages)
    with nlp.use_params(optimizer.averages):
        for name, param in lm.net.named_parameters():
            assert torch.allclose(param, torch.as_tensor(optimizer.averages[(shim_id, name)]).reshape(param.shape))
        assert not all(torch.equal(param, trained[name]) for name, param in lm.net.named_parameters())
    for name, param in lm.net.named_parameters():
        assert torch.equal(param, trained[name]), name


def test_the_update_and_train_lm_share_the_step():
    """On a doc read as one chunk, accumulate_gradients (`spacy train`) and train_step
    (`train-lm`) give the same loss and the same gradients, bit for bit."""
    nlp = make_lm_nlp(chunk_size=64)
    nlp.initialize(lambda: lm_examples(nlp))
    lm = nlp.get_pipe("lm")
    example = lm_examples(nlp)[0]
    update_loss = lm.accumulate_gradients([example])
    update_grads = [p.grad.clone() for p in lm.net.parameters()]
    ids = torch.tensor([lm.doc_stream(example.reference)[0]])
    optimizer = torch.optim.SGD(lm.net.parameters(), lr=0.0)
    step_loss, _, _ = train_step(lm.net, optimizer, ids[:, :-1], ids[:, 1:], None, max_grad_norm=math.inf)
    assert step_loss == update_loss
    assert all(torch.equal(a, p.grad) for a, p in zip(update_grads, lm.net.parameters()))


def test_the_update_loss_is_the_mean_cross_entropy_of_the_docs():
    """Read in chunks of 5 with the state carried: the loss is the mean NLL per predicted token."""
    nlp = make_lm_nlp()
    nlp.initialize(lambda: lm_examples(nlp))
    lm = nlp.get_pipe("lm")
    examples = lm_examples(nlp)
    streams = [lm.doc_stream(eg.reference)[0] for eg in examples]
    log_probs = [lp for ids in streams for lp in by_hand_log_probs(lm.net, ids)]
    assert lm.accumulate_gradients(examples) == pytest.approx(-sum(log_probs) / len(log_probs), rel=1e-5)


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


def test_update_reads_long_docs_in_chunks_and_ignores_empty_ones():
    nlp = make_lm_nlp()
    optimizer = nlp.initialize(lambda: lm_examples(nlp))
    empty = Example(nlp.make_doc(""), nlp.make_doc(""))
    assert nlp.update([empty], sgd=optimizer)["lm"] == 0.0
    long_doc = nlp.make_doc(" ".join(CORPUS * 20))
    losses = nlp.update([Example(long_doc, long_doc)], sgd=optimizer)
    assert math.isfinite(losses["lm"]) and losses["lm"] > 0
