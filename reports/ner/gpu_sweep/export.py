"""Export CoNLL-2003 features (as the component computes them) for the pure-torch device sweep.

    python reports/ner/gpu_sweep/export.py [VECTORS_PIPELINE] [OUTPUT]

Defaults: corpus/vectors/glove_6b_50d -> .device/ner/conll.pt. Vectors are stored as float16
(the 434-d GloVe + MiniLM rows would not fit the device's 64 MiB carry limit otherwise).
"""
import sys
from collections import Counter
import numpy, spacy, torch
from spacy.tokens import DocBin
from spacy.training import offsets_to_biluo_tags

vectors_path = sys.argv[1] if len(sys.argv) > 1 else "corpus/vectors/glove_6b_50d"
output = sys.argv[2] if len(sys.argv) > 2 else ".device/ner/conll.pt"
nlp = spacy.load(vectors_path)
table = nlp.vocab.vectors
splits = {s: list(DocBin().from_disk(f"corpus/conll2003/{s}.spacy").get_docs(nlp.vocab)) for s in ("train", "dev", "test")}
word_counts, chars = Counter(), set()
for doc in splits["train"]:
    for t in doc:
        word_counts[t.lower_] += 1
        chars.update(t.text)
words = sorted(w for w, n in word_counts.items() if n >= 2)
word_ids = {w: i for i, w in enumerate(words, 2)}
chars = sorted(chars)
char_ids = {c: i for i, c in enumerate(chars, 4)}
labels = sorted({e.label_ for d in splits["train"] for e in d.ents})
tags = ["O"] + [f"{p}-{l}" for l in labels for p in "BILU"]
tag_ids = {t: i for i, t in enumerate(tags)}
forms, form_ids = [], {}
vec_rows, vec_index = [], {}
out = {"tags": tags, "n_words": len(words) + 2, "n_chars": len(chars) + 4, "words": words}
for split, docs in splits.items():
    items = []
    for doc in docs:
        w = [word_ids.get(t.lower_, 1) for t in doc]
        f = [form_ids.setdefault(t.text, len(form_ids)) for t in doc]
        rows = []
        for t in doc:
            r = table.find(key=t.orth)
            if r < 0:
                r = table.find(key=t.lower)
            if r < 0:
                rows.append(-1)
            else:
                rows.append(vec_index.setdefault(int(r), len(vec_index)))
        g = [tag_ids[t] for t in offsets_to_biluo_tags(doc, [(e.start_char, e.end_char, e.label_) for e in doc.ents])]
        items.append({k: torch.tensor(v, dtype=torch.int32) for k, v in dict(w=w, f=f, v=rows, g=g).items()})
    out[split] = items
half = 10
def encode(form):
    if len(form) > 20:
        form = form[:half] + form[-half:]
    return [2] + [char_ids.get(c, 1) for c in form] + [3]
out["form_chars"] = [torch.tensor(encode(f), dtype=torch.int16) for f in form_ids]
# GloVe rows for the trainable word vocabulary (for the "init from GloVe" variant): -1 if none
out["word_vec_rows"] = torch.tensor([-1, -1] + [vec_index.setdefault(int(table.find(key=w)), len(vec_index)) if table.find(key=w) >= 0 else -1 for w in words])
order = sorted(vec_index, key=vec_index.get)
out["vectors"] = torch.from_numpy(numpy.asarray(table.data[order], dtype="float16"))
torch.save(out, output)
print({s: (len(out[s]), sum(len(d["w"]) for d in out[s])) for s in splits}, len(words), len(chars), out["vectors"].shape, len(form_ids))
