"""Diagnostics: one module per textbook claim about recurrent networks, each reproducing it as
numbers (JSON) and a figure (PNG); `python -m spacy_rnn_lab diagnose-* --help` runs them and
`diagnostics-report` (module report) assembles reports/diagnostics/README.md.

vanishing (1: gradient norm against distance), exploding (2: spectral radius > 1, clipping and
the non-finite guard), long_range (3: adding problem and copy task), gates (4: gate heatmaps
of a trained LSTM), context (5: how much context the language models use), bidirectional
(6: right context), surprisal (7: a doc shaded by surprisal). tasks holds the synthetic tasks
and the guarded training loop they share; output the JSON/PNG writers.
"""
