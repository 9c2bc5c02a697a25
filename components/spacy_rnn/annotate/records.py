"""annotate's output: one row per document with the fields a pipeline writes, and the bytes of a
shard's output file in one of `FORMATS`.

Fields (`FIELDS`; `--fields` picks some, "id" always comes first):
- id, text: the document's id and its text;
- tokens, pos, tag, lemma: one value per token (`token.text`, `pos_`, `tag_`, `lemma_`);
- pos_confidence, tag_confidence: per token, the probability the tagger gave its label
  (`token._.pos_confidence`, a `torch_tagger`'s);
- entities: [{start, end (token offsets, end exclusive), start_char, end_char, label,
  confidence (`ent._.confidence`, a `torch_ner`'s, else null)}];
- cats: {label: probability} for every label of the pipeline's text classifiers;
- perplexity: `doc._.perplexity` (a `torch_lm`'s).
Without --fields: id, tokens and every field the pipeline's components write (what their
factories declare they assign). "docbin" writes whole Docs instead (spaCy's DocBin, user data
kept, the id in `doc.user_data["id"]`).
"""
import io
import json
from typing import Dict, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span

from ..extras import require
from ..pipes.tagger import TorchTagger
from .sources import AnnotateError

FORMATS = {"parquet": ".parquet", "jsonl": ".jsonl", "docbin": ".spacy"}
PARQUET_PURPOSE = "annotate's Parquet output (--format jsonl needs none)"
FIELDS = ("id", "text", "tokens", "pos", "pos_confidence", "tag", "tag_confidence", "lemma", "entities", "cats", "perplexity")
# The field a component writes, by what its factory declares it assigns.
ASSIGNED_FIELDS = {"token.pos": "pos", "token.tag": "tag", "token.lemma": "lemma", "doc.ents": "entities",
                   "doc.cats": "cats", "doc._.perplexity": "perplexity"}
TOKEN_ATTRS = {"tokens": "text", "pos": "pos_", "tag": "tag_", "lemma": "lemma_"}


def written_fields(nlp: Language) -> List[str]:
    """The fields the pipeline's enabled components write, in FIELDS order."""
    found = {"id", "text", "tokens"}
    for name in nlp.pipe_names:
        found.update(ASSIGNED_FIELDS[assigned] for assigned in nlp.get_pipe_meta(name).assigns if assigned in ASSIGNED_FIELDS)
        if isinstance(nlp.get_pipe(name), TorchTagger):
            found.update(("pos_confidence", "tag_confidence"))
    if not cats_labels(nlp):
        found.discard("cats")
    return [field for field in FIELDS if field in found]


def choose_fields(nlp: Language, requested: Optional[Sequence[str]]) -> Tuple[str, ...]:
    """The fields of each row: those requested (id added first), or by default id, tokens and
    every field the pipeline writes. AnnotateError for a field unknown or not written."""
    available = written_fields(nlp)
    if requested is None:
        return tuple(field for field in available if field != "text")
    unknown = [field for field in requested if field not in FIELDS]
    if unknown:
        raise AnnotateError(f"--fields: unknown field(s) {', '.join(unknown)}; the fields: {', '.join(FIELDS)}")
    missing = [field for field in requested if field not in available]
    if missing:
        raise AnnotateError(
            f"--fields: the pipeline ({', '.join(nlp.pipe_names) or 'no components'}) writes no {', '.join(missing)}; "
            f"it writes {', '.join(available)}")
    return tuple(["id"] + [field for field in FIELDS if field in requested and field != "id"])


def cats_labels(nlp: Language) -> List[str]:
    """The labels of the components that write doc.cats, in pipeline order."""
    labels: List[str] = []
    for name in nlp.pipe_names:
        if "doc.cats" in nlp.get_pipe_meta(name).assigns:
            labels.extend(label for label in getattr(nlp.get_pipe(name), "labels", ()) if label not in labels)
    return labels


def doc_row(doc_id: str, doc: Doc, fields: Sequence[str], labels: Sequence[str]) -> Dict:
    """The output row of one annotated doc."""
    row: Dict = {}
    for field in fields:
        if field == "id":
            row[field] = doc_id
        elif field == "text":
            row[field] = doc.text
        elif field in TOKEN_ATTRS:
            row[field] = [getattr(token, TOKEN_ATTRS[field]) for token in doc]
        elif field in ("pos_confidence", "tag_confidence"):
            row[field] = doc._.get(f"{field}s") or [None] * len(doc)
        elif field == "entities":
            row[field] = [_entity(ent) for ent in doc.ents]
        elif field == "cats":
            row[field] = {label: doc.cats.get(label) for label in labels}
        elif field == "perplexity":
            row[field] = doc._.perplexity
    return row


def _entity(ent: Span) -> Dict:
    confidence = ent._.confidence if Span.has_extension("confidence") else None
    return {"start": ent.start, "end": ent.end, "start_char": ent.start_char, "end_char": ent.end_char,
            "label": ent.label_, "confidence": confidence}


class ShardWriter:
    """One shard's output file, built a document at a time (the Docs themselves are not kept,
    but for "docbin"): `add` each annotated doc, then `to_bytes`."""

    def __init__(self, output_format: str, fields: Sequence[str], labels: Sequence[str]):
        self.output_format, self.fields, self.labels = output_format, fields, labels
        self.n_docs = self.n_words = 0
        self._rows: List = []
        self._doc_bin = DocBin(store_user_data=True) if output_format == "docbin" else None

    def add(self, doc_id: str, doc: Doc) -> None:
        if self._doc_bin is not None:
            doc.user_data["id"] = doc_id
            self._doc_bin.add(doc)
        else:
            row = doc_row(doc_id, doc, self.fields, self.labels)
            self._rows.append(json.dumps(row, ensure_ascii=False) if self.output_format == "jsonl" else row)
        self.n_docs += 1
        self.n_words += len(doc)

    def to_bytes(self) -> bytes:
        if self._doc_bin is not None:
            return self._doc_bin.to_bytes()
        if self.output_format == "jsonl":
            return "".join(line + "\n" for line in self._rows).encode("utf8")
        pyarrow, parquet = _pyarrow(), require("pyarrow.parquet", "parquet", PARQUET_PURPOSE)
        sink = io.BytesIO()
        parquet.write_table(pyarrow.Table.from_pylist(self._rows, schema=arrow_schema(self.fields, self.labels)), sink)
        return sink.getvalue()


def arrow_schema(fields: Sequence[str], labels: Sequence[str]):
    """The Parquet columns of the fields (the same for every shard of a run)."""
    pa = _pyarrow()
    strings, floats = pa.list_(pa.string()), pa.list_(pa.float64())
    entity = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("start_char", pa.int64()), ("end_char", pa.int64()),
                        ("label", pa.string()), ("confidence", pa.float64())])
    types = {"id": pa.string(), "text": pa.string(), "tokens": strings, "pos": strings, "pos_confidence": floats,
             "tag": strings, "tag_confidence": floats, "lemma": strings, "entities": pa.list_(entity),
             "cats": pa.struct([(label, pa.float64()) for label in labels]), "perplexity": pa.float64()}
    return pa.schema([(field, types[field]) for field in fields])


def _pyarrow():
    return require("pyarrow", "parquet", PARQUET_PURPOSE)
