"""Which objective should the recognizer's temperature minimise? Measured on the dev file only.

(a) entity: the binary NLL of "the predicted entity is correct" under its CRF probability at T
    (what `spacy_rnn.evaluation.temperature` fits);
(b) sequence: the CRF's NLL of the gold tag sequences at T (every CRF score divided by T), per
    token, as training computes it.

The dev documents are split in two folds (even and odd positions in the file). For each
objective, T is fitted on one fold and the entity ECE measured on the other, both ways; the
figure compared is the mean of the two held-out ECEs (and, for reference, the ECE on the whole
dev file at T fitted on the whole dev file). The test file is not read.

    python experiments/temperature/objective.py PIPELINE DEV OUTPUT.json
"""
import copy
import json
import sys
from pathlib import Path

import torch
from spacy.tokens import DocBin
from spacy.training import Example

from spacy_rnn.checkpoints import load_pipeline
from spacy_rnn.evaluation.calibration import calibration
from spacy_rnn.evaluation.temperature import fit_temperature, gathered_outcomes
from spacy_rnn.layers import get_torch_net
from spacy_rnn.models.ner import pad_docs


def sequence_nll(pipe, outcomes, references):
    """T -> the CRF's negative log-likelihood of the gold tags per token, every score divided by T."""
    net = get_torch_net(pipe.model)
    gold = [torch.from_numpy(pipe._gold_tag_ids(Example(doc, ref))) for doc, ref in zip(outcomes.docs, references)]
    kept = [i for i, ids in enumerate(gold) if len(ids)]
    padded, mask = pad_docs([outcomes.emissions[i].double() for i in kept])
    gold_ids, _ = pad_docs([gold[i] for i in kept])
    n_tokens = sum(len(ids) for ids in gold)

    def nll(temperature):
        crf = copy.deepcopy(net.crf).double()
        with torch.no_grad():
            for scores in (crf.start, crf.end, crf.transitions):
                scores.div_(temperature)
            return float(crf.neg_log_likelihood(padded / temperature, gold_ids, mask).sum()) / n_tokens

    return nll


def ece(outcomes, temperature):
    return calibration(outcomes.confidences(temperature), outcomes.correct, outcomes.n_gold)["ece"]


def main(model, dev, output):
    nlp = load_pipeline(model)
    pipe = nlp.get_pipe("ner")
    references = list(DocBin().from_disk(dev).get_docs(nlp.vocab))
    folds = [references[0::2], references[1::2]]
    gathered = []
    for fold in [references] + folds:
        outcomes = gathered_outcomes(nlp, "ner", fold, str(dev))[0]["entities"]
        gathered.append((outcomes, {"entity": outcomes.nll, "sequence": sequence_nll(pipe, outcomes, fold)}))
    whole, first, second = gathered
    result = {"model": model, "dev": str(dev), "folds": [len(fold) for fold in folds], "ece_at_1": ece(whole[0], 1.0), "objectives": {}}
    for objective in ("entity", "sequence"):
        fitted = [fit_temperature(part[1][objective]) for part in (first, second)]
        held_out = [ece(second[0], fitted[0]), ece(first[0], fitted[1])]
        on_dev = fit_temperature(whole[1][objective])
        result["objectives"][objective] = {
            "fold_temperatures": fitted,
            "held_out_ece": held_out,
            "mean_held_out_ece": round(sum(held_out) / 2, 6),
            "held_out_ece_at_1": [ece(second[0], 1.0), ece(first[0], 1.0)],
            "dev_temperature": on_dev,
            "dev_ece": ece(whole[0], on_dev),
        }
    Path(output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:])
