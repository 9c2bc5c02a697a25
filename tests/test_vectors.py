"""Static vectors for `[initialize] vectors`: GloVe text files, optionally extended by a
Transformer encoder's embedding of each word read alone."""
import numpy
import pytest
import spacy
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast
from typer.testing import CliRunner

from spacy_rnn.cli import app
from spacy_rnn.vectors import build_vectors_pipeline, encoder_word_vectors, principal_components, resolve_encoder

runner = CliRunner()
WORD_PIECES = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat", "dog", "##s", "run", "##ning", "!"]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    """A randomly initialised 1-layer BERT (hidden size 8) with its word-piece tokenizer, saved
    as a Hugging Face model folder."""
    folder = tmp_path_factory.mktemp("tiny_bert")
    (folder / "vocab.txt").write_text("\n".join(WORD_PIECES) + "\n", encoding="utf8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(WORD_PIECES), hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
    )
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture
def glove_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("cat 0.1 0.2 0.3\ndogs 0.4 0.5 0.6\nrunning 0.7 0.8 0.9\n", encoding="utf8")
    return path


def mean_pooled_alone(folder, word):
    """What the encoder gives one word in a batch of its own: mean of all word-piece states."""
    tokenizer, model = BertTokenizerFast.from_pretrained(folder), BertModel.from_pretrained(folder).eval()
    with torch.no_grad():
        return model(**tokenizer([word], return_tensors="pt")).last_hidden_state[0].mean(0).numpy()


def test_each_words_encoder_vector_is_its_mean_pooled_states_read_alone(tiny_encoder):
    words = ["running", "cat", "dogs"]  # different piece counts: batched with padding
    table = encoder_word_vectors(words, str(tiny_encoder), batch_size=2)
    assert table.shape == (3, 8)
    for row, word in enumerate(words):
        numpy.testing.assert_allclose(table[row], mean_pooled_alone(tiny_encoder, word), atol=1e-5)


def test_vectors_pipeline_appends_encoder_vectors_to_the_source_vectors(tmp_path, glove_file, tiny_encoder):
    shape = build_vectors_pipeline(tmp_path / "vectors", glove_file, encoder=str(tiny_encoder))
    assert shape == (3, 3 + 8)
    vocab = spacy.load(tmp_path / "vectors").vocab
    numpy.testing.assert_allclose(vocab["dogs"].vector[:3], [0.4, 0.5, 0.6])
    numpy.testing.assert_allclose(vocab["dogs"].vector[3:], mean_pooled_alone(tiny_encoder, "dogs"), atol=1e-5)


def test_principal_components_keep_the_directions_of_largest_variance():
    rng = numpy.random.default_rng(0)
    table = rng.normal(size=(2000, 4)).astype("float32") * numpy.array([0.1, 5.0, 1.0, 2.0], dtype="float32")
    reduced = principal_components(table, 2)
    assert reduced.shape == (2000, 2)
    numpy.testing.assert_allclose(reduced.mean(axis=0), 0.0, atol=1e-3)
    numpy.testing.assert_allclose(reduced.std(axis=0), [5.0, 2.0], rtol=0.05)
    with pytest.raises(ValueError, match="between 1 and 4"):
        principal_components(table, 5)


def test_init_vectors_cli_with_a_reduced_encoder_width(tmp_path, glove_file, tiny_encoder):
    args = ["init-vectors", str(tmp_path / "v"), "--input", str(glove_file)]
    result = runner.invoke(app, args + ["--encoder", str(tiny_encoder), "--encoder-width", "2"])
    assert result.exit_code == 0, result.output
    assert "3 vectors of width 5" in result.output


def test_init_vectors_cli_names_an_encoder_it_cannot_load(tmp_path, glove_file):
    missing = tmp_path / "no_such_model"
    result = runner.invoke(app, ["init-vectors", str(tmp_path / "v"), "--input", str(glove_file), "--encoder", str(missing)])
    assert result.exit_code == 1 and "cannot load the encoder" in result.output


def test_resolve_encoder_takes_folders_as_given_and_other_names_as_hub_names(tiny_encoder):
    assert resolve_encoder(str(tiny_encoder)) == str(tiny_encoder)
    assert resolve_encoder("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
