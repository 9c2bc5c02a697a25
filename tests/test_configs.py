"""Every shipped config loads, validates and builds its pipeline."""
from pathlib import Path

import pytest
import spacy
from spacy.util import load_config, load_model_from_config

from helpers import ROOT

CONFIGS = sorted((ROOT / "configs").glob("*.cfg"))


def test_there_are_configs():
    assert CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_builds_its_pipeline(path: Path):
    config = load_config(path)
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    assert nlp.pipe_names == config["nlp"]["pipeline"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_training_section_resolves(path: Path):
    from spacy.schemas import ConfigSchemaTraining

    config = load_model_from_config(load_config(path), auto_fill=True).config.interpolate()
    training = spacy.registry.resolve(config["training"], schema=ConfigSchemaTraining)
    assert training["max_steps"] > 0 and training["optimizer"].learn_rate is not None


TRAINING_CONFIGS = [path for path in sorted((ROOT / "configs").rglob("*.cfg")) if "max_steps" in load_config(path).get("training", {})]


FROM_SCRATCH = [path for path in TRAINING_CONFIGS if "continue" not in path.parts]  # continue/: sources a trained pipeline


@pytest.mark.parametrize("path", FROM_SCRATCH, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_the_saved_config_creates_its_optimizer(path: Path):
    """What `nlp.update(examples)` without sgd and `nlp.resume_training(sgd=nlp.create_optimizer())`
    need on a loaded pipeline: spaCy resolves [training.optimizer] on its own, so it can refer to
    nothing outside it (a trained pipeline's nlp.config is the config, not interpolated)."""
    nlp = load_model_from_config(load_config(path), auto_fill=True)
    assert nlp.create_optimizer().learn_rate is not None


def test_learning_rate_schedules_end_with_the_training():
    """A shipped schedule's total_steps is its config's max_steps (python -m spacy_rnn train keeps
    them together when max_steps is overridden)."""
    for path in TRAINING_CONFIGS:
        training = load_config(path, interpolate=True)["training"]
        learn_rate = training["optimizer"]["learn_rate"]
        if isinstance(learn_rate, dict) and "total_steps" in learn_rate:
            assert learn_rate["total_steps"] == training["max_steps"], path.name


def tiny_corpus(path: Path, folder: Path) -> Path:
    """train.spacy and dev.spacy in folder: the hand-written sentences annotated for the config's component."""
    from spacy.tokens import DocBin

    from helpers import entity_examples, tagged_examples, textcat_examples

    config = load_config(path)
    factories = {block.get("factory") for block in config["components"].values()}
    nlp = spacy.blank("en")
    if "torch_tagger" in factories:
        examples = tagged_examples(nlp)
    elif "torch_ner" in factories:
        examples = entity_examples(nlp)
    else:
        labels = config["initialize"]["components"].get("textcat", {}).get("labels")
        examples = textcat_examples(nlp)
        if labels:
            for eg in examples:
                eg.reference.cats = {label: float(i == 0) for i, label in enumerate(labels)}
    docs = [eg.reference for eg in examples]
    DocBin(docs=docs[:-3] * 25).to_disk(folder / "train.spacy")  # spaCy fails fewer than 100
    DocBin(docs=docs[-3:]).to_disk(folder / "dev.spacy")  # none also in the training data
    return folder


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from helpers import ENTITY_SENTENCES, SENTIMENT_TEXTS, TAGGED_SENTENCES
    from spacy_rnn.models.transformer import save_random_bert

    texts = [text for text, *_ in TAGGED_SENTENCES + ENTITY_SENTENCES + SENTIMENT_TEXTS]
    return str(save_random_bert(tmp_path_factory.mktemp("bert"), [w for text in texts for w in text.split()], layers=4))


@pytest.mark.parametrize("path", FROM_SCRATCH, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_spacy_debug_data_runs(path: Path, tmp_path, tiny_bert):
    """`spacy debug data CONFIG` (its Python function) on tiny corpora, no vectors, and a tiny
    random BERT for the Transformer encoders."""
    from spacy.cli.debug_data import debug_data

    corpus = tiny_corpus(path, tmp_path)
    overrides = {"paths.train": str(corpus / "train.spacy"), "paths.dev": str(corpus / "dev.spacy"), "paths.vectors": None}
    for name, block in load_config(path)["components"].items():
        if "transformer" in block.get("model", {}).get("encoder", {}):
            overrides[f"components.{name}.model.encoder.transformer"] = tiny_bert
    debug_data(path, config_overrides=overrides, silent=True)


@pytest.mark.parametrize(
    "overrides, total_steps",
    [({}, 7000), ({"training.max_steps": 300}, 300), ({"training.max_steps": 0}, 7000),
     ({"training.max_steps": 300, "training.optimizer.learn_rate.total_steps": 500}, 500)],
)
def test_the_schedule_follows_an_overridden_max_steps(overrides, total_steps):
    import io

    from spacy_rnn.training_loop import schedule_follows_max_steps

    config = load_config(ROOT / "configs" / "pos_bilstm.cfg", overrides=overrides)
    out = io.StringIO()
    schedule_follows_max_steps(config, overrides, out)
    assert config["training"]["optimizer"]["learn_rate"]["total_steps"] == total_steps
    assert ("ends at step 500" in out.getvalue()) == (total_steps == 500)
