"""Training the language model: TBPTT batching, the shared training step, evaluation and
annealing, the training log, `train_language_model` and atomic checkpoints, the corpus."""
import json
import math
from pathlib import Path

import pytest
import spacy
import srsly
import torch

from spacy_rnn.corpora.ptb import PTB_TOKEN_COUNTS, count_tokens, read_sentences, sentences_from_hf
from spacy_rnn.lm.batching import PADDING, batchify, bptt_chunks, n_chunks, pad_streams
from spacy_rnn.lm.step import chunk_loss, train_step
from spacy_rnn.lm.trainer import DevSchedule, LMTrainingSettings, TrainingLog
from spacy_rnn.lm.training import train_language_model
from spacy_rnn.models.language_model import detach_state

from helpers import SHARED_CORPORA
from lm_helpers import CORPUS, by_hand_log_probs, make_lm_nlp, make_net


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
    net = make_net(10, 4, 1)
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


def test_pad_streams_pads_at_the_end():
    assert pad_streams([[1, 2, 3], [4]], PADDING).tolist() == [[1, 2, 3], [4, PADDING, PADDING]]


# --- one step, evaluation and annealing, the log -----------------------------------------


def test_chunk_loss_is_the_mean_cross_entropy_over_real_targets_scaled_by_the_given_count():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7)
    targets = torch.tensor([[1, 2, 3], [4, PADDING, PADDING]])
    by_hand = -sum(float(torch.log_softmax(logits[b, t], -1)[targets[b, t]]) for b, t in [(0, 0), (0, 1), (0, 2), (1, 0)])
    assert float(chunk_loss(logits, targets, 4)) == pytest.approx(by_hand / 4, rel=1e-6)
    assert float(chunk_loss(logits, targets, 8)) == pytest.approx(by_hand / 8, rel=1e-6)


def test_train_step_clips_steps_and_carries_a_detached_state():
    torch.manual_seed(0)
    net = make_net(12, 6, 2)
    rows = batchify(torch.randint(0, 12, (40,)), 2)
    inputs, targets = next(bptt_chunks(rows, 5))
    before = [p.detach().clone() for p in net.parameters()]
    optimizer = torch.optim.SGD(net.parameters(), lr=1.0)
    loss, grad_norm, state = train_step(net, optimizer, inputs, targets, None, max_grad_norm=1e-3)
    assert loss > 0 and grad_norm > 1e-3
    assert all(s.grad_fn is None for s in state)
    step = torch.cat([(p.detach() - b).flatten() for p, b in zip(net.parameters(), before)])
    assert float(step.norm()) == pytest.approx(1e-3, rel=1e-3)  # lr 1 times the clipped gradient


def test_dev_schedule_anneals_without_improvement_and_stops_after_patience():
    torch.manual_seed(0)
    net = make_net(10, 4, 1)
    dev = [0, 2, 3, 4, 5, 0, 6]
    optimizer = torch.optim.SGD(net.parameters(), lr=8.0)
    schedule = DevSchedule(dev, chunk_size=2, anneal_factor=4.0, patience=2)
    first = schedule.evaluate(net, optimizer)
    log_probs = by_hand_log_probs(net, dev)
    assert first["dev_perplexity"] == pytest.approx(math.exp(-sum(log_probs) / len(log_probs)), rel=1e-6)
    assert first["improved"] and first["learning_rate"] == 8.0 and optimizer.param_groups[0]["lr"] == 8.0
    second = schedule.evaluate(net, optimizer)  # the same module: no improvement
    assert not second["improved"] and second["learning_rate"] == 8.0 and optimizer.param_groups[0]["lr"] == 2.0
    assert not schedule.exhausted and net.training
    schedule.evaluate(net, optimizer)
    assert schedule.exhausted and optimizer.param_groups[0]["lr"] == 0.5
    assert schedule.best_perplexity == first["dev_perplexity"]


def test_training_log_averages_the_steps_since_the_previous_entry(tmp_path):
    log = TrainingLog(tmp_path / "out")
    log.add_step(2.0, 10, 1.0)
    log.add_step(1.0, 30, 3.0)
    first = log.train_entry(epoch=1, learning_rate=0.5, clip=0.25)
    assert (first["step"], first["tokens"], first["loss"]) == (2, 40, 1.25)
    assert (first["grad_norm_mean"], first["grad_norm_max"]) == (2.0, 3.0)
    assert first["perplexity"] == pytest.approx(math.exp(1.25))
    log.add_step(4.0, 10, 5.0)
    second = log.train_entry(epoch=1, learning_rate=0.5, clip=0.25)
    assert (second["step"], second["tokens"], second["loss"], second["grad_norm_max"]) == (3, 50, 4.0, 5.0)
    log.eval_entry(2, {"dev_perplexity": 3.0, "learning_rate": 0.5, "improved": True})
    entries = [json.loads(line) for line in (tmp_path / "out" / "training_log.jsonl").read_text().splitlines()]
    assert [e["type"] for e in entries] == ["train", "train", "eval"]
    assert entries[2]["dev_perplexity"] == 3.0 and entries[2]["epoch"] == 2 and entries[2]["step"] == 3


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
    assert record["model"]["chunk_size"] == 5 and record["model"]["embed_width"] == 16
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


def test_a_run_shorter_than_one_logging_interval_still_gets_its_curves(tmp_path):
    from spacy_rnn.evaluation.lm_report import plot_lm_training

    log = [{"type": "eval", "step": 3, "epoch": 1, "minutes": 0.05, "dev_perplexity": 900.0, "learning_rate": 20.0}]
    plot_lm_training(log, tmp_path / "training_curves.png", "a short run")
    assert (tmp_path / "training_curves.png").stat().st_size > 1000


def test_the_training_report_says_when_weight_averaging_started(tmp_path):
    from spacy_rnn.evaluation.lm_report import write_lm_training_report

    evals = [
        {"type": "eval", "step": step, "epoch": epoch, "minutes": minutes, "dev_perplexity": ppl, "learning_rate": 20.0, "averaged": averaged}
        for step, epoch, minutes, ppl, averaged in [(10, 1, 1.0, 300.0, False), (20, 2, 2.0, 250.0, False), (30, 3, 3.0, 200.0, True)]
    ]
    train = [{"type": "train", "step": 15, "epoch": 2, "minutes": 1.5, "perplexity": 280.0, "tokens_per_second": 100.0,
              "learning_rate": 20.0, "grad_norm_mean": 0.2, "grad_norm_max": 0.3, "clip": 0.25}]
    srsly.write_jsonl(tmp_path / "training_log.jsonl", evals[:1] + train + evals[1:])
    record = {"output_dir": str(tmp_path), "evaluations": evals, "best_dev_perplexity": 200.0, "train_minutes": 3.0,
              "stop_reason": "max_minutes", "epochs": 3, "steps": 30, "tokens_per_second": 90.0, "n_parameters": 1000,
              "averaging_from_step": 20}
    write_lm_training_report(record, Path("configs/lm_ptb_awd.cfg"), {}, tmp_path / "report")
    assert "| weight averaging (NT-ASGD) | from step 20 (minute 2.0, epoch 2)" in (tmp_path / "report" / "training.md").read_text()
    assert (tmp_path / "report" / "training_curves.png").exists()

    # re-rendered from its training.json, a report keeps the machine the model was trained on
    training = json.loads((tmp_path / "report" / "training.json").read_text())
    training["machine"]["torch_threads"] = 64
    write_lm_training_report(training, Path("configs/lm_ptb_awd.cfg"), {}, tmp_path / "rerendered")
    assert json.loads((tmp_path / "rerendered" / "training.json").read_text())["machine"]["torch_threads"] == 64
