"""The research harness of spacy-rnn: the reports the project publishes (speed benchmarks, the
assembled core pipeline's report, the BiLSTM/Transformer comparison, ablations, continued
training, the vectors size curve, the GPU check) and the diagnostics that show the textbook
claims about recurrent networks on real data.

It imports the library (`spacy_rnn`) and is never imported by it. Installed from the repository
with `pip install -e components/lab`; run as `python -m spacy_rnn_lab COMMAND`.
"""
__version__ = "0.1.0"
