"""Teach a trained component new labels from the user's data: find the labels the new data has
and the component lacks, add them (`add_label`: the old labels' predictions do not change until
it trains), mix old-label sentences back in (rehearsal, so the old labels are not forgotten) and
continue training the grown component with spaCy's loop.

The continuation config is made from the trained pipeline's own (`continuation_config`): every
component sourced from the grown pipeline, the ones not trained frozen, the training and dev
data the DocBins given, a fresh Adam optimizer (a grown net cannot reuse one that stepped the
smaller one) at a constant learning rate, `steps` steps with one evaluation at the end, no early
stopping, and the static vectors the component was trained with.
"""
import random
from pathlib import Path
from typing import Dict, IO, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from thinc.api import Config

from .pipes.ner import TorchEntityRecognizer
from .pipes.tagger import TorchTagger
from .pipes.textcat import TorchTextCategorizer

# What each kind of component learns from a gold doc: the labels it predicts.
LABEL_READERS = {
    TorchEntityRecognizer: lambda doc: {("", ent.label_) for ent in doc.ents},
    TorchTextCategorizer: lambda doc: {("", label) for label in doc.cats},
    TorchTagger: lambda doc: {(head, value) for token in doc for head, value in (("pos", token.pos_), ("tag", token.tag_)) if value},
}


def component_of(nlp: Language, component: str):
    """The component named `component`; a ValueError for a missing one or one that takes no labels."""
    if component not in nlp.pipe_names:
        raise ValueError(f"the pipeline has no component named {component!r} (its components: {', '.join(nlp.pipe_names)})")
    pipe = nlp.get_pipe(component)
    if type(pipe) not in LABEL_READERS:
        kinds = ", ".join(kind.__name__ for kind in LABEL_READERS)
        raise ValueError(f"{component!r} ({type(pipe).__name__}) takes no labels: give a {kinds} component")
    return pipe


def new_labels(nlp: Language, component: str, docs: Sequence[Doc]) -> List[tuple]:
    """The (head, label) pairs the docs have and the component lacks, sorted (head "" for a
    component with one set of labels; "pos" or "tag" for the tagger)."""
    pipe = component_of(nlp, component)
    read_labels = LABEL_READERS[type(pipe)]
    found = set().union(*(read_labels(doc) for doc in docs)) if docs else set()
    known = {(head, label) for head, labels in _known_labels(pipe).items() for label in labels}
    return sorted(found - known)


def _known_labels(pipe) -> Dict[str, Sequence[str]]:
    labels = pipe.cfg["labels"]
    return labels if isinstance(labels, dict) else {"": labels}


def add_labels(nlp: Language, component: str, labels: Sequence[tuple]) -> None:
    """Add each (head, label) to the component (`new_labels` gives them)."""
    pipe = nlp.get_pipe(component)
    for head, label in labels:
        if head:
            pipe.add_label(label, head=head)
        else:
            pipe.add_label(label)


def mix_rehearsal(new_docs: Sequence[Doc], old_docs: Sequence[Doc], n_old: int, rng: random.Random) -> List[Doc]:
    """The new docs and n_old of the old ones drawn by `rng` (without replacement), shuffled."""
    if n_old > len(old_docs):
        raise ValueError(f"asked for {n_old} rehearsal docs; there are {len(old_docs)}")
    mixed = list(new_docs) + rng.sample(list(old_docs), n_old)
    rng.shuffle(mixed)
    return mixed


def zero_new_classes(docs: Sequence[Doc], classes: Sequence[str]) -> None:
    """Give docs of a text classifier's old data the new classes at 0.0 (the classes exclude each
    other: a doc of an old class is not of a new one)."""
    for doc in docs:
        for label in classes:
            doc.cats.setdefault(label, 0.0)


def continuation_config(
    nlp: Language, component: str, grown: Path, train: Path, dev: Path, output: Path, *, steps: int, learn_rate: float, seed: int
) -> Config:
    """The trained pipeline's config made to continue training `component` (module docstring);
    the training log goes to output/training_log.jsonl."""
    config = Config(nlp.config).copy()
    config["paths"] = {**config.get("paths", {}), "train": str(train), "dev": str(dev), "vectors": str(grown)}
    config["components"] = {name: {"source": str(grown)} for name in nlp.pipe_names}
    config["corpora"] = {
        split: {"@readers": "spacy_rnn.GoldTokensCorpus.v1", "path": str(path), "limit": 0}
        for split, path in (("train", train), ("dev", dev))
    }
    training = config["training"]
    training.update({
        "seed": seed, "max_steps": steps, "eval_frequency": steps, "patience": 0, "max_epochs": 0,
        "frozen_components": [name for name in nlp.pipe_names if name != component], "annotating_components": [],
        "train_corpus": "corpora.train", "dev_corpus": "corpora.dev",
    })
    if "output_file" in training.get("logger", {}):  # spaCy's ConsoleLogger.v3 and spacy_rnn.TrainingLogger.v1
        training["logger"] = {**training["logger"], "output_file": str(Path(output) / "training_log.jsonl")}
    training["optimizer"] = {
        "@optimizers": "Adam.v1", "beta1": 0.9, "beta2": 0.999, "L2_is_weight_decay": True, "L2": 0.0,
        "grad_clip": 0.0, "use_averages": False, "eps": 1e-8, "learn_rate": learn_rate,
    }
    config["system"] = {**config.get("system", {}), "seed": seed}
    config["initialize"] = {**config.get("initialize", {}), "vectors": str(grown), "init_tok2vec": None}
    return config


def continue_training(
    nlp: Language, component: str, new: Sequence[Doc], old: Sequence[Doc], dev: Path, work_dir: Path, output: Path, *,
    rehearsal: float, steps: int, learn_rate: float, seed: int, stdout: IO,
) -> Dict:
    """Add the labels `new` has and the component lacks, mix round(rehearsal * len(new)) old docs
    in, continue training for `steps` steps and save model-best / model-last to `output`.
    Returns what was done: the labels added and the counts of the training data."""
    from .training_loop import train_pipeline

    labels = new_labels(nlp, component, new)
    add_labels(nlp, component, labels)
    rng = random.Random(seed)
    n_old = min(round(rehearsal * len(new)), len(old))
    mixed = mix_rehearsal(new, old, n_old, rng)
    if isinstance(nlp.get_pipe(component), TorchTextCategorizer):
        zero_new_classes(mixed, [label for _, label in labels])
    work_dir.mkdir(parents=True, exist_ok=True)
    train_path = work_dir / "train.spacy"
    DocBin(docs=mixed, store_user_data=False).to_disk(train_path)
    grown = work_dir / "grown"
    nlp.to_disk(grown)
    config_path = work_dir / "config.cfg"
    continuation_config(nlp, component, grown, train_path, dev, output, steps=steps, learn_rate=learn_rate, seed=seed).to_disk(config_path)
    train_pipeline(config_path, output, overrides={}, stdout=stdout)
    return {
        "component": component,
        "labels_added": [f"{head}:{label}" if head else label for head, label in labels],
        "new_docs": len(new),
        "rehearsal_docs": n_old,
        "steps": steps,
        "config": str(config_path),
    }
