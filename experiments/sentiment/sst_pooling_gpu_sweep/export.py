"""Export SST datasets as flat form-id arrays for the pure-torch device sweep.

    python experiments/sentiment/sst_pooling_gpu_sweep/export.py    # writes .device/sst/sst.pt (from the repo root)

Each form's row in the GloVe table is looked up as the component does (`featurize.doc_features`:
the form, else its lower case).
"""
import sys
from pathlib import Path

import numpy, spacy, torch
from spacy.tokens import DocBin

ROOT = Path(__file__).resolve().parents[3]  # the repository root
sys.path.insert(0, str(ROOT / "components"))  # when the package is not installed
from spacy_rnn.featurize import Vocabularies, doc_features

nlp = spacy.load("corpus/vectors/glove_6b_50d")
table = nlp.vocab.vectors
no_words = Vocabularies([], [], 20)  # only the vector rows are used here
sets = {
    "sst5_sent": "corpus/sst/train.spacy", "sst5_phr": "corpus/sst/train_phrases.spacy",
    "sst5_dev": "corpus/sst/dev.spacy", "sst5_test": "corpus/sst/test.spacy",
    "bin_sst2": "corpus/sst2/train.spacy", "bin_phr": "corpus/sst_binary/train_phrases.spacy",
    "bin_dev": "corpus/sst2/dev.spacy", "bin_test": "corpus/sst_binary/test.spacy",
}
form_ids, form_rows = {}, {}
out = {}
for name, path in sets.items():
    docs = DocBin().from_disk(path).get_docs(nlp.vocab)
    seen, flat, offsets, labels = set(), [], [0], []
    label_names = None
    for doc in docs:
        if name.endswith("_phr"):
            if doc.text in seen:
                continue
            seen.add(doc.text)
        label_names = label_names or list(doc.cats)
        labels.append(max(doc.cats, key=doc.cats.get))
        rows = doc_features(doc, no_words, table.shape[1]).vector_rows.tolist()
        for token, row in zip(doc, rows):
            form_rows.setdefault(token.text, row)
        flat.extend(form_ids.setdefault(t.text, len(form_ids)) for t in doc)
        offsets.append(len(flat))
    out[name] = {"forms": torch.tensor(flat, dtype=torch.int32), "offsets": torch.tensor(offsets),
                 "labels": labels}
    print(name, len(labels), len(flat))
form_list = sorted(form_ids, key=form_ids.get)
rows = [int(form_rows[f]) for f in form_list]
used = sorted({r for r in rows if r >= 0})
index = {r: i for i, r in enumerate(used)}
out["form_vec"] = torch.tensor([index.get(r, -1) for r in rows])
out["vectors"] = torch.from_numpy(numpy.asarray(table.data[used], dtype="float32"))
out["forms"] = form_list
torch.save(out, ".device/sst/sst.pt")
