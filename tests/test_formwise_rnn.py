"""The per-form input projection (`FormwiseRNN`): the states of the trained recurrent layers,
with the first layer's input projection computed once per distinct word form."""
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from spacy_rnn.models.encoder import RNNEncoder, RNNEncoderSettings, SequenceBatch
from spacy_rnn.models.formwise_rnn import FormwiseRNN, first_occurrences
from spacy_rnn.models.inference_copies import quantize_int8

LENGTHS = torch.tensor([7, 3, 5, 1, 7, 2])


def form_batch(lengths=LENGTHS, n_forms=9, seed=0):
    """Windows of tokens drawn from n_forms forms (every form used, padding at form 0), with
    word ids and static vectors that are functions of the form, as `spacy_rnn.featurize` makes."""
    generator = torch.Generator().manual_seed(seed)
    n_steps = int(lengths.max())
    real = torch.arange(n_steps).unsqueeze(0) < lengths.unsqueeze(1)
    form_index = torch.randint(0, n_forms, (len(lengths), n_steps), generator=generator)
    form_index[real.nonzero()[:n_forms].unbind(1)] = torch.arange(n_forms)
    form_index[~real] = 0
    word_of_form = torch.randint(2, 20, (n_forms,), generator=generator)
    vector_of_form = torch.randn(n_forms, 3, generator=generator)
    return SequenceBatch(
        word_ids=word_of_form[form_index] * real,
        char_ids=torch.randint(4, 12, (n_forms, 5), generator=generator),
        form_index=form_index,
        vectors=vector_of_form[form_index] * real.unsqueeze(-1),
        lengths=lengths,
        token_index=real.flatten().nonzero().squeeze(1),
    )


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU, nn.RNN])
def test_states_equal_the_packed_rnn_over_each_tokens_form(cell, depth, bidirectional):
    torch.manual_seed(0)
    rnn = cell(6, 5, num_layers=depth, bidirectional=bidirectional, batch_first=True).eval()
    forms = torch.randn(9, 6)
    batch = form_batch()
    packed = pack_padded_sequence(forms[batch.form_index], batch.lengths, batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        expected = pad_packed_sequence(rnn(packed)[0], batch_first=True)[0]
    found = FormwiseRNN(rnn)(forms, batch.form_index, batch.lengths)
    assert found.shape == expected.shape
    assert torch.allclose(found, expected, atol=1e-6)


def test_the_encoder_gives_its_trained_states_and_refuses_training():
    torch.manual_seed(0)
    settings = RNNEncoderSettings(word_width=4, char_width=3, char_filters=5, hidden_width=6, depth=2, dropout=0.0)
    encoder = RNNEncoder(settings, n_words=20, n_chars=12, vectors_width=3).eval()
    batch = form_batch()
    with torch.no_grad():
        expected = encoder(batch)
    encoder = encoder.formwise_copy()
    found = encoder(batch)
    assert torch.allclose(found, expected, atol=1e-6)
    assert found[~(torch.arange(7).unsqueeze(0) < LENGTHS.unsqueeze(1))].abs().max() == 0  # zeros at padding
    with pytest.raises(RuntimeError, match="cannot be trained"):
        encoder.train()(batch)


def test_each_form_is_read_at_a_real_token_never_at_padding():
    form_index = torch.tensor([[2, 0, 1], [1, 0, 0]])  # window 1 has one real token; its padding says form 0
    first = first_occurrences(form_index, torch.tensor([3, 1]), n_forms=3)
    assert first.tolist() == [1, 2, 0]  # form 0 at position 1 (window 0), not at padding position 4 or 5
    with pytest.raises(ValueError, match="no real token"):
        first_occurrences(form_index, torch.tensor([3, 1]), n_forms=4)


def test_quantised_parts_stay_close_to_the_float_states():
    torch.manual_seed(0)
    formwise = FormwiseRNN(nn.LSTM(6, 5, bidirectional=True, batch_first=True))
    forms, batch = torch.randn(9, 6), form_batch()
    expected = formwise(forms, batch.form_index, batch.lengths)
    quantized = quantize_int8(formwise)
    assert (quantized(forms, batch.form_index, batch.lengths) - expected).abs().max() < 0.05
