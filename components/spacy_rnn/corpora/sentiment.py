"""Sentiment corpora as spaCy Docs with doc.cats, for text classification.

Readers for the Stanford Sentiment Treebank trees (SST-5 and binary SST, sentences or every
labelled phrase), GLUE's SST-2 TSV files, the IMDB reviews (gzipped JSON lines) and Hugging
Face datasets with a text and a label column.

Output contract (what the text classifier relies on): one Doc per text; doc.cats holds every
label of the corpus, 1.0 for the gold label and 0.0 for all others (mutually exclusive).
Label names are BINARY_LABELS ("negative", "positive") for SST-2, binary SST and IMDB, and
FINE_LABELS ("very negative" ... "very positive") for SST-5. SST trees keep their leaves as
tokens (PTB escapes such as -LRB- undone; `` and '' kept, as in GLUE's SST-2); raw text is
tokenised by spacy.blank("en") after clean_text: "<br />" tags become whitespace and every
run of whitespace becomes one space, so no Doc has whitespace tokens.
"""
import gzip
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from . import CorpusFormatError

BINARY_LABELS = ("negative", "positive")
FINE_LABELS = ("very negative", "negative", "neutral", "positive", "very positive")
# Label spellings of other distributions (IMDB, the hub's "imdb") -> ours.
LABEL_ALIASES = {"neg": "negative", "pos": "positive"}
GRANULARITIES = ("fine", "binary")

# Published sizes: SST sentences per split, and those whose root is not neutral (binary).
SST_SENTENCES = {"train": 8544, "dev": 1101, "test": 2210}
SST_BINARY_SENTENCES = {"train": 6920, "dev": 872, "test": 1821}
SST2_ROWS = {"train": 67349, "dev": 872}
IMDB_REVIEWS = {"train": 25000, "test": 25000}
IMDB_DEV_SIZE = 2500
IMDB_DEV_SEED = 0

_PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_BACKSLASH_ESCAPE = re.compile(r"\\([/*])")
# Tree tokens: brackets and atoms. Atoms end at ASCII whitespace only: SST has leaves such as
# "8\xa01\/2" with a no-break space inside one word.
_TREE_TOKEN = re.compile(r"[()]|[^ \t\r\n()]+")
_BR_TAG = re.compile(r"<br\s*/?\s*>", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_SST2_HEADER = ["sentence", "label"]


@dataclass
class TextcatStats:
    """Sizes of a converted text classification corpus.

    n_read counts the units of the input (trees, TSV rows, reviews, dataset rows); n_docs the
    Docs written, which differs where neutral sentences are dropped, phrases are expanded or a
    dev set is split off.
    """

    n_read: int = 0
    n_docs: int = 0
    n_tokens: int = 0
    label_counts: Dict[str, int] = field(default_factory=dict)


def clean_text(text: str) -> str:
    """Raw text as it is tokenised: "<br />" tags (any case, with or without the slash)
    become whitespace, whitespace runs become one space, and the ends are stripped."""
    return _WHITESPACE.sub(" ", _BR_TAG.sub(" ", text)).strip()


def exclusive_cats(label: str, labels: Sequence[str]) -> Dict[str, float]:
    """doc.cats for one gold label: 1.0 for it, 0.0 for every other label.
    Raises ValueError if label is not one of labels."""
    if label not in labels:
        raise ValueError(f"label {label!r} is not one of {list(labels)}")
    return {name: 1.0 if name == label else 0.0 for name in labels}


def write_textcat_docbin(docs: Iterable[Doc], output_path: Union[str, Path]) -> TextcatStats:
    """Save docs as a DocBin at output_path (creating its folder) and count docs, tokens and
    gold labels (the label whose cat is 1.0). n_read is left 0 for the caller to set."""
    doc_bin = DocBin(store_user_data=False)
    stats = TextcatStats()
    labels: Counter = Counter()
    for doc in docs:
        doc_bin.add(doc)
        stats.n_docs += 1
        stats.n_tokens += len(doc)
        labels[max(doc.cats, key=doc.cats.get)] += 1
    stats.label_counts = dict(sorted(labels.items()))
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    doc_bin.to_disk(output_path)
    return stats


def _words_doc(vocab: Vocab, words: List[str], label: str, labels: Sequence[str]) -> Doc:
    doc = Doc(vocab, words=words, spaces=[True] * (len(words) - 1) + [False])
    doc.cats = exclusive_cats(label, labels)
    return doc


def _text_doc(nlp: Language, text: str, label: str, labels: Sequence[str]) -> Doc:
    doc = nlp.make_doc(text)
    doc.cats = exclusive_cats(label, labels)
    return doc


class _Counted:
    """Iterate over items and count them (the n_read of a conversion)."""

    def __init__(self, items: Iterable) -> None:
        self.items = iter(items)
        self.count = 0

    def __iter__(self):
        for item in self.items:
            self.count += 1
            yield item


# The Stanford Sentiment Treebank: one PTB-style tree a line, a 0-4 label on every node.


class SSTTree(NamedTuple):
    """One parsed tree: its leaf words (unescaped) and every node as (start, end, label),
    end exclusive and label 0-4, in pre-order: the root, (0, len(words), root label), first."""

    words: List[str]
    nodes: List[Tuple[int, int, int]]

    @property
    def label(self) -> int:
        return self.nodes[0][2]


def unescape_ptb(word: str) -> str:
    """Undo the treebank escapes of a leaf: -LRB- -> "(", -RRB- -> ")" (and the square and
    curly bracket forms), "\\/" -> "/" and "\\*" -> "*". Quotes `` and '' stay as they are."""
    return _PTB_ESCAPES.get(word, None) or _BACKSLASH_ESCAPE.sub(r"\1", word)


def parse_sst_tree(text: str) -> SSTTree:
    """Parse one bracketed tree such as "(3 (2 It) (4 (4 works) (2 .)))".

    A node is "(" label ")" around either exactly one word (a leaf) or one or more subtrees;
    labels are the integers 0-4. Raises ValueError, naming the 1-based character position,
    for anything else: unbalanced brackets, a missing or invalid label, a node with several
    words or with both words and subtrees, an empty node, text around the tree.
    """
    words: List[str] = []
    nodes: List[List[int]] = []
    stack: List[dict] = []  # open nodes: index into nodes, labelled?, children, has word
    done = False
    for match in _TREE_TOKEN.finditer(text):
        token, column = match.group(), match.start() + 1
        if done:
            raise ValueError(f"text after the end of the tree at character {column}")
        if token == "(":
            if stack:
                parent = stack[-1]
                if not parent["labelled"]:
                    raise ValueError(f"missing label before '(' at character {column}")
                if parent["word"]:
                    raise ValueError(f"node mixes a word and subtrees at character {column}")
                parent["children"] += 1
            stack.append({"index": len(nodes), "labelled": False, "children": 0, "word": False})
            nodes.append([len(words), -1, -1])
        elif token == ")":
            if not stack:
                raise ValueError(f"unbalanced ')' at character {column}")
            node = stack.pop()
            if not node["labelled"]:
                raise ValueError(f"node without a label at character {column}")
            if not node["word"] and not node["children"]:
                raise ValueError(f"node without a word or subtrees at character {column}")
            nodes[node["index"]][1] = len(words)
            done = not stack
        else:
            if not stack:
                raise ValueError(f"text outside brackets at character {column}: {token!r}")
            node = stack[-1]
            if not node["labelled"]:
                if token not in {"0", "1", "2", "3", "4"}:
                    raise ValueError(f"invalid label {token!r} at character {column} (expected 0-4)")
                nodes[node["index"]][2] = int(token)
                node["labelled"] = True
            elif node["children"]:
                raise ValueError(f"node mixes subtrees and a word at character {column}: {token!r}")
            elif node["word"]:
                raise ValueError(f"leaf with more than one word at character {column}: {token!r}")
            else:
                node["word"] = True
                words.append(unescape_ptb(token))
    if stack:
        raise ValueError(f"{len(stack)} unclosed '(' at the end of the line")
    if not done:
        raise ValueError("no tree on the line")
    return SSTTree(words, [(start, end, label) for start, end, label in nodes])


def read_sst_trees(path: Union[str, Path]) -> Iterator[SSTTree]:
    """Stream the trees of a UTF-8 SST file (train.txt, dev.txt, test.txt), one per line.

    Blank lines are skipped. Raises CorpusFormatError ("file:line: ...") for a malformed
    tree (see parse_sst_tree) and for a file without trees.
    """
    path = Path(path)
    n_trees = 0
    with path.open(encoding="utf8") as file_:
        for line_no, line in enumerate(file_, start=1):
            if not line.strip():
                continue
            try:
                tree = parse_sst_tree(line)
            except ValueError as err:
                raise CorpusFormatError(path, line_no, f"malformed tree: {err}") from None
            n_trees += 1
            yield tree
    if not n_trees:
        raise CorpusFormatError(path, 1, "no trees in the file")


def sst_label(label: int, granularity: str) -> Optional[str]:
    """The label name of an SST node label (0-4): FINE_LABELS[label] for "fine"; for
    "binary", "negative" (0, 1), "positive" (3, 4) or None for neutral (2)."""
    if granularity == "fine":
        return FINE_LABELS[label]
    if granularity == "binary":
        return None if label == 2 else BINARY_LABELS[label > 2]
    raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")


def sst_examples(
    trees: Iterable[SSTTree], granularity: str = "fine", phrases: bool = False, dedupe: bool = False
) -> Iterator[Tuple[List[str], str]]:
    """(words, label name) per sentence, or with phrases=True per labelled node of every tree
    (the sentence first, then its phrases in pre-order, single words included).

    Binary granularity drops neutral sentences and phrases. By default a phrase is yielded
    once per node, repeats across trees included, as the literature counts them (SST train:
    318,582 nodes, 98,794 non-neutral). With phrases and dedupe, a phrase (word sequence) is
    yielded only at its first occurrence in the file: SST labels each distinct phrase once, so
    repeats carry the same label (a repeat with another label would be dropped too; the real
    files have none). Sentences are never deduplicated, so the 12 training sentences that occur
    twice stay (train: 159,286 docs, 77,626 non-neutral).
    """
    sst_label(2, granularity)  # validates granularity
    seen = set()
    for tree in trees:
        spans = tree.nodes if phrases else tree.nodes[:1]
        for i, (start, end, fine_label) in enumerate(spans):
            label = sst_label(fine_label, granularity)
            if label is None:
                continue
            words = tree.words[start:end]
            if phrases and dedupe:
                key = tuple(words)
                if key in seen and i > 0:
                    continue
                seen.add(key)
            yield words, label


def docs_from_sst(
    trees: Iterable[SSTTree],
    vocab: Vocab,
    granularity: str = "fine",
    phrases: bool = False,
    dedupe: bool = False,
) -> Iterator[Doc]:
    """One Doc per example of sst_examples, its words the tree's leaves, with exclusive cats
    over FINE_LABELS ("fine") or BINARY_LABELS ("binary")."""
    labels = FINE_LABELS if granularity == "fine" else BINARY_LABELS
    for words, label in sst_examples(trees, granularity, phrases, dedupe):
        yield _words_doc(vocab, words, label, labels)


def convert_sst(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    granularity: str = "fine",
    phrases: bool = False,
    dedupe: bool = False,
) -> TextcatStats:
    """Convert an SST tree file to a .spacy DocBin (see docs_from_sst); n_read is the number
    of trees (sentences) in the file."""
    sst_label(2, granularity)  # validates granularity before any work
    trees = _Counted(read_sst_trees(input_path))
    stats = write_textcat_docbin(docs_from_sst(trees, Vocab(), granularity, phrases, dedupe), output_path)
    stats.n_read = trees.count
    return stats


# GLUE SST-2: TSV with the header "sentence<TAB>label", labels 0 (negative) and 1 (positive).


def read_sst2_tsv(path: Union[str, Path]) -> Iterator[Tuple[str, str]]:
    """Stream (sentence, label name) from a GLUE SST-2 train.tsv or dev.tsv (UTF-8).

    The first line must be the header "sentence<TAB>label"; every other line holds a sentence
    and the label 0 or 1, separated by one tab. The sentence is cleaned by clean_text (GLUE
    leaves a trailing space). Raises CorpusFormatError ("file:line: ...") for a wrong header,
    a line without exactly two columns, a label other than 0 or 1, an empty sentence and a
    file without rows. GLUE's unlabelled test.tsv ("index<TAB>sentence") is rejected.
    """
    path = Path(path)
    with path.open(encoding="utf8", newline="") as file_:
        header = file_.readline().rstrip("\r\n")
        if header.split("\t") != _SST2_HEADER:
            raise CorpusFormatError(path, 1, f"expected the header 'sentence\\tlabel', found {header!r}")
        n_rows = 0
        for line_no, line in enumerate(file_, start=2):
            line = line.rstrip("\r\n")
            columns = line.split("\t")
            if len(columns) != 2:
                raise CorpusFormatError(
                    path, line_no, f"expected 2 tab-separated columns (sentence, label), found {len(columns)}"
                )
            sentence, label = clean_text(columns[0]), columns[1].strip()
            if label not in {"0", "1"}:
                raise CorpusFormatError(path, line_no, f"invalid label {label!r} (expected 0 or 1)")
            if not sentence:
                raise CorpusFormatError(path, line_no, "empty sentence")
            n_rows += 1
            yield sentence, BINARY_LABELS[int(label)]
    if not n_rows:
        raise CorpusFormatError(path, 1, "no rows after the header")


def convert_sst2(
    input_path: Union[str, Path], output_path: Union[str, Path], nlp: Optional[Language] = None
) -> TextcatStats:
    """Convert a GLUE SST-2 TSV file to a .spacy DocBin, one Doc per row, tokenised by
    spacy.blank("en") (or nlp), with exclusive cats over BINARY_LABELS."""
    nlp = nlp if nlp is not None else spacy.blank("en")
    rows = _Counted(read_sst2_tsv(input_path))
    docs = (_text_doc(nlp, text, label, BINARY_LABELS) for text, label in rows)
    stats = write_textcat_docbin(docs, output_path)
    stats.n_read = rows.count
    return stats


# IMDB (Maas et al. 2011): gzipped JSON lines {"id", "label": "pos"|"neg", "rating", "text"}.


class Review(NamedTuple):
    id: str
    label: str  # "negative" or "positive"
    text: str  # cleaned by clean_text


def read_imdb_jsonl(path: Union[str, Path]) -> Iterator[Review]:
    """Stream the reviews of an IMDB JSON-lines file (gzipped if the name ends in .gz).

    Each line is an object with a string "text" and a "label" "pos" or "neg" (returned as
    "positive"/"negative"); "id" is kept as a string and "rating" is not read. The text is
    cleaned by clean_text. Blank lines are skipped. Raises CorpusFormatError ("file:line: ...")
    for invalid JSON, a missing or invalid text or label, a text that is empty once cleaned
    and a file without reviews.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    n_reviews = 0
    with opener(path, "rt", encoding="utf8") as file_:
        for line_no, line in enumerate(file_, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise CorpusFormatError(path, line_no, f"invalid JSON: {err}") from None
            if not isinstance(record, dict):
                raise CorpusFormatError(path, line_no, "expected a JSON object")
            label = record.get("label")
            if label not in ("pos", "neg"):
                raise CorpusFormatError(path, line_no, f"invalid label {label!r} (expected 'pos' or 'neg')")
            text = record.get("text")
            if not isinstance(text, str):
                raise CorpusFormatError(path, line_no, "missing or non-string 'text'")
            text = clean_text(text)
            if not text:
                raise CorpusFormatError(path, line_no, "empty text")
            n_reviews += 1
            yield Review(str(record.get("id", line_no)), LABEL_ALIASES[label], text)
    if not n_reviews:
        raise CorpusFormatError(path, 1, "no reviews in the file")


def stratified_dev_indices(labels: Sequence[str], dev_size: int, seed: int) -> List[int]:
    """Sorted indices of a seeded, label-stratified sample of dev_size items.

    Each label gets dev_size * its share of the items, rounded by largest remainder (ties to
    the label first in sorted order), and its items are drawn with random.Random(seed).sample
    from that label's items in input order, labels in sorted order. The same labels, size and
    seed always give the same indices. Raises ValueError unless 0 < dev_size < len(labels).
    """
    if not 0 < dev_size < len(labels):
        raise ValueError(f"dev size must be between 1 and {len(labels) - 1}, not {dev_size}")
    by_label: Dict[str, List[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    names = sorted(by_label)
    exact = {name: dev_size * len(by_label[name]) / len(labels) for name in names}
    quotas = {name: int(exact[name]) for name in names}
    by_remainder = sorted(names, key=lambda name: (-(exact[name] - quotas[name]), name))
    for name in by_remainder[: dev_size - sum(quotas.values())]:
        quotas[name] += 1
    rng = random.Random(seed)
    chosen: List[int] = []
    for name in names:
        chosen.extend(rng.sample(by_label[name], quotas[name]))
    return sorted(chosen)


def convert_imdb(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    dev_output_path: Optional[Union[str, Path]] = None,
    dev_size: int = IMDB_DEV_SIZE,
    seed: int = IMDB_DEV_SEED,
    nlp: Optional[Language] = None,
) -> Tuple[TextcatStats, Optional[TextcatStats]]:
    """Convert an IMDB JSON-lines file to a .spacy DocBin, one Doc per review, tokenised by
    spacy.blank("en") (or nlp), with exclusive cats over BINARY_LABELS, in file order.

    With dev_output_path, a seeded label-stratified sample of dev_size reviews (see
    stratified_dev_indices) goes there instead of to output_path; use it on the training file
    only. Returns (stats of output_path, stats of dev_output_path or None); the first n_read
    is the number of reviews in the file.
    """
    nlp = nlp if nlp is not None else spacy.blank("en")
    reviews = list(read_imdb_jsonl(input_path))
    dev = set()
    if dev_output_path is not None:
        dev = set(stratified_dev_indices([review.label for review in reviews], dev_size, seed))

    def docs(in_dev: bool) -> Iterator[Doc]:
        for index, review in enumerate(reviews):
            if (index in dev) == in_dev:
                yield _text_doc(nlp, review.text, review.label, BINARY_LABELS)

    stats = write_textcat_docbin(docs(False), output_path)
    stats.n_read = len(reviews)
    dev_stats = None
    if dev_output_path is not None:
        dev_stats = write_textcat_docbin(docs(True), dev_output_path)
        dev_stats.n_read = len(reviews)
    return stats, dev_stats


# Hugging Face datasets with a text column and a label column (glue/sst2, imdb, SST-5 variants).


def hf_label_names(dataset, label_column: str = "label", labels: Optional[Sequence[str]] = None) -> List[str]:
    """The label names, in order, of a dataset's label column.

    labels, if given, wins (integer label i means labels[i]); else a ClassLabel's names; else,
    for string labels, the distinct values: ordered as BINARY_LABELS or FINE_LABELS when they
    are all among those, else sorted. Names pass through LABEL_ALIASES ("pos" -> "positive").
    Raises ValueError for integer labels without names.
    """
    from datasets import ClassLabel

    if labels is not None:
        names = [LABEL_ALIASES.get(name, name) for name in labels]
    elif isinstance(dataset.features[label_column], ClassLabel):
        names = [LABEL_ALIASES.get(name, name) for name in dataset.features[label_column].names]
    else:
        values = set(dataset.unique(label_column))
        if not all(isinstance(value, str) for value in values):
            raise ValueError(
                f"column {label_column!r} holds label ids without names: give the label names in order"
            )
        values = {LABEL_ALIASES.get(value, value) for value in values}
        for canonical in (BINARY_LABELS, FINE_LABELS):
            if values <= set(canonical):
                return list(canonical)
        return sorted(values)
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"label names must be distinct and not empty: {names}")
    return names


def docs_from_hf_text(
    dataset,
    nlp: Language,
    *,
    text_column: str = "text",
    label_column: str = "label",
    labels: Optional[Sequence[str]] = None,
) -> Iterator[Doc]:
    """Yield one Doc per row of a datasets.Dataset: the text cleaned (clean_text) and
    tokenised by nlp, doc.cats exclusive over hf_label_names(dataset, label_column, labels).

    A label is an integer id (ClassLabel or given names) or a string name. Raises ValueError
    naming the row for a missing column, a text that is not a string or is empty, and a label
    that is not one of the names (as -1, the label of GLUE's unlabelled test rows).
    """
    for column in (text_column, label_column):
        if column not in dataset.column_names:
            raise ValueError(f"Dataset has no column {column!r}; it has {dataset.column_names}")
    names = hf_label_names(dataset, label_column, labels)
    for index, row in enumerate(dataset.select_columns([text_column, label_column])):
        text, value = row[text_column], row[label_column]
        if not isinstance(text, str) or not clean_text(text):
            raise ValueError(f"Row {index}: column {text_column!r} holds no text: {text!r}")
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
            label = names[value]
        else:
            label = LABEL_ALIASES.get(value, value) if isinstance(value, str) else value
        if label not in names:
            raise ValueError(f"Row {index}: label {value!r} is not one of {names}")
        yield _text_doc(nlp, clean_text(text), label, names)


def convert_hf_text(
    dataset,
    output_path: Union[str, Path],
    nlp: Optional[Language] = None,
    **columns,
) -> TextcatStats:
    """Convert a text+label dataset to a .spacy DocBin (see docs_from_hf_text), tokenised by
    spacy.blank("en") unless nlp is given; n_read is the number of rows."""
    nlp = nlp if nlp is not None else spacy.blank("en")
    stats = write_textcat_docbin(docs_from_hf_text(dataset, nlp, **columns), output_path)
    stats.n_read = len(dataset)
    return stats
