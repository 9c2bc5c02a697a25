"""Inference speed against a peer pipeline in the same run, accuracy and a per-stage profile of
each inference precision, and peak memory on a huge text.

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
Memory: a fresh process loads the pipeline, resets the kernel's peak-RSS counter and processes
one text of `n_chars` characters; the report gives resident memory after loading and the peak
while processing it (Linux /proc/self/status).
"""
import hashlib
import math
import multiprocessing
import os
import platform
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from tqdm import tqdm

from spacy_rnn.evaluation.reports import gold_docs, machine_info, markdown_table, write_json
from spacy_rnn.models.cells import cell_of

ACCURACY_KEYS = ("pos_acc", "tag_acc", "ents_f", "cats_acc", "cats_macro_f")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS")


TRANSFORMER_ENCODERS = ("spacy_rnn.TransformerEncoder.v1", "spacy_rnn.RNNOverTransformer.v1")
# CPU flags that decide int8 (VNNI, i8mm) and bf16 (AVX512-BF16, AMX, ARM bf16) speed
X86_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")
ARM_FLAGS = ("asimd", "bf16", "i8mm")


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


def cpu_record() -> Dict:
    """The CPU the speed figures were measured on: its model, which of the flags that decide
    int8 and bf16 speed it has (x86: X86_FLAGS; ARM: ARM_FLAGS; from Linux /proc/cpuinfo, empty
    elsewhere), torch's CPU capability (the widest vector ISA its kernels use) and quantized
    engine."""
    import torch

    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.exists() else ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {key.strip().lower(): value.strip() for key, value in fields.items()}
    model = fields.get("model name") or fields.get("hardware") or platform.processor() or platform.machine() or "unknown"
    words = set(text.split())
    candidates = ARM_FLAGS if platform.machine().lower() in ("aarch64", "arm64") else X86_FLAGS
    return {
        "model": model,
        "flags": {flag: flag in words for flag in candidates},
        "torch_capability": torch.backends.cpu.get_cpu_capability(),
        "quantized_engine": torch.backends.quantized.engine,
    }


def cpu_line(cpu: Dict) -> str:
    """One line naming the CPU and its flags (`cpu_record`), for every speed figure."""
    present = [flag for flag, has in cpu["flags"].items() if has]
    absent = [flag for flag, has in cpu["flags"].items() if not has]
    flags = ", ".join(present) or "none of " + ", ".join(cpu["flags"])
    if present and absent:
        flags += f" (not {', '.join(absent)})"
    return f"CPU {cpu['model']}; flags {flags}; torch CPU capability {cpu['torch_capability']}, quantized engine {cpu['quantized_engine']}"


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


def thread_settings() -> Dict:
    """The threads torch uses now and the thread variables of the environment (None: unset)."""
    import torch

    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        **{name: os.environ.get(name) for name in THREAD_VARIABLES},
    }


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch.set_num_threads(n) inside the block, the previous setting after it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def language_models(nlp) -> List[str]:
    """The names of the pipeline's language models (`lstm_lm` components)."""
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
        "peer_ops": _ops_name(),
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


def _ops_name() -> str:
    from thinc.api import get_current_ops

    return type(get_current_ops()).__name__


def accuracy(nlp, gold: Path, batch_size: int = 256) -> Dict[str, float]:
    """The task's scores (pos_acc, tag_acc, ents_f, cats_acc, cats_macro_f; %) of `nlp.evaluate`
    on the gold docs, the pipeline reading gold-tokenised copies of them (whole documents)."""
    from spacy.tokens import Doc
    from spacy.training import Example

    references = gold_docs(nlp, gold, ("token.pos", "token.tag", "doc.ents", "doc.cats"))
    examples = [Example(Doc(nlp.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref]), ref) for ref in references]
    scores = nlp.evaluate(examples, batch_size=batch_size)
    return {key: round(100 * scores[key], 2) for key in ACCURACY_KEYS if scores.get(key) is not None}


class StageTimer:
    """Seconds spent per stage, summed over calls."""

    def __init__(self):
        self.seconds: Counter = Counter()

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start

    def wrap(self, function: Callable, stage: str) -> Callable:
        def timed(*args, **kwargs):
            with self(stage):
                return function(*args, **kwargs)

        return timed


class _TimedModel:
    """A component's thinc model whose `predict` is timed; everything else is the model's."""

    def __init__(self, model, timer: StageTimer, stage: str):
        self._model = model
        self.predict = timer.wrap(model.predict, stage)

    def __getattr__(self, name):
        return getattr(self._model, name)


# Modules of the encoder (`spacy_rnn.models.encoder.RNNEncoder`) timed on their own.
ENCODER_PARTS = {"word_embed": "encoder: word embedding", "char_cnn": "encoder: character CNN", "rnn": "encoder: LSTM"}
# Methods of the recognizer's net (`spacy_rnn.models.ner.EntityTaggerNet`) its predict calls.
DECODING_METHODS = {"decode": "decoding: CRF Viterbi", "span_probabilities": "decoding: entity confidences"}


def profile_stages(nlp, texts: Sequence[str], batch_size: int) -> Dict:
    """Where one pass over the texts spends its time (call with one torch thread): the tokenizer,
    then per torch component: featurizing and batching (its model's predict outside the torch
    module), the torch module's parts (forward hooks), decoding (predict after the model: argmax
    and softmax; for a recognizer CRF Viterbi and confidences) and set_annotations; "other" is
    the rest of the pass. Also the distinct word forms per token in the module's batches.
    """
    import torch

    from spacy_rnn.inference import torch_components
    from spacy_rnn.layers import get_inference_net, get_torch_net

    timer = StageTimer()
    counts: Counter = Counter()
    handles, undo = [], []

    def time_module(module: torch.nn.Module, stage: str) -> None:
        starts: List[float] = []
        handles.append(module.register_forward_pre_hook(lambda *_: starts.append(time.perf_counter())))
        handles.append(module.register_forward_hook(lambda *_: timer.seconds.update({stage: time.perf_counter() - starts.pop()})))

    def count_forms(_module, args) -> None:
        counts["tokens"] += int(args[0].lengths.sum())
        counts["forms"] += int(args[0].char_ids.shape[0])

    def time_method(obj, method: str, stage: str) -> None:
        setattr(obj, method, timer.wrap(getattr(obj, method), stage))
        undo.append(partial(delattr, obj, method))

    names = torch_components(nlp)
    for name in names:
        pipe = nlp.get_pipe(name)
        net = get_inference_net(pipe.model)  # the module prediction runs
        time_module(net, f"{name}: torch module")
        encoder = getattr(net, "encoder", None)
        # the encoder reads one batch per call (a text classifier's module gets all its batches at once)
        handles.append((encoder or net).register_forward_pre_hook(count_forms))
        for part, stage in ENCODER_PARTS.items():
            if getattr(encoder, part, None) is not None:
                time_module(getattr(encoder, part), f"{name}: {stage}")
        if hasattr(encoder, "run_padded"):  # the float recurrent layers run unpacked, without calling encoder.rnn
            time_method(encoder, "run_padded", f"{name}: {ENCODER_PARTS['rnn']}")
        for head in getattr(net, "heads", {}).values():
            time_module(head, f"{name}: head (linear)")
        trained = get_torch_net(pipe.model)  # decoding reads the trained module's CRF
        for method, stage in DECODING_METHODS.items():
            if hasattr(trained, method):
                time_method(trained, method, f"{name}: {stage}")
        time_method(pipe, "predict", f"{name}: predict")
        time_method(pipe, "set_annotations", f"{name}: set_annotations")
        undo.append(partial(setattr, pipe, "model", pipe.model))
        pipe.model = _TimedModel(pipe.model, timer, f"{name}: model.predict")
    try:
        with timer("total"):
            with timer("tokenizer"):
                docs = [nlp.make_doc(text) for text in texts]
            n_words = sum(len(doc) for doc in nlp.pipe(docs, batch_size=batch_size))
    finally:
        for handle in handles:
            handle.remove()
        for restore in reversed(undo):
            restore()
    return {
        "n_words": n_words,
        "distinct_forms_per_token": round(counts["forms"] / max(counts["tokens"], 1), 3),
        "input_projection_share": input_projection_share(get_torch_net(nlp.get_pipe(names[0]).model)) if names else None,
        "stages": stage_table(timer.seconds, names),
    }


def stage_table(seconds: Dict[str, float], components: Sequence[str]) -> Dict[str, float]:
    """Exclusive seconds per stage from the nested timings of `profile_stages`: each enclosing
    timing minus what its parts account for (in insertion order: tokenizer, then per component
    featurize + batching, the module's parts, its other operations, decoding, set_annotations),
    and "other" for the rest of the total."""
    table = {"tokenizer": seconds["tokenizer"]}
    for name in components:
        module = seconds[f"{name}: torch module"]
        parts = {stage: seconds[f"{name}: {stage}"] for stage in (*ENCODER_PARTS.values(), "head (linear)") if f"{name}: {stage}" in seconds}
        decoding = {stage: seconds[f"{name}: {stage}"] for stage in DECODING_METHODS.values() if f"{name}: {stage}" in seconds}
        table[f"{name}: featurize + batching"] = seconds[f"{name}: model.predict"] - module
        table.update({f"{name}: {stage}": value for stage, value in parts.items()})
        table[f"{name}: encoder: other (concatenation, packing)"] = module - sum(parts.values())
        table.update({f"{name}: {stage}": value for stage, value in decoding.items()})
        table[f"{name}: decoding: other (argmax, softmax, spans)"] = seconds[f"{name}: predict"] - seconds[f"{name}: model.predict"] - sum(decoding.values())
        table[f"{name}: set_annotations"] = seconds[f"{name}: set_annotations"]
    table["other (spaCy's pipe loop)"] = seconds["total"] - sum(table.values())
    return {stage: round(value, 4) for stage, value in table.items()}


def input_projection_share(net) -> Optional[float]:
    """The share of the recurrent layers' multiply-adds per token spent on the first layer's
    input projection (what computing it once per distinct word form would cut); None without a
    float nn.LSTM/GRU/RNN encoder (the trained module has one)."""
    rnn = getattr(getattr(net, "encoder", None), "rnn", None)
    if not hasattr(rnn, "mode"):
        return None
    gates, hidden, directions = cell_of(rnn).gates, rnn.hidden_size, 1 + rnn.bidirectional
    first = gates * hidden * rnn.input_size
    per_direction = first + gates * hidden * hidden + (rnn.num_layers - 1) * gates * hidden * (directions * hidden + hidden)
    return round(first / per_direction, 3)


def long_text(texts: List[str], n_chars: int) -> str:
    """The texts joined, repeated as needed, cut to exactly n_chars characters."""
    joined = " ".join(text.strip() for text in texts)
    return (joined * (n_chars // max(len(joined), 1) + 1))[:n_chars]


def _status_kb(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS: now, VmHWM: peak) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _peak_memory_worker(model: str, text: str, variant: Optional[Variant], read: Optional[Callable]) -> Dict:
    nlp = load_ours(Path(model), variant)
    nlp.max_length = len(text) + 1
    loaded = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    start = time.perf_counter()
    doc = nlp(text)
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    annotated = sum(1 for token in doc if token.pos_ or token.ent_iob_)
    result = {"loaded_kb": loaded, "peak_kb": peak, "n_tokens": len(doc), "n_annotated": annotated, "seconds": seconds}
    if read is not None:
        start = time.perf_counter()
        read(doc)
        result.update(read_seconds=time.perf_counter() - start, read_peak_kb=_status_kb("VmHWM"))
    return result


def peak_memory(model: Path, text: str, variant: Optional[Variant] = None, read: Optional[Callable] = None) -> Dict:
    """Resident memory (MiB) of a fresh process after loading the model (as `spacy.load` gives
    it, or with the variant's settings), and its peak while processing `text` (Linux: the peak
    counter is reset after loading). read: a module-level function of the doc (e.g.
    `read_surprisals`) called after processing; "after_read" then gives its seconds and the
    peak up to its end (processing and reading)."""
    if not Path("/proc/self/clear_refs").exists():
        raise RuntimeError("peak memory measurement needs Linux /proc (clear_refs, VmHWM)")
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(_peak_memory_worker, str(model), text, variant, read).result()
    memory = {
        "precision": variant.name if variant is not None else "as loaded",
        "n_chars": len(text),
        "n_tokens": result["n_tokens"],
        "n_tokens_annotated": result["n_annotated"],
        "seconds": round(result["seconds"], 2),
        "rss_after_load_mib": round(result["loaded_kb"] / 1024, 1),
        "peak_rss_mib": round(result["peak_kb"] / 1024, 1),
        "peak_increase_mib": round((result["peak_kb"] - result["loaded_kb"]) / 1024, 1),
    }
    if read is not None:
        memory["after_read"] = {
            "read": read.__name__,
            "seconds": round(result["read_seconds"], 2),
            "peak_rss_mib": round(result["read_peak_kb"] / 1024, 1),
            "peak_increase_mib": round((result["read_peak_kb"] - result["loaded_kb"]) / 1024, 1),
        }
    return memory


def _threads_line(threads: Dict) -> str:
    variables = ", ".join(f"{name}={threads[name]}" for name in THREAD_VARIABLES if threads.get(name) is not None) or "no thread variables set"
    return f"torch {threads['torch_threads']} threads (interop {threads['torch_interop_threads']}); {variables}"


def _speed_rows(section: Dict, speed: Dict) -> List[List[str]]:
    rows = [
        ["ours", " + ".join(speed["model_components"]), variant["name"], f"{section['words_per_second'][variant['name']]:,}", f"{section['speed_ratio'][variant['name']]:.2f}"]
        for variant in speed["variants"]
    ]
    rows.append([speed["peer"], " + ".join(speed["peer_components"]), "", f"{section['words_per_second']['peer']:,}", "1.00"])
    return rows


SPEED_HEADER = ["pipeline", "components", "variant", "words/s", "ratio to peer"]


def benchmark_markdown(report: Dict) -> str:
    speed, machine, texts = report["speed"], report["machine"], report["texts"]
    one = speed["one_thread"]
    cpu = cpu_line(speed["cpu"])
    lines = [
        f"# Speed: {speed['model']} vs {speed['peer']}",
        "",
        f"Machine: {machine['processor']}, {machine['cpu_count']} cores, torch {machine['torch']}, device {machine['device']}; "
        f"load average {machine.get('load_average')} when the report was written (other processes competing for the cores).",
        f"Texts: `{texts['path']}` ({texts['n_texts']} raw texts, {texts['n_sentences']:,} gold sentences, {speed['n_words']:,} words; "
        f"sha256 of the texts joined by newlines `{texts['sha256'][:16]}…`); `nlp.pipe(batch_size={speed['batch_size']})`, "
        f"best of {speed['repeats']} alternating runs, tokenizer included.",
        "",
        f"**Headline ({speed['headline']}): {speed['words_per_second']['ours']:,} vs {speed['words_per_second']['peer']:,} words/s, "
        f"ratio {speed['speed_ratio']:.2f}** ({cpu})",
        "",
        "## One thread each (headline)",
        "",
        f"Ours: {_threads_line(one['ours_threads'])}. Peer: one process, thinc {speed['peer_ops']} (spaCy's CPU pipeline is single-threaded). "
        f"{cpu}. \"(as loaded)\": the pipeline as `spacy.load` gives it, with its saved inference settings; the other "
        f"variants are loaded with config overrides of them.",
        "",
        markdown_table(SPEED_HEADER, _speed_rows(one, speed)),
        "",
    ]
    unsupported = report.get("unsupported_precisions", {})
    if unsupported:
        lines += ["Not benchmarked: " + "; ".join(f"{precision}, {why}" for precision, why in unsupported.items()) + ".", ""]
    check = speed.get("peer_check")
    if check:
        verdict = "identical" if check["peer_entities_identical"] else f"different in {check['n_texts_differing']} texts"
        lines += [
            f"Peer check: its entities with {' + '.join(check['components'])} are {verdict} to those with "
            f"{' + '.join(check['reference_components'])} on these texts ({check['n_entities']:,} vs {check['n_entities_reference']:,} entities).",
            "",
        ]
    cores = speed.get("all_cores")
    if cores:
        lines += [
            "## All cores",
            "",
            f"Texts repeated {cores['copies']}× ({cores['n_texts']:,} texts, {cores['n_sentences']:,} sentences, {cores['n_words']:,} words). "
            f"Ours: {_threads_line(cores['ours_threads'])}; peer: `nlp.pipe(n_process={cores['peer_n_process']})` (worker start-up included). "
            f"{cpu}.",
            "",
            markdown_table(SPEED_HEADER, _speed_rows(cores, speed)),
            "",
        ]
    if report.get("accuracy"):
        lines += _accuracy_lines(report["accuracy"])
    if report.get("profile"):
        lines += _profile_lines(report["profile"], cpu)
    memory: Optional[Dict] = report.get("memory")
    if memory:
        lines += [
            f"## Peak memory processing one text of {memory['n_chars']:,} characters ({memory['precision']})",
            "",
            f"{memory['n_tokens']:,} tokens ({memory['n_tokens_annotated']:,} annotated: POS or entity tag) in "
            f"{memory['seconds']} s; "
            f"resident memory {memory['rss_after_load_mib']} MiB after loading, peak {memory['peak_rss_mib']} MiB "
            f"while processing it (+{memory['peak_increase_mib']} MiB). {cpu}.",
            "",
        ]
    return "\n".join(lines)


def _accuracy_lines(accuracy: Dict) -> List[str]:
    scores = accuracy["scores"]
    keys = [key for key in ACCURACY_KEYS if any(key in row for row in scores.values())]
    reference = next(iter(scores.values()))
    rows = [[name] + [f"{row[key]:.2f} ({row[key] - reference[key]:+.2f})" for key in keys] for name, row in scores.items()]
    return [
        f"## Accuracy on `{accuracy['split']}` (dev; gold tokens, whole documents)",
        "",
        f"In brackets: the difference to the first variant, {next(iter(scores))}.",
        "",
        markdown_table(["variant", *keys], rows),
        "",
    ]


def _profile_lines(profile: Dict, cpu: str) -> List[str]:
    names = list(profile)
    stages = list(profile[names[0]]["stages"])
    rows = []
    for stage in stages:
        cells = []
        for name in names:
            value = profile[name]["stages"].get(stage)
            total = sum(profile[name]["stages"].values())
            cells.append("" if value is None else f"{1000 * value:,.0f} ms ({100 * value / total:.0f}%)")
        rows.append([stage, *cells])
    rows.append(["total", *[f"{1000 * sum(profile[name]['stages'].values()):,.0f} ms" for name in names]])
    first = profile[names[0]]
    lines = [
        f"## Where the time goes (one thread, one pass over the {first['n_words']:,} words)",
        "",
        "Exclusive time per stage; the torch module's parts are timed with forward hooks, the rest around the "
        "pipe's public methods (`predict`, `set_annotations`, the model's `predict`). A second pass of its own, "
        f"so totals differ a little from the speed runs. {cpu}.",
        "",
        markdown_table(["stage", *names], rows),
        "",
        f"Distinct word forms per token in a batch: {first['distinct_forms_per_token']}.",
    ]
    shares = [profile[name]["input_projection_share"] for name in names if profile[name].get("input_projection_share") is not None]
    if shares:
        lines.append(
            f"The first layer's input projection is {100 * shares[0]:.0f}% of the recurrent layers' multiply-adds per "
            f"token; the per-form variants compute it once per distinct form, removing that share times "
            f"{1 - first['distinct_forms_per_token']:.2f} of the multiply-adds (\"encoder: LSTM\" includes it)."
        )
    return lines + [""]


def write_benchmark_report(report: Dict, output_dir: Path, name: str = "speed") -> None:
    report["machine"] = machine_info()
    write_json(report, output_dir / f"{name}.json")
    (output_dir / f"{name}.md").write_text(benchmark_markdown(report), encoding="utf-8")
