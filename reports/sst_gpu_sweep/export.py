"""Export SST datasets as flat form-id arrays for the pure-torch device sweep."""
import spacy, torch, numpy
from spacy.tokens import DocBin

nlp = spacy.load("corpus/vectors/glove_6b_50d")
table = nlp.vocab.vectors
sets = {
    "sst5_sent": "corpus/sst/train.spacy", "sst5_phr": "corpus/sst/train_phrases.spacy",
    "sst5_dev": "corpus/sst/dev.spacy", "sst5_test": "corpus/sst/test.spacy",
    "bin_sst2": "corpus/sst2/train.spacy", "bin_phr": "corpus/sst_binary/train_phrases.spacy",
    "bin_dev": "corpus/sst2/dev.spacy", "bin_test": "corpus/sst_binary/test.spacy",
}
forms, form_ids = [], {}
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
        flat.extend(form_ids.setdefault(t.text, len(form_ids)) for t in doc)
        offsets.append(len(flat))
    out[name] = {"forms": torch.tensor(flat, dtype=torch.int32), "offsets": torch.tensor(offsets),
                 "labels": labels}
    print(name, len(labels), len(flat))
form_list = sorted(form_ids, key=form_ids.get)
lowers = [f.lower() for f in form_list]
rows = []
for f, l in zip(form_list, lowers):
    r = table.find(key=f)
    if r < 0:
        r = table.find(key=l)
    rows.append(int(r))
used = sorted({r for r in rows if r >= 0})
index = {r: i for i, r in enumerate(used)}
out["form_vec"] = torch.tensor([index.get(r, -1) for r in rows])
out["vectors"] = torch.from_numpy(numpy.asarray(table.data[used], dtype="float32"))
out["forms"] = form_list
torch.save(out, ".device/sst/sst.pt")
