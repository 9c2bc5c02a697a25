"""Checkpoints survive crashes, and a diverging run stops with the step named while the last good
checkpoint stays loadable: for the spaCy-loop trainer (`python -m spacy_rnn train`) and `train-lm`."""
import itertools
import json

import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.util import registry

from spacy_rnn.checkpoints import recover_checkpoint, save_atomically
from spacy_rnn.errors import TrainingDiverged
from spacy_rnn.lm import trainer as lm_trainer
from spacy_rnn.lm.training import train_language_model
from spacy_rnn.training_loop import train_pipeline

from helpers import ROOT, TINY_ENCODER, tagged_examples
from lm_helpers import CORPUS, lm_examples, make_lm_nlp


@registry.schedules("test_explodes_after.v1")
def explodes_after(steps: int, rate: float = 0.01):
    """A learning rate that is sane for `steps` updates, then 1e30."""
    return itertools.chain([rate] * steps, itertools.repeat(1e30))


@pytest.fixture
def tagger_corpus(tmp_path):
    nlp = spacy.blank("en")
    docs = [eg.reference for eg in tagged_examples(nlp)]
    DocBin(docs=docs).to_disk(tmp_path / "tagged.spacy")
    return tmp_path / "tagged.spacy"


def tagger_overrides(corpus, **extra):
    overrides = {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "paths.vectors": None,
        "training.max_steps": 12,
        "training.eval_frequency": 2,
        "training.batcher.size.start": 100,
        "training.batcher.size.stop": 100,
        **{f"components.tagger.model.encoder.{key}": value for key, value in TINY_ENCODER.items()},
    }
    return {**overrides, **extra}


def test_a_diverging_spacy_loop_run_keeps_its_last_good_checkpoint(tagger_corpus, tmp_path):
    overrides = tagger_overrides(tagger_corpus, **{"training.optimizer.learn_rate": {"@schedules": "test_explodes_after.v1", "steps": 5}})
    with pytest.raises(TrainingDiverged, match=r"\[tagger\] training diverged at update [67]:"):
        train_pipeline(ROOT / "configs" / "pos_bilstm.cfg", tmp_path / "out", overrides=overrides)
    best = spacy.load(tmp_path / "out" / "model-best")  # loading checks the weights are finite
    assert best(Doc(best.vocab, words=["The", "cat"]))[0].pos_
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model-best", "model-last"]


def test_a_bad_setting_fails_before_the_previous_run_is_touched(tagger_corpus, tmp_path):
    train_pipeline(ROOT / "configs" / "pos_bilstm.cfg", tmp_path / "out", overrides=tagger_overrides(tagger_corpus))
    before = sorted(p.name for p in (tmp_path / "out" / "model-best").rglob("*"))
    with pytest.raises(Exception, match="no_such_file"):
        train_pipeline(
            ROOT / "configs" / "pos_bilstm.cfg", tmp_path / "out", overrides=tagger_overrides("no_such_file.spacy")
        )
    assert sorted(p.name for p in (tmp_path / "out" / "model-best").rglob("*")) == before


def test_a_crash_while_writing_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    nlp = make_lm_nlp()
    nlp.initialize(lambda: lm_examples(nlp))
    save_atomically(nlp, tmp_path / "model-best")
    before = sorted(p.name for p in (tmp_path / "model-best").rglob("*"))

    def crash(path, *args, **kwargs):
        (path / "half-written").parent.mkdir(parents=True, exist_ok=True)
        (path / "half-written").write_text("")
        raise OSError("disk full")

    monkeypatch.setattr(nlp, "to_disk", crash)
    with pytest.raises(OSError, match="disk full"):
        save_atomically(nlp, tmp_path / "model-best")
    recover_checkpoint(tmp_path / "model-best")
    assert sorted(p.name for p in (tmp_path / "model-best").rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-best"]


def test_a_swap_stopped_between_its_renames_is_finished(tmp_path):
    """Killed after the old checkpoint was moved aside: the new, complete one takes its place."""
    nlp = make_lm_nlp()
    nlp.initialize(lambda: lm_examples(nlp))
    nlp.to_disk(tmp_path / ".model-best.old")
    nlp.get_pipe("lm").cfg["max_vocab_size"] = 123  # tells the new checkpoint from the old
    nlp.to_disk(tmp_path / ".model-best.tmp")
    recover_checkpoint(tmp_path / "model-best")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-best"]
    assert json.loads((tmp_path / "model-best" / "lm" / "cfg").read_text())["max_vocab_size"] == 123


def test_a_diverging_train_lm_run_keeps_its_last_good_checkpoint(tmp_path, monkeypatch):
    sentences = [text.split() for text in CORPUS] * 20
    settings = lm_trainer.LMTrainingSettings(batch_size=2, bptt=5, max_epochs=3, evals_per_epoch=4, log_every=1000)
    original_step = lm_trainer.train_step

    def step_then_explode(net, optimizer, *args, step, **kwargs):
        if step > 30:
            for group in optimizer.param_groups:
                group["lr"] = 1e30
        return original_step(net, optimizer, *args, step=step, **kwargs)

    monkeypatch.setattr(lm_trainer, "train_step", step_then_explode)
    with pytest.raises(TrainingDiverged, match=r"training diverged at update 3\d"):
        train_language_model(make_lm_nlp(), sentences, sentences[:5], settings, tmp_path)
    best = spacy.load(tmp_path / "model-best")
    assert best("the cat sat")._.perplexity < float("inf")


def test_a_trained_pipeline_updates_without_an_optimizer_and_its_schedule_follows_max_steps(tagger_corpus, tmp_path):
    train_pipeline(ROOT / "configs" / "pos_bilstm.cfg", tmp_path / "out", overrides=tagger_overrides(tagger_corpus))
    nlp = spacy.load(tmp_path / "out" / "model-best")
    learn_rate = nlp.config["training"]["optimizer"]["learn_rate"]
    assert learn_rate["total_steps"] == nlp.config["training"]["max_steps"] == 12  # the override, both
    examples = tagged_examples(nlp)
    assert nlp.update(examples)["tagger"] > 0  # spaCy creates the optimizer from nlp.config
    optimizer = nlp.resume_training(sgd=nlp.create_optimizer())
    assert nlp.update(examples, sgd=optimizer)["tagger"] > 0


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs, no `except Exception` catches it."""


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-rename fallback"])
def test_model_best_is_loadable_whenever_a_swap_is_killed(tmp_path, monkeypatch, exchange):
    """Kill save_atomically at each of its filesystem steps in turn: a reader always finds a
    complete model-best, the old checkpoint or the new one: spacy.load itself where directories
    can be exchanged atomically, the project's `load_pipeline` on the two-rename fallback."""
    import spacy_rnn.checkpoints as checkpoints

    if exchange and checkpoints._EXCHANGE is None:
        pytest.skip("this system cannot exchange two directories atomically")
    if not exchange:
        monkeypatch.setattr(checkpoints, "_EXCHANGE", None)
    read = spacy.load if exchange else checkpoints.load_pipeline
    nlp = make_lm_nlp()
    nlp.initialize(lambda: lm_examples(nlp))
    steps = [(checkpoints.os, "replace"), (checkpoints.os, "rename"), (checkpoints.shutil, "rmtree")]
    steps += [(checkpoints, name) for name in ("exchange_paths",) if hasattr(checkpoints, name)]
    seen = set()
    for kill_at in range(8):
        target = tmp_path / str(kill_at) / "model-best"
        target.parent.mkdir()
        nlp.get_pipe("lm").cfg["max_vocab_size"] = 1
        save_atomically(nlp, target)
        nlp.get_pipe("lm").cfg["max_vocab_size"] = 2  # tells the new checkpoint from the old
        calls = []
        with monkeypatch.context() as patch:
            for owner, name in steps:
                original = getattr(owner, name)

                def step(*args, _original=original, **kwargs):
                    calls.append(1)
                    if len(calls) > kill_at:
                        raise Killed()
                    return _original(*args, **kwargs)

                patch.setattr(owner, name, step)
            try:
                save_atomically(nlp, target)
            except Killed:
                pass
        seen.add(read(target).get_pipe("lm").cfg["max_vocab_size"])
        save_atomically(nlp, target)  # the next save cleans up what the killed one left
        assert sorted(p.name for p in target.parent.iterdir()) == ["model-best"]
    assert seen == {1, 2}
