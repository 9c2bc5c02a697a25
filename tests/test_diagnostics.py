"""The diagnostics: the gate-exposing LSTM equals nn.LSTM, the gradient-norm measurement equals a
hand-computed product of Jacobians, the non-finite guard stops a diverging run and leaves a
loadable checkpoint, and every diagnose-* command's --quick mode writes its JSON + PNG."""
import json

import numpy
import pytest
import torch
from helpers import make_textcat_nlp, textcat_examples
from lm_helpers import make_lm_nlp, lm_examples
from typer.testing import CliRunner

from spacy_rnn_lab.cli import app
from spacy_rnn_lab.diagnostics.exploding import scaled_rnn
from spacy_rnn_lab.diagnostics.surprisal import render_surprisal
from spacy_rnn_lab.diagnostics.tasks import TrainingSettings, adding_batch, adding_loss, train_sequence_model
from spacy_rnn_lab.diagnostics.vanishing import fit_decay, hidden_gradient_norms, module_step
from spacy_rnn_lab.diagnostics.gated_lstm import GatedLSTM
from spacy_rnn.errors import TrainingDiverged


@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (2, True)])
def test_gated_lstm_equals_nn_lstm(layers, bidirectional):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 7, layers, batch_first=True, bidirectional=bidirectional)
    gated = GatedLSTM.from_lstm(lstm)
    inputs = torch.randn(3, 6, 5, requires_grad=True)
    h0 = torch.randn(layers * (2 if bidirectional else 1), 3, 7)
    state = (h0, torch.randn_like(h0))
    expected, (h_n, c_n) = lstm(inputs, state)
    outputs, (gh_n, gc_n), traces = gated(inputs, state)
    for ours, theirs in ((outputs, expected), (gh_n, h_n), (gc_n, c_n)):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    # the traces are the real states: the last layer's hidden traces are the outputs
    last = f"l{layers - 1}"
    torch.testing.assert_close(traces[last]["hidden"], outputs[..., :7])
    assert set(traces[last]) == {"input", "forget", "candidate", "output", "cell", "hidden"}
    # gradients, with respect to the inputs and to every weight
    weights = torch.randn_like(expected)
    grads = torch.autograd.grad((expected * weights).sum(), [inputs, *lstm.parameters()])
    ours = torch.autograd.grad((outputs * weights).sum(), [inputs, *gated.parameters()])
    assert [name for name, _ in lstm.named_parameters()] == [name for name, _ in gated.named_parameters()]
    for mine, theirs in zip(ours, grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)


def test_gradient_norms_equal_product_of_jacobians():
    """h_t = W h_{t-1} + U x_t, J = v . h_3: dJ/dh_t = (W^T)^(3 - t) v."""
    torch.manual_seed(0)
    W, U, v = torch.randn(4, 4), torch.randn(4, 2), torch.randn(4)
    inputs = torch.randn(1, 3, 2)

    def step(x, h):
        h = h @ W.T + x @ U.T
        return h, h

    norms = hidden_gradient_norms(step, inputs, torch.zeros(1, 4), lambda h: h @ v)
    by_hand = [torch.linalg.matrix_power(W.T, 3 - t) @ v for t in (1, 2, 3)]
    numpy.testing.assert_allclose(norms, [float(g.norm()) for g in by_hand], rtol=1e-5)
    assert fit_decay([1.0, 2.0, 4.0, 8.0])["factor_per_step"] == pytest.approx(0.5)  # halves per step back


def test_module_step_unrolls_the_module():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(2, 3, batch_first=True)
    inputs = torch.randn(2, 5, 2)
    norms = hidden_gradient_norms(module_step(lstm), inputs, None, lambda h: h[0].sum(dim=-1))
    assert norms.shape == (5,) and norms[-1] == pytest.approx(3**0.5)


def test_guard_stops_a_diverging_run_and_keeps_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = scaled_rnn(3.0, 8)
    generator = torch.Generator().manual_seed(0)
    held_out = adding_batch(16, 20, torch.Generator().manual_seed(1))
    checkpoint = tmp_path / "last_good.pt"
    settings = TrainingSettings(steps=500, learning_rate=1.0, optimizer="sgd", clip=None, eval_every=1, checkpoint=checkpoint)
    curve = []
    with pytest.raises(TrainingDiverged, match=r"training diverged at update \d+: the (loss|gradient norm) is") as err:
        train_sequence_model(model, lambda: adding_batch(16, 20, generator), adding_loss,
                             lambda m: float(adding_loss(m, *held_out)), settings, curve=curve)
    assert str(checkpoint) in str(err.value) and curve
    reloaded = scaled_rnn(3.0, 8)
    reloaded.load_state_dict(torch.load(checkpoint, weights_only=True))
    assert all(bool(torch.isfinite(p).all()) for p in reloaded.parameters())
    with torch.no_grad():
        reloaded_mse = float(adding_loss(reloaded, *held_out))
    assert reloaded_mse == pytest.approx(min(p["score"] for p in curve))


@pytest.fixture(scope="module")
def tiny_lm_path(tmp_path_factory):
    nlp = make_lm_nlp()
    nlp.initialize(lambda: lm_examples(nlp))
    path = tmp_path_factory.mktemp("lm") / "model"
    nlp.to_disk(path)
    return path


DIAGNOSTICS = ["diagnose-vanishing", "diagnose-exploding", "diagnose-long-range", "diagnose-gates", "diagnose-context",
               "diagnose-bidirectional", "diagnose-surprisal"]


@pytest.mark.parametrize("command", DIAGNOSTICS)
def test_every_diagnostic_has_help_a_seed_and_a_quick_mode(command):
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "--seed" in result.output and "--quick" in result.output


def _run(args, tmp_path):
    result = CliRunner().invoke(app, [*args, "--quick", "--seed", "1", "--output-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("command,name", [("diagnose-vanishing", "vanishing"), ("diagnose-long-range", "long_range")])
def test_quick_synthetic_diagnostics(command, name, tmp_path):
    _run([command], tmp_path)
    assert json.loads((tmp_path / f"{name}.json").read_text())["claim"]
    assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_quick_exploding_diverges_without_clipping(tmp_path):
    result = _run(["diagnose-exploding"], tmp_path)
    runs = json.loads((tmp_path / "exploding.json").read_text())["runs"]
    assert "training diverged at update" in runs["no_clip"]["diverged"] and runs["clip"]["diverged"] is None
    assert "training diverged at update" in result.output
    assert (tmp_path / "exploding.png").stat().st_size > 1000


def test_quick_model_diagnostics_and_report(tiny_lm_path, tmp_path):
    corpus = tmp_path / "text.txt"
    corpus.write_text("the cat sat on the mat\nthe dog sat on the log\na cat ate the fish\n" * 30)
    _run(["diagnose-surprisal", "--model", str(tiny_lm_path), "--text", "the cat sat on the log. the dog ate"], tmp_path)
    _run(["diagnose-gates", "--model", str(tiny_lm_path), "--name", "gates_lm"], tmp_path)
    _run(["diagnose-context", "--model", str(tiny_lm_path), "--train", str(corpus), "--test", str(corpus),
          "--passage", "the cat sat on the", "--word", "mat", "--stride", "3"], tmp_path)
    gates = json.loads((tmp_path / "gates_lm.json").read_text())
    assert gates["max_abs_difference_from_nn_lstm"] < 1e-5
    context = json.loads((tmp_path / "context.json").read_text())
    assert set(context["perplexity_by_context"]) == {"1", "2", "5", "full"}
    result = CliRunner().invoke(app, ["diagnostics-report", "--output-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    readme = (tmp_path / "README.md").read_text()
    assert "![5. Context in language models](context.png)" in readme and "Not run." in readme


def test_truncated_context_equals_reading_from_the_start(tiny_lm_path):
    import spacy

    from spacy_rnn_lab.diagnostics.context import truncated_log_probs
    from spacy_rnn.lm.scoring import stream_log_probs

    net = spacy.load(tiny_lm_path).get_pipe("lm").net
    ids = [0, 3, 4, 5, 2, 6, 3, 7]
    # log p(ids[i] | the k = 5 tokens before it), each read from a zero state, is what reading
    # those 5 tokens as a stream of their own gives (stream_log_probs(...)[j] = log p(s[j + 1] | s[:j + 1]))
    expected = [stream_log_probs(net, [ids[i - 5 : i + 1]], 3, 1)[0][4] for i in (5, 7)]
    numpy.testing.assert_allclose(truncated_log_probs(net, ids, [5, 7], 5), expected, rtol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_forward_encoder_cannot_see_the_right_context(bidirectional):
    from spacy_rnn_lab.diagnostics.bidirectional import SENTENCES, cosine, word_states

    nlp = make_textcat_nlp(bidirectional=bidirectional)
    nlp.initialize(lambda: textcat_examples(nlp))
    rows = word_states(nlp, "textcat", "terribly", SENTENCES)
    similarities = [cosine(row["state"], rows[SENTENCES[0]]["state"]) for row in rows.values()]
    if bidirectional:
        assert min(similarities) < 0.999
    else:
        assert similarities == pytest.approx([1.0] * len(SENTENCES))


def test_render_surprisal_shades_each_scored_token(tiny_lm_path):
    import spacy

    doc = spacy.load(tiny_lm_path)("the cat sat on the mat.")
    markup = render_surprisal(doc, jupyter=False)
    assert markup.count("<span") == len(doc)
    assert "bits" in markup and "not scored" in markup  # the final "." is skipped by the LM


@pytest.mark.slow
def test_quick_bidirectional_trains_both_variants(tmp_path, monkeypatch):
    """Two spaCy training runs of 2 updates on SST-2 (needs corpus/sst2 and GloVe vectors)."""
    from helpers import ROOT

    vectors = ROOT / "corpus" / "vectors" / "glove_6b_50d"
    if not (ROOT / "corpus" / "sst2" / "train.spacy").exists() or not vectors.exists():
        pytest.skip("needs the converted SST-2 corpus and GloVe vectors")
    monkeypatch.chdir(ROOT)  # the configs' corpus paths are relative to the project
    _run(["diagnose-bidirectional", "--vectors", str(vectors)], tmp_path)
    results = json.loads((tmp_path / "bidirectional.json").read_text())
    assert set(results["scores"]["sentiment"]) == {"metric", "forward", "bidirectional"}
