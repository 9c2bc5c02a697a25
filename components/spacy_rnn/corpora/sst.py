"""The Stanford Sentiment Treebank (Socher et al. 2013) as spaCy Docs with exclusive doc.cats.

One PTB-style tree a line, a 0-4 label on every node. SST-5 keeps the five labels
(FINE_LABELS); binary SST maps 0-1 to negative and 3-4 to positive and drops neutral (2).
A Doc is a sentence, or with phrases=True every labelled node; its tokens are the leaves.
"""
import re
from pathlib import Path
from typing import Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

from spacy.tokens import Doc
from spacy.vocab import Vocab

from . import CorpusFormatError
from .docbin import TextcatStats, write_textcat_docbin
from .lines import read_nonblank_lines
from .textcat import BINARY_LABELS, FINE_LABELS, Counted, words_doc

GRANULARITIES = ("fine", "binary")

_PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_BACKSLASH_ESCAPE = re.compile(r"\\([/*])")
# Tree tokens: brackets and atoms. Atoms end at ASCII whitespace only: SST has leaves such as
# "8\xa01\/2" with a no-break space inside one word.
_TREE_TOKEN = re.compile(r"[()]|[^ \t\r\n()]+")


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
    tree (see parse_sst_tree), for bytes that are not UTF-8 (see lines.read_lines) and for a
    file without trees.
    """
    for line_no, line in read_nonblank_lines(path, "trees"):
        try:
            tree = parse_sst_tree(line)
        except ValueError as err:
            raise CorpusFormatError(path, line_no, f"malformed tree: {err}") from None
        yield tree


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
        yield words_doc(vocab, words, label, labels)


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
    trees = Counted(read_sst_trees(input_path))
    stats = write_textcat_docbin(docs_from_sst(trees, Vocab(), granularity, phrases, dedupe), output_path)
    stats.n_read = trees.count
    return stats
