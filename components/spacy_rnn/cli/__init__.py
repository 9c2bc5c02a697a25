"""The project's command line: `python -m spacy_rnn COMMAND --help` (or `spacy-rnn COMMAND`).

Heavy libraries (torch, spaCy, datasets) are imported inside the commands, so `--help` is
instant. Every command that measures something writes JSON + markdown reports. The commands
live in one module per concern and register on the one Typer app (see _common): corpora
(fetch and convert corpus files), hf (convert Hugging Face datasets), vectors, train,
evaluate, benchmark, lm, diagnostics, calibration, core (the assembled pipeline: vectors
pruning, the size/accuracy curve, its report and a demo) continued (continued training) and comparison
(BiLSTM against Transformer encoders).
"""
import sys
from typing import List, Optional

# Imported for their commands, in the order --help lists them (the workflow's order).
from . import corpora, hf, vectors, train, evaluate, benchmark, lm, diagnostics, calibration, core, continued, comparison  # noqa: F401, I001
from ._common import app

__all__ = ["app", "main"]


def main(argv: Optional[List[str]] = None) -> None:
    app(args=argv if argv is not None else sys.argv[1:], prog_name="python -m spacy_rnn")
