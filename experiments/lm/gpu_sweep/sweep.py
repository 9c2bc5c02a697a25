"""GPU sweep: several LM configs trained at once on one GPU with the project's own torch loop (see sweep.md)."""
import json, multiprocessing as mp, os, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "components"))  # when the package is not installed

CONFIGS = {
    # name: (net hparams, settings overrides)  epochs ~ what 58 CPU minutes allow
    "h400_d40_sgd_18ep": (dict(embed_width=400, hidden_width=400, embed_dropout=0.4, layer_dropout=0.4, output_dropout=0.4), dict(max_epochs=18, mixed_precision="bf16")),
    "h400_d50_sgd_18ep": (dict(embed_width=400, hidden_width=400, embed_dropout=0.5, layer_dropout=0.5, output_dropout=0.5), dict(max_epochs=18, mixed_precision="bf16")),
    "h400_d40_adam_18ep": (dict(embed_width=400, hidden_width=400, embed_dropout=0.4, layer_dropout=0.4, output_dropout=0.4), dict(max_epochs=18, optimizer="adam", learning_rate=0.002, mixed_precision="bf16")),
    "h650_d50_sgd_11ep": (dict(embed_width=650, hidden_width=650, embed_dropout=0.5, layer_dropout=0.5, output_dropout=0.5), dict(max_epochs=11, mixed_precision="bf16")),
    "medium_h650_d50_39ep_fp32": (dict(embed_width=650, hidden_width=650, embed_dropout=0.5, layer_dropout=0.5, output_dropout=0.5), dict(max_epochs=39, max_minutes=8)),
}

def run(name):
    import torch
    from spacy_rnn.corpora.ptb import read_sentences
    from spacy_rnn.lm.vocab import Normalizer, Vocabulary
    from spacy_rnn.lm.trainer import LMTrainingSettings, fit_language_model, stream_perplexity
    from spacy_rnn.models.language_model import LanguageModelNet, LanguageModelSettings
    net_hp, set_hp = CONFIGS[name]
    norm = Normalizer()
    train = [[norm(w) for w in s] for s in read_sentences("assets/ptb/ptb.train.txt")]
    valid = [[norm(w) for w in s] for s in read_sentences("assets/ptb/ptb.valid.txt")]
    test = [[norm(w) for w in s] for s in read_sentences("assets/ptb/ptb.test.txt")]
    vocab = Vocabulary.from_corpus(train)
    torch.manual_seed(0)
    net = LanguageModelNet(LanguageModelSettings(depth=2, cell="lstm", tied=True, **net_hp), n_words=len(vocab))
    best = {}
    def keep():
        best["state"] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    settings = LMTrainingSettings(**{"max_minutes": 8, "evals_per_epoch": 1, "log_every": 200, "patience": 3, **set_hp})
    out = Path(f"/tmp/lm_{name}")
    record = fit_language_model(net, torch.tensor([0] + vocab.encode(train)), [0] + vocab.encode(valid), settings, out,
                                max_grad_norm=0.25, chunk_size=256, on_improve=keep, device="cuda")
    net.load_state_dict(best["state"])
    record["test_perplexity"] = stream_perplexity(net, [0] + vocab.encode(test), 256)
    record["valid_perplexity"] = stream_perplexity(net, [0] + vocab.encode(valid), 256)
    record["net"] = net_hp
    record["log"] = [json.loads(l) for l in (out / "training_log.jsonl").read_text().splitlines()]
    record["gpu"] = torch.cuda.get_device_name(0)
    return name, record

if __name__ == "__main__":
    mp.set_start_method("spawn")
    t = time.time()
    with mp.Pool(len(CONFIGS)) as pool:
        results = {}
        for name, rec in pool.imap_unordered(run, list(CONFIGS)):
            results[name] = rec
            print(f"{name}: valid {rec['valid_perplexity']:.2f} test {rec['test_perplexity']:.2f} epochs {rec['epochs']} {rec['train_minutes']:.1f} min stop {rec['stop_reason']}", flush=True)
            Path(os.environ.get("OUT", "/tmp"), "explore_lm.json").write_text(json.dumps(results))
    print("total", time.time() - t)
