"""Claim 5, context in language models: the probability of a word after a passage with the full
context and with only the last k words, and (after Khandelwal et al. 2018, Fig. 1) the
perplexity on a test set against the number of preceding tokens the model may read, for the
LSTM LM and a Kneser-Ney n-gram model fitted on the same training text and vocabulary.

Both read the test text as one stream of words with an <eos> after each sentence. The LSTM
with context k reads only the k tokens before each target, from a zero state; "full" carries
its state over the whole stream. The n-gram model reads at most order - 1 words and never
across a sentence boundary (an <eos> in its context becomes the start of a sentence).
"""
import math
import time
from pathlib import Path
from typing import Dict, Sequence

import numpy
import torch
import torch.nn.functional as F

from spacy_rnn.lm.kneser_ney import BOS, KneserNeyLM
from spacy_rnn.lm.scoring import read_prefix, stream_log_probs
from spacy_rnn.lm.vocab import EOS, Vocabulary
from .output import new_figure, save


@torch.no_grad()
def truncated_log_probs(net, ids: Sequence[int], targets: Sequence[int], k: int, batch_size: int = 256) -> numpy.ndarray:
    """float64[len(targets)]: log p(ids[i] | ids[i - k : i]) for each i in targets (i >= k),
    each context read from a zero state by the LanguageModelNet `net` (decoding only the last
    position of each context)."""
    net.eval()
    stream = torch.as_tensor(list(ids), dtype=torch.long)
    offsets = torch.arange(-k, 0)
    out = []
    for start in range(0, len(targets), batch_size):
        index = torch.as_tensor(list(targets[start : start + batch_size]))
        contexts = stream[index.unsqueeze(1) + offsets].to(net.embed.weight.device)
        outputs, _ = net.rnn(net.embed(contexts))  # eval mode: the dropouts are the identity
        log_probs = F.log_softmax(net.decoder(outputs[:, -1]).float(), dim=-1)  # the last position only
        out.append(log_probs.gather(1, stream[index].unsqueeze(1).to(log_probs.device)).squeeze(1).double().cpu())
    return torch.cat(out).numpy()


def ngram_log_probs(ngram: KneserNeyLM, words: Sequence[str], targets: Sequence[int], k: int) -> numpy.ndarray:
    """float64[len(targets)]: log p(words[i] | words[i - k : i]) under the n-gram model."""
    return numpy.array([ngram.log_prob(words[i], [BOS if w == EOS else w for w in words[max(0, i - k) : i]]) for i in targets])


def word_probabilities(lm_pipe, ngram: KneserNeyLM, nlp, passage: str, word: str, ks: Sequence[int]) -> Dict:
    """p(word | the passage) under both models with the full passage and its last k tokens
    (the LM's normalised tokens, <eos> between sentences): {"full" | str(k): {"lstm", "ngram"}}."""
    ids, _ = lm_pipe.doc_stream(nlp(passage), end_with_eos=False)
    vocab = lm_pipe.lm_vocab
    words = [vocab.words[i] for i in ids]
    target = vocab.id(lm_pipe.normalizer(word))
    chunk = lm_pipe.model.attrs["chunk_size"]
    rows = {}
    for k in ["full"] + [k for k in ks if k < len(ids)]:
        context_ids = ids if k == "full" else ids[-k:]
        context_words = words[1:] if k == "full" else words[-k:]  # the stream's first token is an <eos>
        lstm = math.exp(float(read_prefix(lm_pipe.net, context_ids, chunk)[0][target]))
        rows[str(k)] = {"lstm": lstm, "ngram": ngram.prob(vocab.words[target], [BOS if w == EOS else w for w in context_words])}
    return {"word": word, "in_vocabulary": target != vocab.unk_id, "context_tokens": len(ids) - 1, "probabilities": rows}


def run(
    model: Path, train: Path, test: Path, output_dir: Path, *, passage: str, word: str, order: int = 5,
    ks: Sequence[int] = (1, 2, 3, 5, 10, 20, 50, 100, 200), stride: int = 40, max_tokens: int = 0,
) -> Dict:
    """Fit the n-gram model on `train` with the LM's vocabulary, score every `stride`-th token of
    `test` (after the first max(ks); the first max_tokens of the stream when > 0) for each k
    and the full context; write context.json/.png."""
    import spacy

    from spacy_rnn.corpora.ptb import read_sentences

    started = time.perf_counter()
    nlp = spacy.load(model)
    lm_pipe = next(pipe for _, pipe in nlp.pipeline if hasattr(pipe, "lm_vocab"))
    vocab: Vocabulary = lm_pipe.lm_vocab
    norm = lm_pipe.normalizer
    ngram = KneserNeyLM(([norm(w) for w in s] for s in read_sentences(train)), vocab, order)
    sentences = [[norm(w) for w in s] for s in read_sentences(test)]
    ids = [vocab.eos_id] + vocab.encode(sentences)
    if max_tokens:
        ids = ids[:max_tokens]
    words = [vocab.words[i] for i in ids]
    targets = list(range(max(ks), len(ids), stride))
    full = stream_log_probs(lm_pipe.net, [ids], lm_pipe.model.attrs["chunk_size"], 1)[0]
    curve: Dict[str, Dict[str, float]] = {}
    for k in list(ks) + ["full"]:
        lstm = full[numpy.array(targets) - 1] if k == "full" else truncated_log_probs(lm_pipe.net, ids, targets, k)
        ngram_lp = ngram_log_probs(ngram, words, targets, len(ids) if k == "full" else k)
        curve[str(k)] = {"lstm": math.exp(-lstm.mean()), "ngram": math.exp(-ngram_lp.mean())}
    results = {
        "claim": "context in language models", "model": str(model), "ngram_order": order, "test": str(test),
        "n_targets": len(targets), "stride": stride, "perplexity_by_context": curve,
        "passage": word_probabilities(lm_pipe, ngram, nlp, passage, word, ks) | {"text": passage},
    }
    results["seconds"] = time.perf_counter() - started
    fig, (left, right) = new_figure(2)
    numeric = [str(k) for k in ks]
    for name, label in (("lstm", "LSTM LM"), ("ngram", f"Kneser-Ney {order}-gram")):
        line = left.plot([int(k) for k in numeric], [curve[k][name] for k in numeric], "o-", label=label)[0]
        left.axhline(curve["full"][name], color=line.get_color(), linestyle=":", label=f"{label}, full context")
    left.set(xscale="log", yscale="log", xlabel="tokens of context the model may read", ylabel="test perplexity",
             title=f"perplexity against context ({len(targets):,} test tokens)")
    left.legend(fontsize=8)
    rows = results["passage"]["probabilities"]
    keys = list(rows)
    x = numpy.arange(len(keys))
    right.bar(x - 0.2, [rows[k]["lstm"] for k in keys], 0.4, label="LSTM LM")
    right.bar(x + 0.2, [rows[k]["ngram"] for k in keys], 0.4, label=f"Kneser-Ney {order}-gram")
    right.set(xticks=x, xticklabels=keys, yscale="log", xlabel="context: last k tokens (or the full passage)",
              ylabel=f'p("{word}" | context)', title=f'p("{word}") at the end of the passage')
    right.legend(fontsize=8)
    save(results, fig, output_dir, "context")
    return results
