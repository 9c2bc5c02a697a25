"""The language-model tests' tiny corpus, pipeline and by-hand computations."""
import spacy
import torch
import torch.nn.functional as F
from spacy.training import Example

from spacy_rnn.models.language_model import LanguageModelNet, LanguageModelSettings

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat ate the fish",
    "the dog ate N bones",
    "a bird sang on the roof",
]
TINY_LM = {
    "@architectures": "spacy_rnn.LanguageModel.v1",
    "embed_width": 16,
    "hidden_width": 16,
    "depth": 2,
    "embed_dropout": 0.0,
    "layer_dropout": 0.0,
    "output_dropout": 0.0,
    "chunk_size": 5,
    "max_batch_docs": 2,
}


def make_lm_nlp(**model):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("torch_lm", name="lm", config={"model": {**TINY_LM, **model}})
    return nlp


def lm_examples(nlp):
    sentencizer = nlp.get_pipe("sentencizer")
    return [Example(nlp.make_doc(text), sentencizer(nlp.make_doc(text))) for text in CORPUS]


def make_net(n_words, width, depth, **settings):
    """A LanguageModelNet without dropout."""
    no_dropout = {"embed_dropout": 0.0, "layer_dropout": 0.0, "output_dropout": 0.0}
    settings = LanguageModelSettings(embed_width=width, hidden_width=width, depth=depth, **{**no_dropout, **settings})
    return LanguageModelNet(settings, n_words=n_words)


def by_hand_log_probs(net, ids):
    """log p(ids[i] | ids[:i]) for i >= 1, one token at a time with the state carried."""
    net.eval()
    state, out = None, []
    with torch.no_grad():
        for current, following in zip(ids, ids[1:]):
            logits, state = net(torch.tensor([[current]]), state)
            out.append(float(F.log_softmax(logits[0, -1], dim=-1)[following]))
    return out
