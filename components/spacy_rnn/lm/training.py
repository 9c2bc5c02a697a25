"""Train an `lstm_lm` pipeline: build its vocabulary from the training corpus, run the
truncated-BPTT loop of `lm.trainer` (which `spacy train` cannot run: the recurrent state is
carried across batches), and keep the best pipeline as a spaCy pipeline directory.

Checkpoints are written atomically: built next to the target and renamed into place, so a crash
never leaves a half-written `model-best`.
"""
import os
import shutil
from pathlib import Path
from typing import Dict, Sequence

import torch
from spacy.attrs import ORTH
from spacy.language import Language

from ..layers import get_torch_net
from .trainer import LMTrainingSettings, fit_language_model
from .vocab import EOS, UNK, Vocabulary


def atomic_save(nlp: Language, path: Path) -> None:
    """Write the pipeline to `path` without ever leaving a half-written directory there."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    nlp.to_disk(tmp)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def train_language_model(
    nlp: Language,
    train_sentences: Sequence[Sequence[str]],
    dev_sentences: Sequence[Sequence[str]],
    settings: LMTrainingSettings,
    output_dir: Path,
    *,
    pipe_name: str = "lm",
    device: str = "cpu",
) -> Dict:
    """Fit the vocabulary on the normalised training sentences, train, keep the best pipeline
    in output_dir/model-best and the final one in output_dir/model-last. Returns the training
    record (see `fit_language_model`) with the model settings and vocabulary size. The tokenizer
    learns to keep "<unk>" and "<eos>" whole, so raw text in the corpus's format reads as trained
    (training itself reads the corpus's words, not the tokenizer's)."""
    torch.manual_seed(settings.seed)
    for special in (UNK, EOS):
        nlp.tokenizer.add_special_case(special, [{ORTH: special}])
    lm = nlp.get_pipe(pipe_name)
    normalizer = lm.normalizer
    train_sentences = [[normalizer(w) for w in words] for words in train_sentences]
    dev_sentences = [[normalizer(w) for w in words] for words in dev_sentences]
    vocab = Vocabulary.from_corpus(train_sentences, max_size=lm.cfg["max_vocab_size"], min_count=lm.cfg["min_count"])
    lm.initialize(lambda: [], nlp=nlp, words=vocab.words)
    output_dir = Path(output_dir)
    record = fit_language_model(
        get_torch_net(lm.model),
        torch.tensor([vocab.eos_id] + vocab.encode(train_sentences), dtype=torch.long),
        [vocab.eos_id] + vocab.encode(dev_sentences),
        settings,
        output_dir,
        max_grad_norm=lm.cfg["max_grad_norm"],
        window_size=lm.model.attrs["settings"]["window_size"],
        on_improve=lambda: atomic_save(nlp, output_dir / "model-best"),
        device=device,
    )
    get_torch_net(lm.model).to("cpu")
    atomic_save(nlp, output_dir / "model-last")
    return {**record, "model": dict(lm.model.attrs["settings"]), "vocabulary_size": len(vocab)}
