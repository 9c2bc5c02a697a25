"""The published sizes of every corpus split, checked by the converters, the tests and project.yml.

COUNTS maps a name, the DocBin the project writes without "corpus/" and ".spacy" (PTB's
train split, which is not converted, included), to the counts that must come out of it:
`python -m spacy_rnn convert-... --expect-counts ud_en_ewt/train` checks all of an entry's
counts. This module imports nothing, so the command line reads it without loading spaCy.

Count names are the units the converters report: "docs", "sentences", "tokens" and
"entities" (CoNLL-U, CoNLL-2003; PTB tokens are words + one <eos> per sentence); "sentences"
and "docs" for SST trees (trees read, Docs written); "rows" for SST-2 and "reviews" for IMDB.
"""
from typing import Dict

COUNTS: Dict[str, Dict[str, int]] = {
    # UD English EWT v2.16 (sentences, syntactic words).
    "ud_en_ewt/train": {"sentences": 12544, "tokens": 204577},
    "ud_en_ewt/dev": {"sentences": 2001, "tokens": 25147},
    "ud_en_ewt/test": {"sentences": 2077, "tokens": 25094},
    # CoNLL-2003 English NER (eng.train, eng.testa, eng.testb): one Doc per -DOCSTART-.
    "conll2003/train": {"docs": 946, "sentences": 14041, "tokens": 203621, "entities": 23499},
    "conll2003/dev": {"docs": 216, "sentences": 3250, "tokens": 51362, "entities": 5942},
    "conll2003/test": {"docs": 231, "sentences": 3453, "tokens": 46435, "entities": 5648},
    # Stanford Sentiment Treebank, 5 labels: trees per split; phrases are labelled nodes, with
    # repeats across trees (as the literature counts them) or each distinct phrase once.
    "sst/train": {"sentences": 8544, "docs": 8544},
    "sst/dev": {"sentences": 1101, "docs": 1101},
    "sst/test": {"sentences": 2210, "docs": 2210},
    "sst/train_phrases": {"sentences": 8544, "docs": 318582},
    "sst/train_phrases_unique": {"sentences": 8544, "docs": 159286},
    # Binary SST: the same trees, neutral sentences and phrases dropped.
    "sst_binary/train": {"sentences": 8544, "docs": 6920},
    "sst_binary/dev": {"sentences": 1101, "docs": 872},
    "sst_binary/test": {"sentences": 2210, "docs": 1821},
    "sst_binary/train_phrases": {"sentences": 8544, "docs": 98794},
    "sst_binary/train_phrases_unique": {"sentences": 8544, "docs": 77626},
    # GLUE SST-2 (train: phrases, dev: sentences).
    "sst2/train": {"rows": 67349},
    "sst2/dev": {"rows": 872},
    # IMDB (Maas et al. 2011): reviews in each file, half negative, half positive.
    "imdb/train": {"reviews": 25000},
    "imdb/test": {"reviews": 25000},
    # Mikolov's Penn Treebank: words + one end-of-sentence per line (Mikolov et al. 2010).
    "ptb/train": {"tokens": 929589},
    "ptb/valid": {"tokens": 73760},
    "ptb/test": {"tokens": 82430},
}

# The IMDB dev set carved out of the training reviews (label-stratified, seeded).
IMDB_DEV_SIZE = 2500
IMDB_DEV_SEED = 0


def split_counts(corpus: str, unit: str) -> Dict[str, int]:
    """{split: count} of one unit for the entries of a corpus, e.g.
    split_counts("sst2", "rows") == {"train": 67349, "dev": 872}."""
    prefix = f"{corpus}/"
    return {
        name[len(prefix):]: counts[unit]
        for name, counts in COUNTS.items()
        if name.startswith(prefix) and unit in counts
    }


def expected_counts(name: str) -> Dict[str, int]:
    """The counts of COUNTS[name]. Raises ValueError naming the known entries."""
    if name not in COUNTS:
        raise ValueError(f"no published counts for {name!r}; known: {', '.join(COUNTS)}")
    return dict(COUNTS[name])
