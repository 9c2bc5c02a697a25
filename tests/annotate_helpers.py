"""What the annotate tests share: inputs, a pipeline with a misbehaving component, and the ids
an OUTPUT folder holds."""
import json
import os

import spacy
from spacy.tokens import DocBin

from helpers import ROOT

# The components that misbehave on purpose, handed to annotate's --code.
COMPONENTS = str(ROOT / "tests" / "annotate_components.py")
TEXTS = [f"Anna Smith met Tom number {i} in Paris ." for i in range(12)]


def pipeline_with(tmp_path, base, factory, **config):
    """The saved pipeline `base` with one of annotate_components' components added, saved anew."""
    import annotate_components  # noqa: F401 - registers the factories

    nlp = spacy.load(base)
    nlp.add_pipe(factory, config=config)
    nlp.to_disk(tmp_path / factory)
    return str(tmp_path / factory)


def write_jsonl(path, records):
    """records (dicts, or str lines written as they are) as a JSONL file; its path."""
    path.write_text("".join((record if isinstance(record, str) else json.dumps(record)) + "\n" for record in records))
    return str(path)


def output_ids(output):
    """The ids in OUTPUT's shard files (any format), in file order."""
    ids = []
    for name in sorted(os.listdir(output)):
        path = os.path.join(output, name)
        if name.endswith(".jsonl") and not name.startswith("_"):
            ids += [json.loads(line)["id"] for line in open(path)]
        elif name.endswith(".parquet"):
            import pyarrow.parquet as pq

            ids += pq.read_table(path, columns=["id"]).column("id").to_pylist()
        elif name.endswith(".spacy"):
            ids += [doc.user_data["id"] for doc in DocBin().from_disk(path).get_docs(spacy.blank("en").vocab)]
    return ids


def error_ids(output):
    """The ids in OUTPUT/_errors.jsonl, in input order."""
    return [json.loads(line)["id"] for line in open(os.path.join(output, "_errors.jsonl"))]
