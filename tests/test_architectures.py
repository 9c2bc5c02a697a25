"""The registered architectures: defaults that work, settings that reach the torch module whole."""
from dataclasses import asdict

import pytest
import spacy

from spacy_rnn.encoders import RNNEncoderSpec
from spacy_rnn.layers import get_torch_net
from spacy_rnn.models.encoder import RNNEncoderSettings

from helpers import TINY_ENCODER, entity_examples, make_tagger_nlp, tagged_examples, textcat_examples

DEFAULT_FACTORIES = {
    "torch_tagger": tagged_examples,
    "torch_ner": entity_examples,
    "torch_textcat": textcat_examples,
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
