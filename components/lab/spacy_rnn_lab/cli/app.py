"""The lab's Typer app, on which every lab command module registers."""
from spacy_rnn.cli.common import make_app

app = make_app("The spacy-rnn lab: speed benchmarks, ablations, diagnostics of recurrent networks, "
               "the core pipeline's report, the Transformer comparison, continued training.")
