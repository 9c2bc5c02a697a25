"""Inference speed against a peer pipeline in the same run, and accuracy, of each inference
precision.

Speed: every pipeline runs `nlp.pipe` over the same raw texts (tokenizer included), alternating
runs so that machine noise hits all alike; words/second is the best of `repeats` runs each. Two
settings, each labelled in the report:
- one thread each (the headline): `torch.set_num_threads(1)` for ours; the peer (a spaCy CPU
  pipeline: thinc's NumpyOps, single-threaded) as it is;
- all cores: ours with `torch.set_num_threads(os.cpu_count())`, the peer with
  `nlp.pipe(n_process=os.cpu_count())`, on the texts repeated until they hold `min_sentences`
  sentences, so that starting the worker processes is amortised.
Ours is benchmarked as `spacy.load` gives it (the headline: the inference settings saved with
it, see `spacy_rnn.inference`) and in other variants, each loaded with config overrides of those
settings (precision, input projection per token or per distinct word form, and for a recognizer
entity confidences on or off); the peer once. Every speed figure is labelled with the CPU model
and the instruction-set flags that decide int8 and bf16 speed (`cpu_record`).
Peer check: when the peer's components leave out its `tok2vec` (en_core_web_sm's `ner` has its
own internal tok2vec and does not listen to the shared one), the report says whether its
entities equal those of the same components with `tok2vec` on the same texts.
The CPU record is `machine`, the per-stage profile `profiler`, peak memory `memory`, the
report `benchmark_report`.
"""
import hashlib
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from tqdm import tqdm

from spacy_rnn.evaluation.reports import gold_docs

from .machine import cpu_record, ops_name, thread_settings, torch_threads

ACCURACY_KEYS = ("pos_acc", "tag_acc", "ents_f", "cats_acc", "cats_macro_f")
TRANSFORMER_ENCODERS = ("spacy_rnn.TransformerEncoder.v1", "spacy_rnn.RNNOverTransformer.v1")


@dataclass(frozen=True)
class Variant:
    """One way of running our pipeline: its inference precision, its first recurrent layer's
    input projection ("form" or "token", `spacy_rnn.inference`; None: no recurrent encoder, e.g. a
    Transformer's), for a component with a `confidences` setting (the recognizer) whether it
    computes them (None: no such setting), and whether these are the settings the pipeline was
    saved with, applied by a plain `spacy.load` (as_loaded) or config overrides of them."""

    precision: str
    confidences: Optional[bool] = None
    input_projection: Optional[str] = "form"
    as_loaded: bool = False

    @property
    def name(self) -> str:
        name = self.precision if self.input_projection is None else f"{self.precision}, per-{self.input_projection} projection"
        if self.confidences is not None:
            name = f"{name}, confidences {'on' if self.confidences else 'off'}"
        return f"{name} (as loaded)" if self.as_loaded else name

    @property
    def settings(self) -> Tuple:
        return self.precision, self.confidences, self.input_projection


def read_texts(path: Path) -> Tuple[List[str], Dict]:
    """The raw texts of a DocBin and what identifies them: path, count, characters, gold
    sentences (a doc without sentence boundaries counts as one) and the sha256 of the texts
    joined by newlines."""
    import spacy
    from spacy.tokens import DocBin

    docs = list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))
    texts = [doc.text for doc in docs]
    record = {
        "path": str(path),
        "sha256": hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest(),
        "n_texts": len(texts),
        "n_chars": sum(len(text) for text in texts),
        "n_sentences": sum(len(list(doc.sents)) if doc.has_annotation("SENT_START") else 1 for doc in docs),
    }
    return texts, record


def repeat_texts(texts: List[str], n_sentences: int, min_sentences: int) -> Tuple[List[str], int]:
    """The texts repeated as often as needed to hold at least `min_sentences` sentences (they
    hold `n_sentences`), and the number of copies."""
    copies = max(1, math.ceil(min_sentences / max(n_sentences, 1)))
    return texts * copies, copies


def language_models(nlp) -> List[str]:
    """The names of the pipeline's language models (`torch_lm` components)."""
    from spacy_rnn.pipes.lm import LanguageModelComponent

    return [name for name, pipe in nlp.pipeline if isinstance(pipe, LanguageModelComponent)]


def read_surprisals(doc) -> None:
    """Read every token's `token._.surprisal`: a lazy language model computes the doc's values
    (and those of the docs it reads with it) at the first read."""
    for token in doc:
        token._.surprisal


class SurprisalsRead:
    """A pipeline whose `pipe` reads every token's surprisal of each doc (`read_surprisals`)
    before yielding it: timed with `words_per_second` / `timed_runs`, it includes what a lazy
    language model computes on first read."""

    def __init__(self, nlp):
        self.nlp = nlp

    def pipe(self, texts, **kwargs) -> Iterator:
        for doc in self.nlp.pipe(texts, **kwargs):
            read_surprisals(doc)
            yield doc


def words_per_second(nlp, texts: Sequence[str], batch_size: int, n_process: int = 1) -> float:
    start = time.perf_counter()
    n_words = sum(len(doc) for doc in nlp.pipe(texts, batch_size=batch_size, n_process=n_process))
    return n_words / (time.perf_counter() - start)


def timed_runs(pipelines: Dict[str, object], texts: Sequence[str], repeats: int, batch_size: int, n_process: Dict[str, int], desc: str) -> Dict[str, List[float]]:
    """Words/second of each pipeline in `repeats` alternating runs (after one warm-up run on a
    tenth of the texts: lexeme creation, lazy initialisation). n_process: per pipeline (default 1)."""
    warm_up = texts[: max(1, len(texts) // 10)]
    for name, nlp in pipelines.items():
        words_per_second(nlp, warm_up, batch_size, n_process.get(name, 1))
    runs: Dict[str, List[float]] = {name: [] for name in pipelines}
    for _ in tqdm(range(repeats), desc=desc, unit="run"):
        for name, nlp in pipelines.items():
            runs[name].append(words_per_second(nlp, texts, batch_size, n_process.get(name, 1)))
    return runs


def summarize_runs(runs: Dict[str, List[float]], peer: str = "peer") -> Dict:
    """Best words/second of each pipeline, all runs, and each pipeline's ratio to the peer's best."""
    best = {name: max(values) for name, values in runs.items()}
    return {
        "words_per_second": {name: round(value) for name, value in best.items()},
        "runs_words_per_second": {name: [round(v) for v in values] for name, values in runs.items()},
        "speed_ratio": {name: round(value / best[peer], 2) for name, value in best.items() if name != peer},
    }


def load_peer(name: str, components: Sequence[str]):
    """The peer pipeline with only `components` (e.g. tok2vec + tagger)."""
    import spacy

    peer = spacy.load(name)
    missing = [c for c in components if c not in peer.pipe_names]
    if missing:
        raise ValueError(f"peer {name} has no components {missing}; it has {peer.pipe_names}")
    return spacy.load(name, exclude=[pipe for pipe in peer.pipe_names if pipe not in components])


def load_ours(model: Path, variant: Optional[Variant] = None):
    """Our pipeline as `spacy.load` gives it (variant None or as loaded), or loaded with the
    variant's settings as config overrides of each component that has them."""
    import spacy
    from spacy.util import load_config

    if variant is None or variant.as_loaded:
        return spacy.load(model)
    overrides = {}
    for name, block in load_config(Path(model) / "config.cfg")["components"].items():
        defaults = spacy.Language.get_factory_meta(block["factory"]).default_config if "factory" in block else {}
        settings = {**defaults, **block}
        override = {}
        if "precision" in settings:
            override["precision"] = variant.precision
        if "input_projection" in settings and variant.input_projection is not None:
            override["input_projection"] = variant.input_projection
        if "confidences" in settings and variant.confidences is not None:
            override["confidences"] = variant.confidences
        if override:
            overrides[name] = override
    return spacy.load(model, config={"components": overrides})


def loaded_variant(nlp) -> Variant:
    """The settings `nlp` (a pipeline as `spacy.load` gave it) predicts with, as a Variant: the
    applied precision and input projection of its torch components (after any int8 fallback,
    `spacy_rnn.inference.applied_settings`) and their confidences setting. ValueError when its
    components run with different settings (no one variant describes them)."""
    from spacy_rnn.inference import applied_settings, torch_components

    found = set()
    for name in torch_components(nlp):
        pipe = nlp.get_pipe(name)
        if "precision" not in pipe.cfg:
            continue
        applied = applied_settings(pipe.model)
        found.add((applied["precision"], pipe.cfg.get("confidences"), applied["input_projection"]))
    if len(found) > 1:
        raise ValueError(f"the pipeline's components run with different inference settings {sorted(found, key=str)}: benchmark them one at a time")
    precision, confidences, projection = found.pop() if found else ("float32", None, "token")
    return Variant(precision, confidences, projection, as_loaded=True)


def make_variants(
    model: Path, loaded: Variant, precisions: Sequence[str], confidences: Sequence[bool], input_projections: Sequence[str] = ("form",)
) -> List[Variant]:
    """`loaded` (the saved pipeline as loaded, `loaded_variant`) first, then each precision with
    each input projection (none when every encoder of the saved pipeline is a Transformer's:
    there is no recurrent layer to project for), and with each confidences setting when its
    components have one (the recognizer: `loaded.confidences` is not None), leaving out the one
    `loaded` already is."""
    from spacy.util import load_config

    components = load_config(Path(model) / "config.cfg")["components"].values()
    encoders = [component["model"]["encoder"].get("@architectures") for component in components if "encoder" in component.get("model", {})]
    if encoders and all(encoder in TRANSFORMER_ENCODERS for encoder in encoders):
        input_projections = [None]
        loaded = replace(loaded, input_projection=None)
    settings = [None] if loaded.confidences is None else list(confidences)
    others = [
        Variant(precision, setting, projection) for precision in precisions for projection in input_projections for setting in settings
    ]
    return [loaded, *[variant for variant in others if variant.settings != loaded.settings]]


def entity_agreement(nlp, reference, texts: Sequence[str], batch_size: int) -> Dict:
    """Whether `nlp` finds exactly the entities (character offsets and label) `reference` finds
    in each text, with both counts and the number of texts where they differ."""
    ents = lambda doc: [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]  # noqa: E731
    found = [ents(doc) for doc in nlp.pipe(texts, batch_size=batch_size)]
    expected = [ents(doc) for doc in reference.pipe(texts, batch_size=batch_size)]
    n_differing = sum(a != b for a, b in zip(found, expected))
    return {
        "peer_entities_identical": n_differing == 0,
        "n_entities": sum(len(e) for e in found),
        "n_entities_reference": sum(len(e) for e in expected),
        "n_texts_differing": n_differing,
    }


def peer_check(peer: str, peer_nlp, texts: Sequence[str], batch_size: int) -> Optional[Dict]:
    """When the peer runs without its tok2vec: its entities against those of the same components
    with tok2vec (`entity_agreement`); None when tok2vec is kept or the peer has none."""
    import spacy

    full_names = spacy.load(peer).pipe_names
    if "tok2vec" not in full_names or "tok2vec" in peer_nlp.pipe_names:
        return None
    reference = load_peer(peer, ["tok2vec", *peer_nlp.pipe_names])
    return {"components": peer_nlp.pipe_names, "reference_components": reference.pipe_names, **entity_agreement(peer_nlp, reference, texts, batch_size)}


def speed_benchmark(
    model: Path,
    variants: Sequence[Variant],
    peer: str,
    peer_components: Sequence[str],
    texts: List[str],
    text_record: Dict,
    repeats: int = 3,
    batch_size: int = 256,
    min_sentences: int = 20_000,
) -> Tuple[Dict, Dict]:
    """Words/second of ours (each variant) and the peer, one thread each (headline: the first
    variant, as `make_variants` makes it the pipeline as loaded) and on all cores (skipped when
    min_sentences is 0), with the CPU they ran on (`cpu_record`). Returns the speed report and
    the loaded pipelines of ours by variant name (for accuracy and profile)."""
    ours = {variant.name: load_ours(model, variant) for variant in variants}
    theirs = load_peer(peer, peer_components)
    first = ours[variants[0].name]
    n_words = sum(len(doc) for doc in first.tokenizer.pipe(texts))
    pipelines = {**ours, "peer": theirs}
    with torch_threads(1):
        one_thread = {"ours_threads": thread_settings(), "peer_n_process": 1}
        one_thread.update(summarize_runs(timed_runs(pipelines, texts, repeats, batch_size, {}, "one thread (ours..., peer)")))
    report = {
        "model": str(model),
        "model_components": first.pipe_names,
        "peer": peer,
        "peer_components": theirs.pipe_names,
        "peer_ops": ops_name(),
        "n_texts": len(texts),
        "n_words": n_words,
        "repeats": repeats,
        "batch_size": batch_size,
        "cpu": cpu_record(),
        "variants": [{"name": v.name, **asdict(v)} for v in variants],
        "headline": f"one thread each; ours {variants[0].name}",
        "words_per_second": {"ours": one_thread["words_per_second"][variants[0].name], "peer": one_thread["words_per_second"]["peer"]},
        "speed_ratio": one_thread["speed_ratio"][variants[0].name],
        "one_thread": one_thread,
        "peer_check": peer_check(peer, theirs, texts, batch_size),
    }
    if min_sentences:
        many, copies = repeat_texts(texts, text_record["n_sentences"], min_sentences)
        n_cores = os.cpu_count() or 1
        with torch_threads(n_cores):
            all_cores = {"ours_threads": thread_settings(), "peer_n_process": n_cores, "copies": copies, "n_texts": len(many),
                         "n_sentences": copies * text_record["n_sentences"], "n_words": copies * n_words}
            all_cores.update(summarize_runs(timed_runs(pipelines, many, repeats, batch_size, {"peer": n_cores}, "all cores (ours..., peer)")))
        report["all_cores"] = all_cores
    return report, ours


def accuracy(nlp, gold: Path, batch_size: int = 256) -> Dict[str, float]:
    """The task's scores (pos_acc, tag_acc, ents_f, cats_acc, cats_macro_f; %) of `nlp.evaluate`
    on the gold docs, the pipeline reading gold-tokenised copies of them (whole documents)."""
    from spacy.tokens import Doc
    from spacy.training import Example

    references = gold_docs(nlp, gold, ("token.pos", "token.tag", "doc.ents", "doc.cats"))
    examples = [Example(Doc(nlp.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref]), ref) for ref in references]
    scores = nlp.evaluate(examples, batch_size=batch_size)
    return {key: round(100 * scores[key], 2) for key in ACCURACY_KEYS if scores.get(key) is not None}


