"""Pure-torch replica of `spacy_rnn train configs/ner_bilstm_crf.cfg` for a GPU sweep; `run()`'s
defaults are the config as it was before these sweeps (GloVe 50d, word dropout 0.05, 2 x 100).

Each variant: EntityTaggerNet (the component's torch module) over whole documents read in
windows of 128 (context 16; `window` changes it), batches of ~1000 words, Adam + warmup_linear, global clip 5,
optional thinc-style parameter averaging (evaluated with the averages). Entity F1 on dev
and test every `eval_every` steps; the run's result is the test F1 at the best dev F1.
"""
import json, random, sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]  # the repository root
sys.path[:0] = [str(ROOT / "components"), str(ROOT / "experiments")]  # the package uninstalled (GPU machine); sweep_loop
from sweep_loop import train_and_evaluate
from spacy_rnn.featurize import doc_windows
from spacy_rnn.models.encoder import RNNEncoder, RNNEncoderSettings, SequenceBatch
from spacy_rnn.models.ner import EntityTaggerNet

DATA = TAGS = None  # set by load_data()
WINDOW = (128, 16)  # (window_size, window_context); set by run()


def load_data(name):
    """.device/ner/<name>.pt, written by export.py (conll: GloVe 50d; conll_minilm: GloVe + MiniLM 434d)."""
    global DATA, TAGS
    DATA = torch.load(f".device/ner/{name}.pt")
    TAGS = DATA["tags"]


def windows_of(n):
    """The component's windows over a whole document of n tokens (`featurize.doc_windows`,
    sentences ignored). The exported data keeps token ids, not Docs: a range of n stands in."""
    size, context = WINDOW
    return doc_windows(range(n), size, context, by_sentence=False)


def make_batch(docs, vectors, device):
    """`featurize.make_batch` on the exported id tensors (word ids, form ids, vector rows)
    instead of Docs, so that the GPU machine needs no spaCy and no vectors table."""
    wins = [(i, *w) for i, d in enumerate(docs) for w in windows_of(len(d["w"]))]
    W, T = len(wins), max(e - s for _, s, e, _, _ in wins)
    word_ids = torch.zeros((W, T), dtype=torch.int64)
    vec_rows = torch.full((W, T), -1, dtype=torch.int64)
    form_rows = torch.zeros((W, T), dtype=torch.int64)
    lengths, token_index = [], []
    for r, (i, s, e, cs, ce) in enumerate(wins):
        d = docs[i]
        word_ids[r, : e - s] = d["w"][s:e]
        vec_rows[r, : e - s] = d["v"][s:e]
        form_rows[r, : e - s] = d["f"][s:e]
        lengths.append(e - s)
        token_index.extend(range(r * T + cs - s, r * T + ce - s))
    uniq, form_index = torch.unique(form_rows, return_inverse=True)
    chars = [DATA["form_chars"][u] for u in uniq.tolist()]
    char_ids = torch.zeros((len(chars), max(len(c) for c in chars)), dtype=torch.int64)
    for k, c in enumerate(chars):
        char_ids[k, : len(c)] = c
    vec_rows = vec_rows.to(device)
    vecs = vectors[vec_rows.clamp(min=0)] * (vec_rows >= 0).unsqueeze(-1)
    return SequenceBatch(word_ids.to(device), char_ids.to(device), form_index.to(device), vecs,
                         torch.tensor(lengths), torch.tensor(token_index, device=device))


def pad(values, lengths):
    rows = list(values.split(lengths))
    padded = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
    mask = torch.arange(padded.shape[1], device=values.device) < torch.tensor(lengths, device=values.device).unsqueeze(1)
    return padded, mask


def spans(tags):
    out, start = set(), None
    for i, t in enumerate(tags):
        name = TAGS[t]
        if name.startswith("U-"):
            out.add((i, i + 1, name[2:]))
        elif name.startswith("B-"):
            start = i
        elif name.startswith("L-") and start is not None:
            out.add((start, i + 1, name[2:]))
            start = None
    return out


def evaluate(net, docs, vectors, device):
    tp = n_pred = n_gold = 0
    for k in range(0, len(docs), 32):
        chunk = docs[k : k + 32]
        em = net(make_batch(chunk, vectors, device))["tags"]
        lengths = [len(d["w"]) for d in chunk]
        padded, mask = pad(em, lengths)
        best = net.crf.decode(padded, mask).cpu()
        for row, d in enumerate(chunk):
            p, g = spans(best[row, : lengths[row]].tolist()), spans(d["g"].tolist())
            tp += len(p & g); n_pred += len(p); n_gold += len(g)
    prec, rec = tp / max(1, n_pred), tp / max(1, n_gold)
    return 100 * 2 * prec * rec / max(1e-9, prec + rec)


def run(name, steps=8000, lr=0.002, warmup=200, batch_words=1000, average=False, seed=0, eval_every=500,
        init_glove=False, max_minutes=8.0, window=(128, 16), **enc):
    global WINDOW
    WINDOW = tuple(window)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed); random.seed(seed)
    encoder = dict(n_words=DATA["n_words"], word_width=100, vectors_width=50, n_chars=DATA["n_chars"], char_width=30,
                   char_filters=50, char_kernel=3, hidden_width=100, depth=2, cell="lstm", bidirectional=True,
                   dropout=0.5, word_dropout=0.05)
    encoder.update(enc)
    module = RNNEncoder(RNNEncoderSettings.take(encoder), n_words=encoder["n_words"], n_chars=encoder["n_chars"],
                        vectors_width=encoder["vectors_width"])
    net = EntityTaggerNet(module, TAGS, crf=True).to(device)
    vectors = DATA["vectors"][:, : encoder["vectors_width"]].float().to(device)
    if init_glove:
        rows = DATA["word_vec_rows"]
        with torch.no_grad():
            emb = net.encoder.word_embed.weight
            has = rows >= 0
            emb[has.to(device), : 50] = vectors[rows[has].to(device)]
    train = DATA["train"]

    def batches():
        while True:
            order = list(range(len(train))); random.shuffle(order)
            batch, n = [], 0
            for i in order:
                L = len(train[i]["w"])
                if batch and n + L > batch_words:
                    yield batch; batch, n = [], 0
                batch.append(train[i]); n += L
            if batch:
                yield batch

    def loss_of(batch):
        em = net(make_batch(batch, vectors, device))["tags"]
        lengths = [len(d["w"]) for d in batch]
        padded, mask = pad(em, lengths)
        gold, _ = pad(torch.cat([d["g"] for d in batch]).long().to(device), lengths)
        # The CRF's forward algorithm as a log-depth parallel scan: a loop over the time steps of
        # 1,000-token documents is launch-bound on a GPU.
        return net.crf.neg_log_likelihood(padded, gold, mask, parallel=True).sum() / sum(lengths)

    def dev_and_test():
        return evaluate(net, DATA["dev"], vectors, device), evaluate(net, DATA["test"], vectors, device)

    return train_and_evaluate(name, net, batches(), loss_of, dev_and_test, steps=steps, lr=lr, warmup=warmup,
                              eval_every=eval_every, average=average, max_minutes=max_minutes)

VARIANTS = {
    "base": {},
    "avg": {"average": True},
    "avg_seed1": {"average": True, "seed": 1},
    "avg_h200_d1": {"average": True, "hidden_width": 200, "depth": 1},
    "avg_h200_d2": {"average": True, "hidden_width": 200, "depth": 2},
    "avg_h150_d2": {"average": True, "hidden_width": 150, "depth": 2},
    "avg_glove_init": {"average": True, "init_glove": True},
    "avg_lr004": {"average": True, "lr": 0.004},
    "avg_char100": {"average": True, "char_filters": 100, "char_width": 50},
    "avg_12k": {"average": True, "steps": 12000, "eval_every": 750},
}
# Second sweep: 3,200-step schedules (complete within the device's time), GloVe against the
# GloVe + MiniLM table (first 50 dimensions = GloVe), and stronger word dropout.
SHORT = {"steps": 3200, "data": "conll_minilm"}
MINILM = {**SHORT, "vectors_width": 434}
VARIANTS.update({
    "g": {**SHORT, "vectors_width": 50},
    "g_s1": {**SHORT, "vectors_width": 50, "seed": 1},
    "g_wd25": {**SHORT, "vectors_width": 50, "word_dropout": 0.25},
    "m": MINILM,
    "m_s1": {**MINILM, "seed": 1},
    "m_s2": {**MINILM, "seed": 2},
    "m_wd25": {**MINILM, "word_dropout": 0.25},
    "m_wd25_s1": {**MINILM, "word_dropout": 0.25, "seed": 1},
    "m_wd50": {**MINILM, "word_dropout": 0.5},
    "m_avg": {**MINILM, "average": True},
    "m_h200_d1": {**MINILM, "hidden_width": 200, "depth": 1},
    "m_drop03": {**MINILM, "dropout": 0.3},
})
# Third sweep: 2,400-step schedules around word dropout 0.5 with the MiniLM table, two seeds each.
SHORTER = {**MINILM, "steps": 2400}
for seed in (0, 1):
    suffix = f"_s{seed}"
    VARIANTS.update({
        "t_m" + suffix: {**SHORTER, "seed": seed},
        "t_wd50" + suffix: {**SHORTER, "word_dropout": 0.5, "seed": seed},
        "t_wd70" + suffix: {**SHORTER, "word_dropout": 0.7, "seed": seed},
        "t_wd50_h200_d1" + suffix: {**SHORTER, "word_dropout": 0.5, "hidden_width": 200, "depth": 1, "seed": seed},
        "t_wd50_avg" + suffix: {**SHORTER, "word_dropout": 0.5, "average": True, "seed": seed},
        "t_wd50_drop03" + suffix: {**SHORTER, "word_dropout": 0.5, "dropout": 0.3, "seed": seed},
    })

# Fourth and fifth sweeps: around the committed config (MiniLM table, word dropout 0.5, one
# 200-unit layer), 2,400-step schedules, seeds 0-2 (sweep.md lists which ran).
COMMITTED = {**SHORTER, "word_dropout": 0.5, "hidden_width": 200, "depth": 1}
for seed in (0, 1, 2):
    suffix = f"_s{seed}"
    VARIANTS.update({
        "u_base" + suffix: {**COMMITTED, "seed": seed},
        "u_win256" + suffix: {**COMMITTED, "window": [256, 32], "seed": seed},
        "u_drop03" + suffix: {**COMMITTED, "dropout": 0.3, "seed": seed},
        "u_drop04" + suffix: {**COMMITTED, "dropout": 0.4, "seed": seed},
        "u_char100" + suffix: {**COMMITTED, "char_filters": 100, "seed": seed},
        "u_lr003" + suffix: {**COMMITTED, "lr": 0.003, "seed": seed},
        "u_lr004" + suffix: {**COMMITTED, "lr": 0.004, "seed": seed},
        "u_drop03_lr003" + suffix: {**COMMITTED, "dropout": 0.3, "lr": 0.003, "seed": seed},
    })

if __name__ == "__main__":
    import os
    name = sys.argv[1]
    extra = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    settings = {**VARIANTS[name], **extra}
    load_data(settings.get("data", "conll"))
    result = run(name, **{k: v for k, v in settings.items() if k != "data"})
    result["settings"] = settings
    out = os.environ.get("OUT", "/tmp")
    with open(f"{out}/{name}.json", "w") as f:
        json.dump(result, f)
    print("RESULT", name, result["best_dev"], result["test_at_best"], result["best_step"], result["minutes"])
