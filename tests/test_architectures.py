"""The registered architectures: defaults that work, settings that reach the torch module whole,
and the first release's names still resolving."""
from dataclasses import asdict

import pytest
import spacy

from spacy_rnn.encoders import RNNEncoderSpec
from spacy_rnn.layers import get_torch_net
from spacy_rnn.models.encoder import RNNEncoderSettings

from helpers import TINY_ENCODER, entity_examples, make_tagger_nlp, tagged_examples, textcat_examples

DEFAULT_FACTORIES = {
    "bilstm_tagger": tagged_examples,
    "bilstm_crf_ner": entity_examples,
    "lstm_textcat": textcat_examples,
}


@pytest.mark.parametrize("factory", list(DEFAULT_FACTORIES))
def test_every_factory_works_with_its_defaults(factory):
    nlp = spacy.blank("en")
    nlp.add_pipe(factory, name="pipe")
    examples = DEFAULT_FACTORIES[factory](nlp)
    optimizer = nlp.initialize(lambda: examples)
    nlp.update(examples, sgd=optimizer)
    doc = nlp("Anna met Tom in Paris .")
    assert len(doc) == 6


def test_encoder_settings_travel_whole_to_the_torch_module():
    nlp = make_tagger_nlp(hidden_width=11, cell="gru", char_kernel=5)
    nlp.initialize(lambda: tagged_examples(nlp))
    encoder = get_torch_net(nlp.get_pipe("tagger").model).encoder
    settings = RNNEncoderSettings(**encoder.hparams["settings"])
    assert (settings.hidden_width, settings.cell, settings.char_kernel) == (11, "gru", 5)
    assert encoder.rnn.hidden_size == 11 and encoder.char_cnn.conv.kernel_size == (5,)
    spec = RNNEncoderSpec(**{**TINY_ENCODER, "hidden_width": 11, "cell": "gru", "char_kernel": 5})
    assert asdict(settings) == asdict(RNNEncoderSettings.take(asdict(spec)))


FIRST_RELEASE_CONFIG = """
[nlp]
lang = "en"
pipeline = ["tagger"]

[components]

[components.tagger]
factory = "bilstm_tagger"

[components.tagger.model]
@architectures = "lstm.Tagger.v1"

[components.tagger.model.encoder]
@architectures = "lstm.Encoder.v1"
hidden_width = 7
window_size = 12
window_context = 2
max_batch_tokens = 64
"""


def test_the_first_release_names_still_build_the_same_model():
    old = spacy.util.load_model_from_config(spacy.util.load_config_from_str(FIRST_RELEASE_CONFIG), auto_fill=True)
    old.initialize(lambda: tagged_examples(old))
    new = make_tagger_nlp(hidden_width=7)
    new.initialize(lambda: tagged_examples(new))
    old_encoder = get_torch_net(old.get_pipe("tagger").model).encoder
    assert old_encoder.rnn.hidden_size == 7 and type(old_encoder) is type(get_torch_net(new.get_pipe("tagger").model).encoder)
    assert old("The cat sat")[0].pos_
