"""A training config for the user's corpus (`python -m spacy_rnn init-config`): a shipped config
(or any other) with the corpus's paths, its static vectors, its labels and a training budget that
fits its size (`training_budget`). The result is a plain spaCy config: `spacy train`, `spacy debug
data` and `python -m spacy_rnn train` read it as they read the shipped ones.
"""
from pathlib import Path
from typing import Dict, List, Optional

from spacy import util
from spacy.tokens import DocBin
from thinc.api import Config

from .new_labels import LABEL_READERS, component_of
from .pipes.tagger import TorchTagger
from .training_budget import RULE, batch_words, budget_for, count_words

BUDGETS = ("auto", "config")


def config_for_corpus(
    base: Path,
    train: Path,
    dev: Path,
    *,
    vectors: Optional[str] = None,
    labels: Optional[List[str]] = None,
    budget: str = "auto",
    component: Optional[str] = None,
) -> Dict:
    """The config of `base` for the corpus TRAIN/DEV (DocBins), as {"config": Config, "summary":
    what was read and set}. `vectors` replaces [paths] vectors; `labels` (recognizer, text
    classifier) fixes the component's labels, which must cover TRAIN's; without them a text
    classifier's labels are TRAIN's. budget "auto" derives the steps from TRAIN's words, "config"
    keeps the base config's. A ValueError names what does not fit."""
    if budget not in BUDGETS:
        raise ValueError(f"budget {budget!r}: give one of {', '.join(BUDGETS)}")
    overrides = {"paths.train": str(train), "paths.dev": str(dev)}
    if vectors is not None:
        overrides["paths.vectors"] = vectors or None
    config = util.load_config(base, overrides=overrides, interpolate=False)
    nlp = util.load_model_from_config(config, auto_fill=False, validate=False)
    trained = [name for name in nlp.pipe_names if type(nlp.get_pipe(name)) in LABEL_READERS]
    if component is None:
        if len(trained) != 1:
            raise ValueError(f"{base} has {len(trained)} components that learn labels ({', '.join(trained) or 'none'}): name one")
        component = trained[0]
    pipe = component_of(nlp, component)
    train_docs = _read_docs(train, nlp.vocab)
    read_labels = LABEL_READERS[type(pipe)]
    found = sorted(set().union(*(read_labels(doc) for doc in train_docs)))
    if not found:
        raise ValueError(f"{train}: no {type(pipe).__name__} annotation in its {len(train_docs):,} docs (the labels {component!r} learns)")
    dev_labels = sorted(set().union(*(read_labels(doc) for doc in _read_docs(dev, nlp.vocab))))
    summary = {
        "base": str(base), "component": component, "train": str(train), "dev": str(dev),
        "train_docs": len(train_docs), "labels": [_name(label) for label in found],
        "dev_labels_not_in_train": [_name(label) for label in dev_labels if label not in found],
    }
    initialize = config["initialize"].setdefault("components", {}).setdefault(component, {})
    if labels is not None:
        if isinstance(pipe, TorchTagger):
            raise ValueError("labels: a tagger reads its POS and TAG labels from the training data; give none")
        missing = [name for _, name in found if name not in labels]
        if missing:
            raise ValueError(f"{train} has labels the given ones lack: {', '.join(missing)}")
        initialize["labels"] = list(labels)
    elif "labels" in initialize and not isinstance(pipe, TorchTagger):
        initialize["labels"] = [name for _, name in found]  # the base config's are its own corpus's
    if budget == "auto":
        training = config["training"]
        plan = budget_for(count_words(train_docs), batch_words(training), training)
        for dotted, value in plan.overrides().items():
            section, _, key = dotted.rpartition(".")
            holder = util.dot_to_object(config, section)
            if isinstance(holder, dict) and key in holder:  # a constant learning rate has no warm-up
                util.set_dot_to_object(config, dotted, value)
        summary["budget"] = plan.to_dict()
        summary["budget_rule"] = RULE
    return {"config": config, "summary": summary}


def config_text(config: Config, summary: Dict) -> str:
    """The config as text, headed by comments saying where it came from and its budget."""
    lines = [f"# Made by `python -m spacy_rnn init-config` from {summary['base']} for {summary['train']}."]
    plan = summary.get("budget")
    if plan:
        lines += [
            f"# Budget from the corpus ({plan['train_words']:,} training words, {plan['steps_per_epoch']} steps an epoch"
            f" of {plan['batch_words']:,}-word batches): max_steps {plan['max_steps']}, eval_frequency"
            f" {plan['eval_frequency']}, patience {plan['patience']}, warmup_steps {plan['warmup_steps']}.",
            f"# Rule: {summary['budget_rule']}.",
        ]
    return "\n".join(lines) + "\n" + config.to_str()


def _read_docs(path: Path, vocab) -> List:
    try:
        return list(DocBin().from_disk(path).get_docs(vocab))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a DocBin ({err}): convert the corpus first (python -m spacy_rnn convert-*)") from err


def _name(label) -> str:
    head, name = label
    return f"{head}:{name}" if head else name
