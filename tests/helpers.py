"""What the tests share besides fixtures: the project's paths, tiny hand-written tagged, entity and
sentiment corpora, and builders of small components overfitted on them.

Import with `from helpers import ...` (pytest puts tests/ on sys.path through the rootdir conftest).
"""
import shlex
from pathlib import Path

import spacy
import srsly
from spacy.tokens import Doc, Span
from spacy.training import Example
from thinc.api import fix_random_seed

ROOT = Path(__file__).parents[1]
SHARED_CORPORA = ROOT.parent / "shared" / "corpora"


def project_scripts(command_name):
    """The script lines of a project.yml command, each split into its arguments."""
    commands = srsly.read_yaml(ROOT / "project.yml")["commands"]
    (command,) = [command for command in commands if command["name"] == command_name]
    return [shlex.split(line) for line in command["script"]]


# Hand-written sentences: (words, UPOS, Penn Treebank XPOS).
TAGGED_SENTENCES = [
    ("The cat sat on the mat .", "DET NOUN VERB ADP DET NOUN PUNCT", "DT NN VBD IN DT NN ."),
    ("Dogs chase red balls", "NOUN VERB ADJ NOUN", "NNS VBP JJ NNS"),
    ("She quickly reads old books .", "PRON ADV VERB ADJ NOUN PUNCT", "PRP RB VBZ JJ NNS ."),
    ("We will visit Paris tomorrow", "PRON AUX VERB PROPN NOUN", "PRP MD VB NNP NN"),
    ("My brother does n't like green tea .", "PRON NOUN AUX PART VERB ADJ NOUN PUNCT", "PRP$ NN VBZ RB VB JJ NN ."),
    ("Two birds sang and flew away", "NUM NOUN VERB CCONJ VERB ADV", "CD NNS VBD CC VBD RB"),
    ("Is this your umbrella ?", "AUX PRON PRON NOUN PUNCT", "VBZ DT PRP$ NN ."),
    ("Anna gave Tom a small gift", "PROPN VERB PROPN DET ADJ NOUN", "NNP VBD NNP DT JJ NN"),
]

# Hand-written sentences with entity spans (token start, end, label): multi-token, adjacent
# same-type, single-token at the start and the end, and no entity at all.
ENTITY_SENTENCES = [
    ("Anna Smith flew to Paris on Monday .", [(0, 2, "PER"), (4, 5, "LOC")]),
    ("The United Nations met in New York City", [(1, 3, "ORG"), (5, 8, "LOC")]),
    ("Tom met Anna in Berlin", [(0, 1, "PER"), (2, 3, "PER"), (4, 5, "LOC")]),
    ("Google hired John Paul Jones", [(0, 1, "ORG"), (2, 5, "PER")]),
    ("Nothing happened here today .", []),
    ("Paris Berlin", [(0, 1, "LOC"), (1, 2, "LOC")]),
    ("Apple and Microsoft sued IBM", [(0, 1, "ORG"), (2, 3, "ORG"), (4, 5, "ORG")]),
]

# Hand-written texts with one of three exclusive classes.
SENTIMENT_TEXTS = [
    ("What a great film , I loved it", "positive"),
    ("Wonderful acting and a fine story", "positive"),
    ("A truly good movie", "positive"),
    ("An awful , boring film", "negative"),
    ("I hated the dull plot", "negative"),
    ("Bad acting , terrible script", "negative"),
    ("The film runs two hours", "neutral"),
    ("It opens in cinemas on Friday", "neutral"),
]
SENTIMENT_LABELS = ["negative", "neutral", "positive"]

TINY_ENCODER = {
    "word_width": 16,
    "min_word_freq": 1,
    "word_dropout": 0.0,
    "char_width": 8,
    "char_filters": 8,
    "hidden_width": 16,
    "depth": 2,
    "dropout": 0.0,
    "window_size": 12,
    "window_context": 2,
}
TINY_MAX_BATCH_TOKENS = 64


def tagged_examples(nlp):
    examples = []
    for words, upos, xpos in TAGGED_SENTENCES:
        doc = Doc(nlp.vocab, words=words.split())
        examples.append(Example.from_dict(doc, {"pos": upos.split(), "tags": xpos.split()}))
    return examples


def entity_examples(nlp):
    examples = []
    for text, spans in ENTITY_SENTENCES:
        reference = Doc(nlp.vocab, words=text.split())
        reference.set_ents([Span(reference, start, end, label) for start, end, label in spans], default="outside")
        examples.append(Example(Doc(nlp.vocab, words=text.split()), reference))
    return examples


def textcat_examples(nlp):
    examples = []
    for text, label in SENTIMENT_TEXTS:
        cats = {name: float(name == label) for name in SENTIMENT_LABELS}
        examples.append(Example.from_dict(nlp.make_doc(text), {"cats": cats}))
    return examples


def make_nlp(factory, name, model=None, pipe=None, **encoder):
    """A blank English pipeline with one component on the tiny encoder (pipe: factory settings)."""
    nlp = spacy.blank("en")
    model = {**(model or {}), "encoder": {**TINY_ENCODER, **encoder}}
    config = {"model": model, "max_batch_tokens": TINY_MAX_BATCH_TOKENS, **(pipe or {})}
    nlp.add_pipe(factory, name=name, config=config)
    return nlp


def make_tagger_nlp(**encoder):
    return make_nlp("torch_tagger", "tagger", **encoder)


def make_ner_nlp(model=None, tag_scheme="BILUO", **encoder):
    return make_nlp("torch_ner", "ner", model, {"tag_scheme": tag_scheme}, **encoder)


def make_textcat_nlp(model=None, **encoder):
    """Tiny text classifier; long docs are read in windows of 12 tokens (the tiny encoder's)."""
    return make_nlp("torch_textcat", "textcat", model, **encoder)


def make_annotation_nlp():
    """A tagger, a recognizer and a text classifier on the tiny encoder, initialized on the
    hand-written corpora (untrained: for what a pipeline writes, not how well)."""
    nlp = spacy.blank("en")
    config = {"model": {"encoder": dict(TINY_ENCODER)}, "max_batch_tokens": TINY_MAX_BATCH_TOKENS}
    for factory, name, examples in (("torch_tagger", "tagger", tagged_examples), ("torch_ner", "ner", entity_examples),
                                    ("torch_textcat", "textcat", textcat_examples)):
        nlp.add_pipe(factory, name=name, config=config)
        nlp.get_pipe(name).initialize(lambda: examples(nlp), nlp=nlp)
    return nlp


def train(nlp, examples, n_iter=60, seed=0):
    fix_random_seed(seed)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.01
    for _ in range(n_iter):
        nlp.update(examples, sgd=optimizer)
    return nlp


def train_tagger(nlp, n_iter=60, seed=0):
    return train(nlp, tagged_examples(nlp), n_iter, seed)


def train_ner(nlp, n_iter=60, seed=0):
    return train(nlp, entity_examples(nlp), n_iter, seed)


def train_textcat(nlp, n_iter=40, seed=0):
    return train(nlp, textcat_examples(nlp), n_iter, seed)


TEXTS = ["Anna Smith met Tom in Paris .", "The cat sat on the mat", "Zyx qwv 42 !"]


def annotations(doc):
    """Token annotations and the highest-scoring category (None without doc.cats)."""
    return [(t.text, t.pos_, t.tag_, t.ent_iob_, t.ent_type_) for t in doc], max(doc.cats, key=doc.cats.get, default=None)
