"""Pure-torch replica of `spacy_rnn train configs/sentiment_sst{2,5}.cfg` for a GPU sweep:
TextClassifierNet (the component's module), batches of <= 1000 padded tokens bucketed by
length in buffers of 256, Adam + warmup_linear, clip 5, optional thinc-style averaging.
Accuracy on dev and test every eval_every steps; result = test at the best dev."""
import json, os, random, sys
from collections import Counter
from pathlib import Path
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[3]  # the repository root
sys.path[:0] = [str(ROOT / "components"), str(ROOT / "experiments")]  # the package uninstalled (GPU machine); sweep_loop
from sweep_loop import train_and_evaluate
from spacy_rnn.featurize import FIRST_CHAR_ID, FIRST_WORD_ID, Vocabularies
from spacy_rnn.models.encoder import UNK_ID, RNNEncoder, RNNEncoderSettings, SequenceBatch
from spacy_rnn.models.classifier import TextClassifierNet

MAX_WORD_CHARS = 20  # the configs' max_word_chars
DATA = FORMS = CHARS = FORM_CHARS = None  # set by load_data()


def load_data(path=".device/sst/sst.pt"):
    """The SST sets written by export.py, and each form's character ids as the component encodes
    them (BOW + ids + EOW, over-long forms cut to prefix + suffix)."""
    global DATA, FORMS, CHARS, FORM_CHARS
    DATA = torch.load(path)
    FORMS = DATA["forms"]
    CHARS = sorted({c for f in FORMS for c in f})
    FORM_CHARS = [torch.tensor(ids) for ids in map(Vocabularies([], CHARS, MAX_WORD_CHARS).encode_form, FORMS)]


def docs_of(name):
    d = DATA[name]
    off = d["offsets"].tolist()
    return [(d["forms"][off[i]:off[i + 1]][:128].long(), d["labels"][i]) for i in range(len(d["labels"])) if off[i + 1] > off[i]]


def make_batch(docs, word_of_form, vectors, device):
    """`featurize.make_batch` on exported form ids instead of Docs (the GPU machine needs no spaCy)."""
    W, T = len(docs), max(len(f) for f, _ in docs)
    form_rows = torch.zeros((W, T), dtype=torch.int64)
    for r, (f, _) in enumerate(docs):
        form_rows[r, : len(f)] = f
    lengths = torch.tensor([len(f) for f, _ in docs])
    real = torch.arange(T) < lengths.unsqueeze(1)
    word_ids = word_of_form[form_rows] * real
    vec_rows = DATA["form_vec"][form_rows].to(device)
    vecs = vectors[vec_rows.clamp(min=0)] * ((vec_rows >= 0) & real.to(device)).unsqueeze(-1)
    uniq, form_index = torch.unique(form_rows, return_inverse=True)
    chars = [FORM_CHARS[u] for u in uniq.tolist()]
    char_ids = torch.zeros((len(chars), max(len(c) for c in chars)), dtype=torch.int64)
    for k, c in enumerate(chars):
        char_ids[k, : len(c)] = c
    token_index = torch.nonzero(real.reshape(-1)).squeeze(1)
    return SequenceBatch(word_ids.to(device), char_ids.to(device), form_index.to(device), vecs, lengths, token_index.to(device))


def run(name, train, task, steps=6000, lr=0.002, warmup=200, pad_tokens=1000, average=True, seed=0, eval_every=300,
        pooling="max", max_minutes=3.5, **enc):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed); random.seed(seed)
    train_docs, dev, test = docs_of(train), docs_of(f"{task}_dev"), docs_of(f"{task}_test")
    labels = sorted({l for _, l in train_docs})
    if task == "sst5":
        labels = ["very negative", "negative", "neutral", "positive", "very positive"]
    lab = {l: i for i, l in enumerate(labels)}
    counts = Counter(FORMS[i].lower() for f, _ in train_docs for i in f.tolist())
    words = sorted(w for w, n in counts.items() if n >= 2)
    wid = {w: i for i, w in enumerate(words, FIRST_WORD_ID)}
    word_of_form = torch.tensor([wid.get(f.lower(), UNK_ID) for f in FORMS])
    encoder = dict(n_words=len(words) + FIRST_WORD_ID, word_width=100, vectors_width=50, n_chars=len(CHARS) + FIRST_CHAR_ID, char_width=30,
                   char_filters=50, char_kernel=3, hidden_width=150, depth=1, cell="lstm", bidirectional=True,
                   dropout=0.5, word_dropout=0.1)
    encoder.update(enc)
    module = RNNEncoder(RNNEncoderSettings.take(encoder), n_words=encoder["n_words"], n_chars=encoder["n_chars"],
                        vectors_width=encoder["vectors_width"])
    net = TextClassifierNet(module, len(labels), pooling).to(device)
    vectors = DATA["vectors"].to(device)
    def accuracy(docs):
        correct = 0
        for k in range(0, len(docs), 256):
            chunk = docs[k:k + 256]
            n = len(chunk)
            logits = net([make_batch(chunk, word_of_form, vectors, device)], torch.arange(n), torch.arange(n), n)["cats"]
            correct += sum(int(p) == lab[l] for p, (_, l) in zip(logits.argmax(1).tolist(), chunk))
        return 100 * correct / len(docs)

    def batches():
        while True:
            order = list(range(len(train_docs))); random.shuffle(order)
            for b in range(0, len(order), 256):
                buf = sorted(order[b:b + 256], key=lambda i: len(train_docs[i][0]))
                batch = []
                for i in buf:
                    longest = max([len(train_docs[j][0]) for j in batch] + [len(train_docs[i][0])])
                    if batch and longest * (len(batch) + 1) > pad_tokens:
                        yield batch; batch = []
                    batch.append(i)
                if batch:
                    yield batch

    def loss_of(idx):
        chunk = [train_docs[i] for i in idx]
        n = len(chunk)
        logits = net([make_batch(chunk, word_of_form, vectors, device)], torch.arange(n), torch.arange(n), n)["cats"]
        return F.cross_entropy(logits, torch.tensor([lab[l] for _, l in chunk], device=device))

    return train_and_evaluate(name, net, batches(), loss_of, lambda: (accuracy(dev), accuracy(test)), steps=steps,
                              lr=lr, warmup=warmup, eval_every=eval_every, average=average, max_minutes=max_minutes)

VARIANTS = {
    "s5_sent_max": dict(train="sst5_sent", task="sst5", steps=4000, eval_every=200),
    "s5_sent_last": dict(train="sst5_sent", task="sst5", steps=4000, eval_every=200, pooling="last"),
    "s5_phr_max": dict(train="sst5_phr", task="sst5", steps=12000, eval_every=500),
    "s5_phr_last": dict(train="sst5_phr", task="sst5", steps=12000, eval_every=500, pooling="last"),
    "s5_phr_mean": dict(train="sst5_phr", task="sst5", steps=12000, eval_every=500, pooling="mean"),
    "s5_phr_max_h300": dict(train="sst5_phr", task="sst5", steps=12000, eval_every=500, hidden_width=300),
    "b_sst2_max": dict(train="bin_sst2", task="bin", steps=6000, eval_every=300),
    "b_sst2_last": dict(train="bin_sst2", task="bin", steps=6000, eval_every=300, pooling="last"),
    "b_phr_max": dict(train="bin_phr", task="bin", steps=8000, eval_every=400),
    "b_phr_last": dict(train="bin_phr", task="bin", steps=8000, eval_every=400, pooling="last"),
    "b_sst2_max_h300": dict(train="bin_sst2", task="bin", steps=6000, eval_every=300, hidden_width=300),
}

if __name__ == "__main__":
    name = sys.argv[1]
    load_data()
    settings = {**VARIANTS[name], **(json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})}
    result = run(name, **settings)
    result["settings"] = settings
    with open(f"{os.environ.get('OUT', '/tmp')}/{name}.json", "w") as f:
        json.dump(result, f)
    print("RESULT", name, result["best_dev"], result["test_at_best"], result["best_step"], result["steps_done"], result["minutes"])
