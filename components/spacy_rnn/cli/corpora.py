"""Corpus commands: fetch-corpus, and the converters of corpus files to spaCy DocBins
(convert-conllu, convert-conll2003, convert-sst, convert-sst2, convert-imdb, convert-lm-text),
and of users' files (convert-columns, convert-jsonl).

Every converter checks counts given as --expect-* options or, with --expect-counts NAME,
the published ones of spacy_rnn.corpora.counts (what project.yml uses)."""
from pathlib import Path
from typing import Optional

import typer

from ..corpora.counts import IMDB_DEV_SEED, IMDB_DEV_SIZE
from .common import app, check_counts, converted, echo_textcat, expect_counts_option, expectations, fail, first_line, label_names


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
    from ..corpora import CorpusIntegrityError
    from ..corpora.fetch import fetch_corpus, load_corpus_declarations, resolve_mirror

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
    expect_counts: Optional[str] = expect_counts_option(),
) -> None:
    """Convert CoNLL-U (UPOS -> token.pos_, XPOS -> token.tag_, sentences) to a spaCy DocBin."""
    from ..corpora.conllu import convert_conllu

    if n_sents < 1:
        fail(f"--n-sents must be at least 1, got {n_sents}")
    expected = expectations(expect_counts, sentences=expect_sentences, tokens=expect_tokens)
    stats = converted(convert_conllu, input_path, output_path, n_sents=n_sents)
    typer.echo(
        f"{input_path.name}: {stats.n_sentences:,} sentences, {stats.n_tokens:,} tokens "
        f"in {stats.n_docs:,} docs -> {output_path}"
    )
    check_counts({"sentences": stats.n_sentences, "tokens": stats.n_tokens}, expected)


@app.command("convert-conll2003")
def convert_conll2003_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CoNLL-2003 file (eng.train, ...)"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    expect_sentences: Optional[int] = typer.Option(None, help="Fail unless this many sentences are read"),
    expect_tokens: Optional[int] = typer.Option(None, help="Fail unless this many tokens are read"),
    expect_entities: Optional[int] = typer.Option(None, help="Fail unless this many entities are read"),
    expect_counts: Optional[str] = expect_counts_option(),
) -> None:
    """Convert CoNLL-2003 NER (IOB1 -> doc.ents, POS -> token.tag_, one Doc per -DOCSTART-) to a spaCy DocBin."""
    from ..corpora.conll2003 import convert_conll2003

    expected = expectations(
        expect_counts, sentences=expect_sentences, tokens=expect_tokens, entities=expect_entities, docs=None
    )
    stats = converted(convert_conll2003, input_path, output_path)
    typer.echo(
        f"{input_path.name}: {stats.n_sentences:,} sentences, {stats.n_tokens:,} tokens, "
        f"{stats.n_entities:,} entities in {stats.n_docs:,} docs -> {output_path}"
    )
    found = {"sentences": stats.n_sentences, "tokens": stats.n_tokens, "entities": stats.n_entities}
    check_counts({**found, "docs": stats.n_docs}, expected)


@app.command("convert-sst")
def convert_sst_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="SST tree file (train.txt, dev.txt, test.txt)"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    granularity: str = typer.Option("fine", help="fine: 5 labels (SST-5); binary: negative/positive, neutral dropped"),
    phrases: bool = typer.Option(False, "--phrases", help="One Doc per labelled node (every subtree), not per sentence"),
    dedupe: bool = typer.Option(False, "--dedupe", help="With --phrases: keep only the first occurrence of each phrase"),
    expect_sentences: Optional[int] = typer.Option(None, help="Fail unless the file holds this many trees"),
    expect_docs: Optional[int] = typer.Option(None, help="Fail unless this many Docs are written"),
    expect_counts: Optional[str] = expect_counts_option(),
) -> None:
    """Convert Stanford Sentiment Treebank trees to a spaCy DocBin with exclusive doc.cats (leaves as tokens)."""
    from ..corpora.sst import GRANULARITIES, convert_sst

    if granularity not in GRANULARITIES:
        fail(f"--granularity must be one of {', '.join(GRANULARITIES)}, not {granularity!r}")
    expected = expectations(expect_counts, sentences=expect_sentences, docs=expect_docs)
    stats = converted(convert_sst, input_path, output_path, granularity, phrases, dedupe)
    echo_textcat(input_path.name, "sentences", stats, output_path)
    check_counts({"sentences": stats.n_read, "docs": stats.n_docs}, expected)


@app.command("convert-sst2")
def convert_sst2_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="GLUE SST-2 train.tsv or dev.tsv"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    expect: Optional[int] = typer.Option(None, help="Fail unless this many rows are read"),
    expect_counts: Optional[str] = expect_counts_option(),
) -> None:
    """Convert GLUE SST-2 TSV (sentence, label 0/1) to a spaCy DocBin with exclusive doc.cats."""
    from ..corpora.sst2 import convert_sst2

    expected = expectations(expect_counts, rows=expect)
    stats = converted(convert_sst2, input_path, output_path)
    echo_textcat(input_path.name, "rows", stats, output_path)
    check_counts({"rows": stats.n_read}, expected)


@app.command("convert-imdb")
def convert_imdb_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="IMDB JSON lines (.jsonl or .jsonl.gz)"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    dev_output: Optional[Path] = typer.Option(None, help="Split a dev set off into this DocBin (training file only)"),
    dev_size: int = typer.Option(IMDB_DEV_SIZE, help="Reviews in the dev set (label-stratified)"),
    seed: int = typer.Option(IMDB_DEV_SEED, help="Seed of the dev sample"),
    expect: Optional[int] = typer.Option(None, help="Fail unless the file holds this many reviews"),
    expect_counts: Optional[str] = expect_counts_option(),
) -> None:
    """Convert IMDB reviews (<br /> tags -> whitespace) to a spaCy DocBin with exclusive doc.cats,
    optionally carving a seeded, label-stratified dev set out of them."""
    from ..corpora.imdb import convert_imdb

    expected = expectations(expect_counts, reviews=expect)
    stats, dev_stats = converted(convert_imdb, input_path, output_path, dev_output, dev_size, seed)
    echo_textcat(input_path.name, "reviews", stats, output_path)
    if dev_stats is not None:
        echo_textcat(f"{input_path.name} (dev, seed {seed})", "reviews", dev_stats, dev_output)
    check_counts({"reviews": stats.n_read}, expected)


@app.command("convert-lm-text")
def convert_lm_text_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Text file, one sentence a line (ptb.test.txt, ...)"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write, one Doc per sentence"),
    expect_tokens: Optional[int] = typer.Option(None, help="Fail unless words + one <eos> per sentence add up to this"),
    expect_counts: Optional[str] = expect_counts_option(),
) -> None:
    """Convert a language-modelling text file to a DocBin for `spacy evaluate` (lm_perplexity)."""
    from ..corpora.ptb import convert_lm_text

    expected = expectations(expect_counts, tokens=expect_tokens)
    n_tokens = converted(convert_lm_text, input_path, output_path)
    typer.echo(f"{input_path.name}: {n_tokens:,} tokens (words + <eos>) -> {output_path}")
    check_counts({"tokens": n_tokens}, expected)


@app.command("convert-columns")
def convert_columns_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Token-per-line file (CoNLL-style columns)"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    token_column: int = typer.Option(0, help="Column of the token (negative: from the end)"),
    tag_column: int = typer.Option(-1, help="Column of the entity tag (negative: from the end)"),
    scheme: str = typer.Option("auto", help="auto, iob1, iob2 (BIO) or bioes (BILUO); an explicit scheme is checked"),
    separator: str = typer.Option("auto", help="auto (tabs when the first token line has one), tab or space"),
    n_sents: int = typer.Option(10, help="Sentences per Doc when the file has no -DOCSTART- lines"),
) -> None:
    """Convert a token-per-line NER file (any columns; IOB1, IOB2/BIO or BIOES/BILUO tags) to a spaCy DocBin."""
    from ..corpora.columns import SCHEMES, SEPARATORS, convert_columns

    if scheme not in SCHEMES or separator not in SEPARATORS or n_sents < 1:
        fail(f"--scheme must be one of {', '.join(SCHEMES)}, --separator one of {', '.join(SEPARATORS)}, --n-sents >= 1")
    options = dict(token_column=token_column, tag_column=tag_column, scheme=scheme, separator=separator, n_sents=n_sents)
    stats, read_scheme = converted(convert_columns, input_path, output_path, **options)
    typer.echo(
        f"{input_path.name} ({read_scheme}): {stats.n_sentences:,} sentences, {stats.n_tokens:,} tokens, "
        f"{stats.n_entities:,} entities in {stats.n_docs:,} docs -> {output_path}"
    )


@app.command("convert-jsonl")
def convert_jsonl_cmd(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help='JSON lines: {"text", "spans": [{"start", "end", "label"}]} or {"text", "label"}'),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    task: Optional[str] = typer.Option(None, help="ner (character-offset spans -> doc.ents) or textcat (label -> exclusive doc.cats); default: from the first record"),
    lang: str = typer.Option("en", help="Language whose tokenizer splits the texts"),
    alignment_mode: str = typer.Option("strict", help="ner: strict (a span off token boundaries fails) or expand (widened to whole tokens)"),
    labels: Optional[str] = typer.Option(None, help="textcat: the classes, comma-separated (default: those in the file); give them for train and dev alike"),
) -> None:
    """Convert annotation-tool JSON lines (NER spans or one class per text) to a spaCy DocBin."""
    import spacy

    from ..corpora import CorpusFormatError
    from ..corpora.jsonl import ALIGNMENT_MODES, convert_label_jsonl, convert_span_jsonl, detect_task

    try:
        spacy.blank(lang)  # an unknown code, or a language whose tokenizer needs a package not installed
    except ImportError as err:
        fail(f"--lang {lang!r}: {first_line(err)}; give a language spaCy can load, e.g. en, de, fr, or xx (multi-language)")
    if task is None:
        try:
            task = detect_task(input_path)
        except CorpusFormatError as err:
            fail(str(err))
        typer.echo(f"{input_path.name}: task {task} (from its first record)")
    if task == "ner":
        if alignment_mode not in ALIGNMENT_MODES:
            fail(f"--alignment-mode must be one of {', '.join(ALIGNMENT_MODES)}, not {alignment_mode!r}")
        stats, n_skipped = converted(convert_span_jsonl, input_path, output_path, lang, alignment_mode)
        typer.echo(f"{input_path.name}: {stats.n_tokens:,} tokens, {stats.n_entities:,} entities in {stats.n_docs:,} docs -> {output_path}")
    elif task == "textcat":
        label_list = label_names("--labels", labels)
        stats, n_skipped = converted(convert_label_jsonl, input_path, output_path, lang, label_list)
        echo_textcat(input_path.name, "records", stats, output_path)
    else:
        fail(f"--task must be ner or textcat, not {task!r}")
    if n_skipped:
        typer.echo(f"skipped {n_skipped:,} records whose \"answer\" is not \"accept\"")
