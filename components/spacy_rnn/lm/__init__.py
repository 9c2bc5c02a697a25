"""Word-level language modelling: vocabulary and normalisation, truncated-BPTT batching and
training, and the interpolated modified Kneser-Ney n-gram baseline."""
