"""The lab's command line: `python -m spacy_rnn_lab COMMAND --help` (or `spacy-rnn-lab COMMAND`).

The commands that measure the project (reports/ is written by them) rather than serve a user's
own data; the user's commands are `python -m spacy_rnn`. One module per concern, in the order
--help lists them: benchmark (speed, ablations), core (the core pipeline's report, the vectors
size curve), vectors (the int8 table's report), comparison (BiLSTM against Transformer
encoders), continued (continued training), custom (the custom route timed), diagnostics, gpu (the GPU check).
"""
import sys
from typing import List, Optional

from . import benchmark, core, vectors, comparison, continued, custom, diagnostics, gpu  # noqa: F401, I001
from .app import app

__all__ = ["app", "main"]


def main(argv: Optional[List[str]] = None) -> None:
    app(args=argv if argv is not None else sys.argv[1:], prog_name="python -m spacy_rnn_lab")
