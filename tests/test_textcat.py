"""The LSTM text classifier: poolings, cells, long texts, bucketing, empty docs, labels and errors.

The contract shared with the other components is in test_component_contract.py.
"""
import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.training import Example

from spacy_rnn.featurize import Window, bucket_windows
from spacy_rnn.layers import get_torch_net
from spacy_rnn.models.classifier import POOLINGS, TextClassifierNet
from spacy_rnn.models.encoder import RNNEncoder, RNNEncoderSettings

from helpers import SENTIMENT_LABELS, SENTIMENT_TEXTS, TINY_ENCODER, make_textcat_nlp, textcat_examples, train

LONG_WORDS = "the film was good and then it was bad but in the end I liked it".split()


def top_label(doc):
    return max(doc.cats, key=doc.cats.get)


def long_doc(nlp, n_tokens):
    return Doc(nlp.vocab, words=[LONG_WORDS[i % len(LONG_WORDS)] for i in range(n_tokens)])


def record_encoder_batches(pipe):
    """A list that receives (windows, padded length, core tokens) of every encoder call, and the hook."""
    calls = []
    hook = get_torch_net(pipe.model).encoder.register_forward_hook(
        lambda module, args, out: calls.append((out.shape[0], out.shape[1], int(args[0].token_index.numel())))
    )
    return calls, hook


@pytest.mark.parametrize(
    "pooling,cell,bidirectional",
    [(pooling, "lstm", True) for pooling in POOLINGS]
    + [("last", "gru", False), ("attention", "rnn", False), ("mean", "gru", True), ("max", "rnn", True)],
)
def test_every_pooling_and_cell_overfits_a_tiny_set(pooling, cell, bidirectional):
    nlp = make_textcat_nlp({"pooling": pooling}, cell=cell, bidirectional=bidirectional)
    examples = textcat_examples(nlp)
    train(nlp, examples, n_iter=40)
    assert [top_label(nlp(text)) for text, _ in SENTIMENT_TEXTS] == [label for _, label in SENTIMENT_TEXTS]
    assert nlp.evaluate(examples)["cats_acc"] == 1.0


@pytest.mark.parametrize("pooling", POOLINGS)
def test_docs_longer_than_the_window_train_through_their_windows(pooling):
    """Each text three times over (up to 24 tokens, read in windows of 12): gradients flow through
    the merge of the windows."""
    nlp = make_textcat_nlp({"pooling": pooling})
    examples = []
    for text, label in SENTIMENT_TEXTS:
        doc = nlp.make_doc(" ".join([text] * 3))
        examples.append(Example.from_dict(doc, {"cats": {name: float(name == label) for name in SENTIMENT_LABELS}}))
    train(nlp, examples, n_iter=40)
    calls, hook = record_encoder_batches(nlp.get_pipe("textcat"))
    try:
        predicted = [top_label(nlp(eg.reference.text)) for eg in examples]
    finally:
        hook.remove()
    assert predicted == [label for _, label in SENTIMENT_TEXTS]
    assert max(length for _, length, _ in calls) <= 12 < max(len(eg.reference) for eg in examples)


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_merging_windows_equals_pooling_the_whole_doc(pooling, bidirectional):
    """Token states of a 10-token doc pooled at once, or as two overlapping windows whose
    cores (tokens 0-5 and 6-9) partition it, give the same vector."""
    torch.manual_seed(0)
    settings = RNNEncoderSettings(
        word_width=4, char_width=2, char_filters=0, hidden_width=3, depth=1, bidirectional=bidirectional, dropout=0.0, word_dropout=0.0
    )
    net = TextClassifierNet(RNNEncoder(settings, n_words=5, n_chars=5, vectors_width=0), n_labels=2, pooling=pooling)
    states = torch.randn(1, 10, net.encoder.output_width)
    whole, scores = net.pool_windows(states, torch.ones(1, 10, dtype=torch.bool))
    # Window 0 reads tokens 0-7 (core 0-5), window 1 reads tokens 4-9 (core 6-9), padded to 8.
    windows = torch.zeros(2, 8, states.shape[2])
    windows[0] = states[0, 0:8]
    windows[1, :6] = states[0, 4:10]
    core = torch.zeros(2, 8, dtype=torch.bool)
    core[0, 0:6] = True
    core[1, 2:6] = True
    vectors, window_scores = net.pool_windows(windows, core)
    merged = net.pool_docs(vectors, window_scores, torch.tensor([0, 0]), n_docs=1)
    torch.testing.assert_close(merged, net.pool_docs(whole, scores, torch.tensor([0]), n_docs=1))
    torch.testing.assert_close(merged, whole)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_last_pooling_reads_the_states_of_an_encoder_converted_at_load(tmp_path, bidirectional):
    """"last" pooling takes the directions' halves from the encoder contract, so the per-form
    copy a saved classifier loads with by default pools as the trained module does."""
    nlp = make_textcat_nlp({"pooling": "last"}, bidirectional=bidirectional)
    train(nlp, textcat_examples(nlp), n_iter=5)
    nlp.to_disk(tmp_path)
    per_form = spacy.load(tmp_path, config={"components": {"textcat": {"precision": "float32", "input_projection": "form"}}})
    as_trained = spacy.load(tmp_path, config={"components": {"textcat": {"precision": "float32", "input_projection": "token"}}})
    for text, _ in SENTIMENT_TEXTS:
        assert per_form(text).cats == pytest.approx(as_trained(text).cats, abs=1e-5)


def test_a_10000_token_doc_is_classified_with_bounded_memory(trained_textcat_nlp):
    """The encoder never sees more than max_batch_tokens padded tokens at once, whatever the
    doc's length: its largest tensors are the same for 1,000 and 10,000 tokens."""
    nlp = trained_textcat_nlp
    pipe = nlp.get_pipe("textcat")
    largest = {}
    for n_tokens in (1_000, 10_000):
        calls, hook = record_encoder_batches(pipe)
        try:
            doc = nlp(long_doc(nlp, n_tokens))
        finally:
            hook.remove()
        assert sum(core for _, _, core in calls) == n_tokens  # every token read once as a core token
        assert all(windows * length <= pipe.cfg["max_batch_tokens"] for windows, length, _ in calls)
        assert max(length for _, length, _ in calls) <= TINY_ENCODER["window_size"]
        largest[n_tokens] = max(windows * length for windows, length, _ in calls)
        assert sorted(doc.cats) == SENTIMENT_LABELS and sum(doc.cats.values()) == pytest.approx(1.0)
    assert largest[10_000] == largest[1_000]


def test_truncate_reads_only_the_first_window():
    nlp = make_textcat_nlp({"long_text": "truncate", "pooling": "mean"})
    train(nlp, textcat_examples(nlp), n_iter=5)
    pipe = nlp.get_pipe("textcat")
    calls, hook = record_encoder_batches(pipe)
    try:
        probs = pipe.predict([long_doc(nlp, 30)])
    finally:
        hook.remove()
    assert calls == [(1, 12, 12)]
    torch.testing.assert_close(torch.from_numpy(probs), torch.from_numpy(pipe.predict([long_doc(nlp, 12)])))


def test_batched_predictions_equal_one_at_a_time(trained_textcat_nlp):
    """Docs of very different lengths (some read in several windows, several length buckets)."""
    pipe = trained_textcat_nlp.get_pipe("textcat")
    docs = [long_doc(trained_textcat_nlp, n) for n in (3, 40, 0, 7, 25, 1, 12, 13)]
    batched = pipe.predict(docs)
    alone = [pipe.predict([doc])[0] for doc in docs]
    torch.testing.assert_close(torch.from_numpy(batched), torch.from_numpy(numpy.stack(alone)), rtol=1e-5, atol=1e-6)


def test_bucket_windows_groups_similar_lengths_within_the_budget():
    lengths = [5, 12, 3, 12, 7, 1, 12]
    windows = [Window(i, 0, n, 0, n) for i, n in enumerate(lengths)]
    groups = bucket_windows(windows, max_tokens=24)
    assert sorted(i for group in groups for i in group) == list(range(len(lengths)))
    assert [[lengths[i] for i in group] for group in groups] == [[12, 12], [12, 7], [5, 3, 1]]
    assert bucket_windows([Window(0, 0, 30, 0, 30)], max_tokens=24) == [[0]]


def test_empty_and_whitespace_docs_get_valid_cats(trained_textcat_nlp):
    """An empty doc gets softmax of the head's bias; a whitespace-only doc is read like any text."""
    nlp = trained_textcat_nlp
    empty = nlp("")
    bias = get_torch_net(nlp.get_pipe("textcat").model).output.bias.detach()
    assert list(empty.cats) == SENTIMENT_LABELS
    assert list(empty.cats.values()) == pytest.approx(bias.softmax(dim=0).tolist())
    for doc in (nlp("  \n\t "), *nlp.pipe(["", "A good movie", "   "])):
        assert list(doc.cats) == SENTIMENT_LABELS
        assert sum(doc.cats.values()) == pytest.approx(1.0) and all(0 <= p <= 1 for p in doc.cats.values())


def test_labels_are_taken_from_the_examples_or_given_in_order():
    nlp = make_textcat_nlp()
    nlp.initialize(lambda: textcat_examples(nlp))
    assert nlp.get_pipe("textcat").labels == tuple(SENTIMENT_LABELS)
    nlp = make_textcat_nlp()
    order = ["positive", "neutral", "negative"]
    nlp.get_pipe("textcat").initialize(lambda: textcat_examples(nlp), labels=order)
    assert list(nlp("good").cats) == order and nlp.get_pipe("textcat").label_data == order


def test_initialize_without_two_labels_is_an_error():
    nlp = make_textcat_nlp()
    no_cats = [Example(nlp.make_doc("a film"), nlp.make_doc("a film"))]
    with pytest.raises(ValueError, match="at least two labels"):
        nlp.initialize(lambda: no_cats)
    one_label = [Example.from_dict(nlp.make_doc("a film"), {"cats": {"positive": 1.0}})]
    with pytest.raises(ValueError, match="at least two labels"):
        nlp.initialize(lambda: one_label)


def test_unknown_and_non_exclusive_gold_labels_are_errors():
    nlp = make_textcat_nlp()
    optimizer = nlp.initialize(lambda: textcat_examples(nlp))
    unknown = Example.from_dict(nlp.make_doc("a film"), {"cats": {"mixed": 1.0}})
    with pytest.raises(ValueError, match="'mixed' is not among the component's labels"):
        nlp.update([unknown], sgd=optimizer)
    both = Example.from_dict(nlp.make_doc("a film"), {"cats": {"positive": 1.0, "negative": 1.0}})
    with pytest.raises(ValueError, match="not exclusive"):
        nlp.update([both], sgd=optimizer)


def test_examples_without_a_gold_class_are_left_out_of_the_loss():
    nlp = make_textcat_nlp()
    optimizer = nlp.initialize(lambda: textcat_examples(nlp))
    missing = Example.from_dict(nlp.make_doc("a film"), {"cats": {label: 0.0 for label in SENTIMENT_LABELS}})
    assert nlp.update([missing], sgd=optimizer)["textcat"] == 0.0


@pytest.mark.parametrize("model, encoder", [({"pooling": "sum"}, {}), ({"long_text": "split"}, {}), ({}, {"window_size": 4})])
def test_invalid_architecture_settings_are_errors(model, encoder):
    with pytest.raises(ValueError):
        make_textcat_nlp(model, **encoder)


def test_spacys_scorer_refuses_gold_of_another_task(trained_textcat_nlp):
    """`spacy evaluate` of a 3-class model on gold with other labels (e.g. SST-5 gold for a binary
    model) is refused, not scored as 0."""
    nlp = trained_textcat_nlp
    other_task = [
        Example(nlp.make_doc(text), Doc(nlp.vocab, words=text.split()))
        for text, _ in SENTIMENT_TEXTS
    ]
    for example in other_task:
        example.reference.cats = {"very positive": 1.0, "very negative": 0.0}
    with pytest.raises(ValueError, match="the gold is for another task"):
        nlp.evaluate(other_task)
    assert nlp.evaluate(textcat_examples(nlp))["cats_acc"] is not None
