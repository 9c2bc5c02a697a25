"""`spacy_rnn.TrainingLogger.v1`: spaCy's console log, plus a JSON-lines log that also records
each torch component's gradient norms, so exploding gradients and clipping can be seen."""
import statistics
import sys
from pathlib import Path
from typing import IO, Callable, Dict, Optional, Tuple

import srsly
from spacy.language import Language
from spacy.training.loggers import console_logger_v3
from spacy.util import registry

from .pipes.base import TorchPipe


@registry.loggers("spacy_rnn.TrainingLogger.v1")
def training_logger(
    progress_bar: Optional[str] = "eval", console_output: bool = True, output_file: Optional[str] = None
) -> Callable:
    """Console output as `spacy.ConsoleLogger.v3`. With `output_file`, one JSON line per
    evaluation: epoch, step, losses, dev scores (percent) and, per torch component, the gradient
    L2 norm before clipping over the steps since the previous evaluation (mean, max, the
    clipping threshold and how many steps were clipped)."""
    console = console_logger_v3(progress_bar=progress_bar, console_output=console_output, output_file=None)

    def setup(nlp: Language, stdout: IO = sys.stdout, stderr: IO = sys.stderr) -> Tuple[Callable, Callable]:
        log_console, finalize_console = console(nlp, stdout, stderr)
        torch_pipes = [(name, pipe) for name, pipe in nlp.components if isinstance(pipe, TorchPipe)]
        score_cols = [col for col, weight in nlp.config["training"]["score_weights"].items() if weight is not None]
        stream = None
        if output_file:
            Path(output_file).parent.mkdir(parents=True, exist_ok=True)
            stream = Path(output_file).open("w", encoding="utf8")

        def log_step(info: Optional[Dict]) -> None:
            log_console(info)
            if info is None or stream is None:
                return
            record = {
                "epoch": info["epoch"],
                "step": info["step"],
                "losses": {name: float(loss) for name, loss in info["losses"].items() if name in nlp.pipe_names},
                "scores": {col: 100 * float(info["other_scores"].get(col, 0.0) or 0.0) for col in score_cols},
                "score": float(info["score"]),
                "grad_norms": {name: _summary(pipe) for name, pipe in torch_pipes},
            }
            stream.write(srsly.json_dumps(record) + "\n")
            stream.flush()

        def finalize() -> None:
            finalize_console()
            if stream is not None:
                stream.close()

        return log_step, finalize

    return setup


def _summary(pipe: TorchPipe) -> Optional[Dict]:
    norms = pipe.drain_grad_norms()
    if not norms:
        return None
    clip = pipe.cfg["max_grad_norm"]
    return {
        "mean": statistics.fmean(norms),
        "max": max(norms),
        "clip": clip,
        "n_steps": len(norms),
        "n_clipped": sum(norm > clip for norm in norms),
    }
