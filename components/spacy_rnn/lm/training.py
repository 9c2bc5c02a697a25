"""Train an `torch_lm` pipeline: build its vocabulary from the training corpus, run the
truncated-BPTT loop of `lm.trainer` (which `spacy train` cannot run: the recurrent state is
carried across batches), and keep the best pipeline as a spaCy pipeline directory.

Checkpoints are written atomically (`spacy_rnn.checkpoints`), so a crash never leaves a missing
or half-written `model-best`; a run that starts replaces the previous run's checkpoints, and one
that diverges (`TrainingDiverged`) keeps the last good one.
"""
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Dict, Sequence

import torch
from spacy.attrs import ORTH
from spacy.language import Language

from ..checkpoints import recover_checkpoint, save_atomically
from .trainer import LMTrainingSettings, fit_language_model
from .vocab import EOS, UNK, Vocabulary


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
    for name in ("model-best", "model-last"):  # a run replaces the previous run's checkpoints
        recover_checkpoint(output_dir / name)
        shutil.rmtree(output_dir / name, ignore_errors=True)
    record = fit_language_model(
        lm.net,
        torch.tensor([vocab.eos_id] + vocab.encode(train_sentences), dtype=torch.long),
        [vocab.eos_id] + vocab.encode(dev_sentences),
        settings,
        output_dir,
        max_grad_norm=lm.cfg["max_grad_norm"],
        chunk_size=lm.model.attrs["chunk_size"],
        on_improve=lambda: save_atomically(nlp, output_dir / "model-best"),
        device=device,
    )
    lm.net.to("cpu")
    save_atomically(nlp, output_dir / "model-last")
    reading = {key: lm.model.attrs[key] for key in ("chunk_size", "max_batch_docs")}
    return {**record, "model": {**asdict(lm.net.settings), **reading}, "vocabulary_size": len(vocab)}
