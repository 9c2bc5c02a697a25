"""The Typer app every command module registers on, and what the commands share: failing
with a message, checking counts and parsing NAME=PATH arguments. Imports nothing heavy."""
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import typer
from typer.core import TyperGroup

from ..errors import first_line
from ..extras import MissingExtraError


def fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


def load_pipeline(model):
    """spacy.load(model) (a folder or an installed package name), failing with one line for
    anything that is not a loadable pipeline."""
    from ..checkpoints import load_pipeline as load

    try:
        return load(model)
    except OSError as err:
        fail(
            f"{model} is not a saved pipeline ({first_line(err)}): give a folder written by nlp.to_disk "
            f"(e.g. training/ner/model-best) or an installed pipeline package"
        )
    except ValueError as err:  # e.g. a config that does not validate, an unregistered factory
        fail(f"cannot load the pipeline {model}: {first_line(err)}")


def spacy_cli_util():
    """spaCy's helpers for commands that read a config as `spacy train` does: parse_config_overrides
    (`--section.key value` arguments and $SPACY_CONFIG_OVERRIDES), setup_gpu and
    show_validation_error. spaCy has no public home for them (they live in its private
    `spacy.cli._util`), so this is the one place that reaches them; imported when a command runs,
    as spaCy is slow to import."""
    from spacy.cli import _util

    return _util


def label_names(option: str, value: Optional[str]) -> Optional[List[str]]:
    """The comma-separated label names of a converter's --labels option (None when not given),
    failing on an empty or repeated name: each would become a category of every document."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",")]
    if "" in names:
        fail(f"{option} {value!r}: empty label name at position {names.index('') + 1}; give distinct names separated by commas")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        fail(f"{option} {value!r}: {', '.join(repeated)} given more than once; give distinct names separated by commas")
    return names


class _Commands(TyperGroup):
    """The app's commands; one that needs an extra that is not installed fails with the
    MissingExtraError's one line (which extra, which pip command), not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MissingExtraError as err:
            fail(str(err))


def make_app(help: str) -> typer.Typer:
    """A Typer app whose commands fail with one line when an extra is missing (the library's
    app below, and the lab's)."""
    return typer.Typer(cls=_Commands, help=help, no_args_is_help=True, add_completion=False)


app = make_app("spaCy components on PyTorch recurrent networks: convert a corpus, build vectors, train, "
               "evaluate, calibrate and run a pipeline.")


def converted(convert, *args, **kwargs):
    """convert(*args, **kwargs), failing with the message of a CorpusFormatError (or any
    other ValueError: a bad option value) instead of a traceback."""
    try:
        return convert(*args, **kwargs)
    except ValueError as err:  # CorpusFormatError is a ValueError
        fail(str(err))


def expect_counts_option():
    """The --expect-counts option of the converters."""
    return typer.Option(
        None,
        "--expect-counts",
        help="Fail unless every count of this entry of spacy_rnn.corpora.counts.COUNTS "
        "(the published sizes, e.g. ud_en_ewt/train) is found",
    )


def expectations(published: Optional[str], **options: Optional[int]) -> List[Tuple[str, int]]:
    """The (unit, count) pairs a conversion must produce: the --expect-* options given (None:
    unchecked) and, with published, every count of COUNTS[published]. The option names are
    the units the command reports; fails before any work for an unknown entry or one with a
    unit the command does not report."""
    expected = [(unit, value) for unit, value in options.items() if value is not None]
    if published is None:
        return expected
    from ..corpora.counts import expected_counts

    try:
        entry = expected_counts(published)
    except ValueError as err:
        fail(str(err))
    unknown = sorted(set(entry) - set(options))
    if unknown:
        fail(f"--expect-counts {published}: this command does not count {', '.join(unknown)}")
    return expected + list(entry.items())


def check_counts(found: Dict[str, int], expected: List[Tuple[str, int]]) -> None:
    """Fail at the first (unit, count) of expected that differs from found[unit]."""
    for unit, count in expected:
        if found[unit] != count:
            fail(f"expected {count:,} {unit}, found {found[unit]:,}")


def split_arg(arg: str) -> Tuple[str, Path]:
    """NAME=PATH (PATH an existing file) as (NAME, Path(PATH))."""
    name, sep, path = arg.partition("=")
    if not sep or not Path(path).is_file():
        fail(f"--split takes NAME=PATH with an existing file, got {arg!r}")
    return name, Path(path)


def echo_scores(scores: Dict[str, float], report_path: Path, only: str = "") -> None:
    """One line per score whose key contains only, then where the report is."""
    for key, value in scores.items():
        if only in key:
            typer.echo(f"{key:40s} {value:6.2f}")
    typer.echo(f"report -> {report_path}")


def echo_textcat(name: str, unit: str, stats, output_path: Path) -> None:
    """One line on a converted text classification corpus (a TextcatStats)."""
    labels = ", ".join(f"{label} {count:,}" for label, count in stats.label_counts.items())
    typer.echo(
        f"{name}: {stats.n_read:,} {unit} -> {stats.n_docs:,} docs, {stats.n_tokens:,} tokens "
        f"({labels}) -> {output_path}"
    )
