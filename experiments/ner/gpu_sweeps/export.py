"""Export CoNLL-2003 features (as the component computes them) for the pure-torch device sweep.

    python experiments/ner/gpu_sweeps/export.py [VECTORS_PIPELINE] [OUTPUT]

Defaults: corpus/vectors/glove_6b_50d -> .device/ner/conll.pt. Vectors are stored as float16
(the 434-d GloVe + MiniLM rows would not fit the device's 64 MiB carry limit otherwise).
Word and character ids come from `spacy_rnn.featurize` (the component's own featurization),
with `min_word_freq` and `max_word_chars` read from `configs/ner_bilstm_crf.cfg`.
"""
import sys
from pathlib import Path

import numpy, spacy, torch
from spacy.tokens import DocBin
from spacy.training import offsets_to_biluo_tags

ROOT = Path(__file__).resolve().parents[3]  # the repository root
sys.path.insert(0, str(ROOT / "components"))  # when the package is not installed
from spacy_rnn.featurize import FIRST_CHAR_ID, FIRST_WORD_ID, Vocabularies, doc_features, fit_vocabularies

vectors_path = sys.argv[1] if len(sys.argv) > 1 else "corpus/vectors/glove_6b_50d"
output = sys.argv[2] if len(sys.argv) > 2 else ".device/ner/conll.pt"
encoder = spacy.util.load_config(ROOT / "configs" / "ner_bilstm_crf.cfg")["components"]["ner"]["model"]["encoder"]
nlp = spacy.load(vectors_path)
table = nlp.vocab.vectors
splits = {s: list(DocBin().from_disk(f"corpus/conll2003/{s}.spacy").get_docs(nlp.vocab)) for s in ("train", "dev", "test")}
words, chars = fit_vocabularies(splits["train"], encoder["min_word_freq"])
vocabs = Vocabularies(words, chars, encoder["max_word_chars"])
labels = sorted({e.label_ for d in splits["train"] for e in d.ents})
tags = ["O"] + [f"{p}-{l}" for l in labels for p in "BILU"]
tag_ids = {t: i for i, t in enumerate(tags)}
form_ids = {}
vec_index = {}
out = {"tags": tags, "n_words": len(words) + FIRST_WORD_ID, "n_chars": len(chars) + FIRST_CHAR_ID, "words": words}
for split, docs in splits.items():
    items = []
    for doc in docs:
        feats = doc_features(doc, vocabs, table.shape[1])
        f = [form_ids.setdefault(t.text, len(form_ids)) for t in doc]
        # rows of the vectors table, renumbered to the rows this corpus uses; -1: no vector
        rows = [vec_index.setdefault(r, len(vec_index)) if r >= 0 else -1 for r in feats.vector_rows.tolist()]
        g = [tag_ids[t] for t in offsets_to_biluo_tags(doc, [(e.start_char, e.end_char, e.label_) for e in doc.ents])]
        items.append({k: torch.tensor(v, dtype=torch.int32) for k, v in dict(w=feats.word_ids.tolist(), f=f, v=rows, g=g).items()})
    out[split] = items
out["form_chars"] = [torch.tensor(vocabs.encode_form(f), dtype=torch.int16) for f in form_ids]
# GloVe rows for the trainable word vocabulary (for the "init from GloVe" variant): -1 if none
out["word_vec_rows"] = torch.tensor([-1] * FIRST_WORD_ID + [vec_index.setdefault(int(table.find(key=w)), len(vec_index)) if table.find(key=w) >= 0 else -1 for w in words])
order = sorted(vec_index, key=vec_index.get)
out["vectors"] = torch.from_numpy(numpy.asarray(table.data[order], dtype="float16"))
torch.save(out, output)
print({s: (len(out[s]), sum(len(d["w"]) for d in out[s])) for s in splits}, len(words), len(chars), out["vectors"].shape, len(form_ids))
