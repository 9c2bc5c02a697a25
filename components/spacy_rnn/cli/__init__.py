"""The library's command line: `python -m spacy_rnn COMMAND --help` (or `spacy-rnn COMMAND`).

The commands a user runs on their own data and models. Heavy libraries (torch, spaCy, datasets)
are imported inside the commands, so `--help` is instant. One module per concern, registered on
the one Typer app of `common`, in the order --help lists them: corpora (fetch and convert corpus
files), hf (convert Hugging Face datasets), vectors (build, compact), train, evaluate, lm (the
language models: n-gram baseline, training, evaluation), calibration, share (a model card, the
Hub, a Transformer in the Hugging Face format), core (prune a pipeline's vectors, a demo), annotate
(a pipeline over a corpus of any size). The project's research commands (benchmarks, diagnostics, comparison,
ablations) are the lab's: `python -m spacy_rnn_lab`.
"""
import sys
from typing import List, Optional

# Imported for their commands, in the order --help lists them (the workflow's order).
from . import corpora, hf, vectors, train, evaluate, lm, calibration, share, core, annotate  # noqa: F401, I001
from .common import app

__all__ = ["app", "main"]


def main(argv: Optional[List[str]] = None) -> None:
    app(args=argv if argv is not None else sys.argv[1:], prog_name="python -m spacy_rnn")
