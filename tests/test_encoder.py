"""The torch encoder, windowing and serialization in isolation."""
import hashlib
import io
import os
import pickle

import pytest
import spacy
import srsly
import torch
from spacy.tokens import Doc

from spacy_rnn.featurize import doc_windows
from spacy_rnn.layers import SERIALIZATION_FORMAT, deserialize_net, serialize_net
from spacy_rnn.models.cells import CELLS, cell_of
from spacy_rnn.models.classifier import TextClassifierNet
from spacy_rnn.models.encoder import CharCNN, RNNEncoder, RNNEncoderSettings, SequenceBatch
from spacy_rnn.models.tagger import TaggerNet
from spacy_rnn.pipes.base import IGNORE_INDEX, softmax_cross_entropy

SETTINGS = dict(
    word_width=6, char_width=4, char_filters=5, char_kernel=3, hidden_width=7, depth=2, cell="lstm",
    bidirectional=True, dropout=0.0, word_dropout=0.0,
)
SIZES = dict(n_words=20, n_chars=12, vectors_width=3)


def make_encoder(**settings) -> RNNEncoder:
    return RNNEncoder(RNNEncoderSettings(**{**SETTINGS, **settings}), **SIZES)


def random_batch(lengths, vectors_width=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    n, width = len(lengths), max(lengths)
    word_ids = torch.randint(2, 20, (n, width), generator=generator)
    form_index = torch.arange(n * width).reshape(n, width)
    for row, length in enumerate(lengths):
        word_ids[row, length:] = 0
        form_index[row, length:] = 0
    char_ids = torch.randint(4, 12, (n * width, 6), generator=generator)
    return SequenceBatch(
        word_ids=word_ids,
        char_ids=char_ids,
        form_index=form_index,
        vectors=torch.randn(n, width, vectors_width, generator=generator) if vectors_width else None,
        lengths=torch.tensor(lengths),
        token_index=torch.cat([torch.arange(length) + row * width for row, length in enumerate(lengths)]),
    )


def single(batch, row):
    length = int(batch.lengths[row])
    return SequenceBatch(
        word_ids=batch.word_ids[row : row + 1, :length],
        char_ids=batch.char_ids,
        form_index=batch.form_index[row : row + 1, :length],
        vectors=None if batch.vectors is None else batch.vectors[row : row + 1, :length],
        lengths=batch.lengths[row : row + 1],
        token_index=torch.arange(length),
    )


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_packed_batch_equals_each_sequence_alone(cell, bidirectional):
    torch.manual_seed(0)
    encoder = make_encoder(cell=cell, bidirectional=bidirectional).eval()
    batch = random_batch([5, 2, 9])
    batched = encoder(batch)
    for row, length in enumerate([5, 2, 9]):
        alone = encoder(single(batch, row))
        torch.testing.assert_close(batched[row, :length], alone[0], rtol=1e-5, atol=1e-6)
        assert torch.all(batched[row, length:] == 0)


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_the_cell_table_gives_each_cell_its_module_function_and_gates(name):
    """CELLS[name].function runs one layer of CELLS[name].module with its weights, whose rows are
    gates x hidden units; cell_of reads the cell back from a module."""
    cell = CELLS[name]
    torch.manual_seed(0)
    rnn = cell.module(3, 4, batch_first=True)
    assert cell_of(rnn) is cell and rnn.weight_ih_l0.shape[0] == cell.gates * 4
    inputs, h0 = torch.randn(2, 5, 3), torch.zeros(1, 2, 4)
    weights = [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0]
    # (input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
    outputs = cell.function(inputs, (h0, h0) if name == "lstm" else h0, weights, True, 1, 0.0, False, False, True)[0]
    torch.testing.assert_close(outputs, rnn(inputs)[0])


def test_unknown_cell_is_rejected():
    with pytest.raises(ValueError, match="cell must be one of"):
        make_encoder(cell="transformer")


def test_char_features_ignore_padding():
    torch.manual_seed(0)
    cnn = CharCNN(n_chars=10, char_width=4, n_filters=6, kernel_size=3)
    short = torch.tensor([[2, 5, 6, 3]])
    padded = torch.tensor([[2, 5, 6, 3, 0, 0, 0, 0], [2, 7, 7, 7, 7, 7, 7, 3]])
    torch.testing.assert_close(cnn(short)[0], cnn(padded)[0])


def test_word_dropout_only_replaces_known_words_while_training():
    torch.manual_seed(0)
    encoder = make_encoder(word_dropout=1.0)
    seen = []
    encoder.word_embed.register_forward_hook(lambda module, args, out: seen.append(args[0].clone()))
    batch = random_batch([4, 3])
    encoder.train()(batch)
    assert set(seen[-1][batch.word_ids > 0].tolist()) == {1}
    assert torch.all(seen[-1][batch.word_ids == 0] == 0)
    encoder.eval()(batch)
    assert torch.equal(seen[-1], batch.word_ids)


def test_tagger_net_emits_logits_for_requested_tokens():
    torch.manual_seed(0)
    net = TaggerNet(encoder=make_encoder(), heads={"pos": 4, "tag": 9}).eval()
    batch = random_batch([3, 5])
    outputs = net(batch)
    assert outputs["pos"].shape == (8, 4) and outputs["tag"].shape == (8, 9)
    assert not torch.allclose(outputs["pos"].exp().sum(-1), torch.ones(8))


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0], [1.0, 3.0, 0.0]])
    targets = torch.tensor([0, IGNORE_INDEX, 1])
    loss, grad = softmax_cross_entropy(logits, targets)
    expected = torch.softmax(logits, -1) - torch.nn.functional.one_hot(torch.tensor([0, 0, 1]), 3)
    expected[1] = 0
    torch.testing.assert_close(grad, expected / 2)
    manual = -(torch.log_softmax(logits, -1)[0, 0] + torch.log_softmax(logits, -1)[2, 1]) / 2
    assert loss == pytest.approx(float(manual))


def test_windows_cover_each_token_once_with_bounded_length():
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=[f"w{i}" for i in range(53)])
    windows = doc_windows(doc, size=12, context=3)
    cores = [i for _, _, core_start, core_end in windows for i in range(core_start, core_end)]
    assert cores == list(range(53))
    for start, end, core_start, core_end in windows:
        assert end - start <= 12
        assert start == max(0, core_start - 3) and end == min(53, core_end + 3)


def test_windows_follow_sentence_boundaries():
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words="a b c d e f".split(), sent_starts=[True, False, False, True, False, False])
    assert doc_windows(doc, size=12, context=3) == [(0, 3, 0, 3), (3, 6, 3, 6)]
    assert doc_windows(Doc(nlp.vocab, words=[]), size=12, context=3) == []
    with pytest.raises(ValueError, match="window_size"):
        doc_windows(doc, size=6, context=3)


def test_serialized_net_is_rebuilt_from_hyperparameters():
    torch.manual_seed(0)
    net = TaggerNet(encoder=make_encoder(), heads={"pos": 4}).eval()
    loaded = deserialize_net(torch.nn.Module(), serialize_net(net), torch.device("cpu")).eval()
    batch = random_batch([4, 2])
    torch.testing.assert_close(net(batch)["pos"], loaded(batch)["pos"], rtol=0, atol=0)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned_by_pickle",))


def test_loading_never_unpickles_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    buffer = io.BytesIO()
    torch.save({"weight": _Exploit()}, buffer)
    message = srsly.msgpack_loads(serialize_net(TaggerNet(encoder=make_encoder(), heads={"pos": 4})))
    state = buffer.getvalue()  # with a checksum that matches it: only torch.load stands in the way
    data = srsly.msgpack_dumps({**message, "state": state, "sha256": hashlib.sha256(state).hexdigest()})
    with pytest.raises(pickle.UnpicklingError):
        deserialize_net(torch.nn.Module(), data, torch.device("cpu"))
    assert not (tmp_path / "pwned_by_pickle").exists()


def test_unknown_module_names_are_refused():
    data = srsly.msgpack_dumps({"format": SERIALIZATION_FORMAT, "net": "os.system", "hparams": {}, "state": b""})
    with pytest.raises(ValueError, match="Unknown torch module"):
        deserialize_net(torch.nn.Module(), data, torch.device("cpu"))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padded_run_equals_packed_run(cell, bidirectional):
    """The setting packed = false: the same states (zeros at padding) and the same gradients."""
    torch.manual_seed(0)
    encoder = make_encoder(cell=cell, bidirectional=bidirectional).eval()
    unpacked = make_encoder(cell=cell, bidirectional=bidirectional, packed=False).eval()
    unpacked.load_state_dict(encoder.state_dict())
    batch = random_batch([5, 2, 9])
    packed, padded = encoder(batch), unpacked(batch)
    torch.testing.assert_close(padded, packed, rtol=1e-5, atol=1e-6)
    weights = torch.randn(packed.shape)
    grads = [torch.autograd.grad((out * weights).sum(), list(net.rnn.parameters())) for net, out in ((encoder, packed), (unpacked, padded))]
    for packed_grad, padded_grad in zip(*grads):
        torch.testing.assert_close(padded_grad, packed_grad, rtol=1e-4, atol=1e-5)


def without_packed_setting(data: bytes) -> bytes:
    """A serialized net as the code before the `packed` setting wrote it."""
    msg = srsly.msgpack_loads(data)
    del msg["hparams"]["encoder"]["hparams"]["settings"]["packed"]
    return srsly.msgpack_dumps(msg)


def test_a_text_classifier_saved_before_the_packed_setting_still_reads_unpacked():
    """Before `packed` was an encoder setting the text classifier asked its encoder for unpacked
    runs and the other heads had it pack: modules saved then load to do the same."""
    def load(data):
        return deserialize_net(torch.nn.Module(), data, torch.device("cpu"))

    classifier = load(without_packed_setting(serialize_net(TextClassifierNet(make_encoder(), n_labels=2, pooling="max"))))
    tagger = load(without_packed_setting(serialize_net(TaggerNet(encoder=make_encoder(), heads={"pos": 4}))))
    assert classifier.encoder.packed is False and tagger.encoder.packed is True
    assert load(serialize_net(classifier)).encoder.packed is False  # saved again, with the setting
