"""The GPU check (`python -m spacy_rnn_lab check-gpu`): every component trained on a CUDA device with
the project's own training loop and committed configs (few steps, a slice of the real corpora),
then its saved pipeline loaded on the CPU in a fresh process that sees no GPU, and the CPU's
predictions compared with the GPU's on the same dev texts.

What it shows: the torch modules and batches really are on the GPU while training (not silently
on the CPU), training and prediction run there, and a pipeline trained on a GPU loads on a
CPU-only machine and predicts the same within float tolerance. It is a plumbing check: no
accuracy is claimed (too few steps; no static vectors; the Transformer rows use a small random
BERT built here, so no model files travel).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from .benchmark import SurprisalsRead, language_models, read_texts, words_per_second
from spacy_rnn.evaluation.reports import machine_info, markdown_table, write_json

# Token-level predictions must agree on at least this share of tokens; category scores may differ
# by at most this much (float sums run in a different order on the two devices).
MIN_AGREEMENT = 0.999
MAX_SCORE_DIFFERENCE = 1e-3
LM_MINUTES = 1.0


@dataclass(frozen=True)
class GpuCheck:
    """One component: its committed config, the corpus folder under the corpus root and its
    overrides for the check (the Transformer's path is filled in by `run_gpu_check`)."""

    config: str
    corpus: str
    overrides: Dict[str, object] = field(default_factory=dict)
    transformer_setting: Optional[str] = None


CHECKS = {
    "tagger": GpuCheck("configs/pos_bilstm.cfg", "ud_en_ewt"),
    "ner": GpuCheck("configs/ner_bilstm_crf.cfg", "conll2003"),
    "textcat": GpuCheck("configs/sentiment_sst2.cfg", "sst2"),
    "textcat_transformer_finetuned": GpuCheck(
        "configs/sst2_minilm_finetune.cfg", "sst2", transformer_setting="components.textcat.model.encoder.transformer"
    ),
    "ner_bilstm_over_transformer": GpuCheck(
        "configs/ner_bilstm_over_minilm.cfg", "conll2003", transformer_setting="components.ner.model.encoder.transformer"
    ),
}

def predictions(doc) -> Dict:
    """What a pipeline predicted for a doc: coarse and fine tags, entities, categories, and the
    language model's perplexity where a component set them."""
    result: Dict[str, object] = {}
    if doc.has_annotation("POS") or doc.has_annotation("TAG"):
        result["tags"] = [f"{token.pos_} {token.tag_}" for token in doc]
    if doc.has_annotation("ENT_IOB"):
        result["ents"] = [[ent.start, ent.end, ent.label_] for ent in doc.ents]
    if doc.cats:
        result["cats"] = dict(doc.cats)
    if doc.has_extension("perplexity") and doc._.perplexity is not None:
        result["perplexity"] = doc._.perplexity
    return result


def compare(gpu: List[Dict], cpu: List[Dict]) -> Dict:
    """How far the CPU's predictions are from the GPU's: the share of tokens with the same tags,
    of docs with the same entities, the largest category-score and relative perplexity
    differences; `passed` when every measured one is within tolerance."""
    result: Dict[str, object] = {}
    tags = [(a, b) for g, c in zip(gpu, cpu) if "tags" in g for a, b in zip(g["tags"], c["tags"])]
    if tags:
        result["tag_agreement"] = sum(a == b for a, b in tags) / len(tags)
    ents = [(g["ents"], c["ents"]) for g, c in zip(gpu, cpu) if "ents" in g]
    if ents:
        result["entity_doc_agreement"] = sum(a == b for a, b in ents) / len(ents)
    cats = [abs(g["cats"][label] - c["cats"][label]) for g, c in zip(gpu, cpu) if "cats" in g for label in g["cats"]]
    if cats:
        result["max_category_difference"] = max(cats)
    perplexities = [abs(g["perplexity"] - c["perplexity"]) / g["perplexity"] for g, c in zip(gpu, cpu) if "perplexity" in g]
    if perplexities:
        result["max_relative_perplexity_difference"] = max(perplexities)
    result["passed"] = (
        result.get("tag_agreement", 1.0) >= MIN_AGREEMENT
        and result.get("entity_doc_agreement", 1.0) >= MIN_AGREEMENT
        and result.get("max_category_difference", 0.0) <= MAX_SCORE_DIFFERENCE
        and result.get("max_relative_perplexity_difference", 0.0) <= MAX_SCORE_DIFFERENCE
    )
    return result


def module_devices(nlp) -> List[str]:
    """The devices of the parameters of every torch component of a pipeline."""
    from spacy_rnn.layers import get_torch_net

    devices = set()
    for _, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        if model is not None and model.shims:
            devices |= {str(p.device) for p in get_torch_net(model).parameters()}
    return sorted(devices)


def cpu_predictions(model_dir: Path, texts: List[str], work_dir: Path) -> List[Dict]:
    """The predictions of model_dir loaded in a fresh process that sees no GPU."""
    texts_path = work_dir / "texts.json"
    texts_path.write_text(json.dumps(texts), encoding="utf8")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(
        [sys.executable, "-m", "spacy_rnn_lab.gpu_check", str(model_dir), str(texts_path)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"loading {model_dir} on the CPU failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_gpu_check(
    output_dir: Path, gpu_id: int = 0, steps: int = 100, n_train: int = 500, n_texts: int = 300, corpus_root: Path = Path("corpus"),
    lm_train: Optional[Path] = None, lm_dev: Optional[Path] = None, only: Optional[List[str]] = None,
) -> Dict:
    """Train each check (or the `only` ones) for `steps` steps on GPU `gpu_id` from the first
    `n_train` training docs, compare GPU and CPU predictions on the first `n_texts` dev texts,
    and, given PTB text files, do the same for the language model (train-lm for 1 minute).
    Writes gpu_check.json and gpu_check.md to output_dir; returns the report."""
    import spacy
    import torch

    from spacy_rnn.models.transformer import save_random_bert
    from spacy_rnn.training_loop import train_pipeline

    unknown = sorted(set(only or []) - set(CHECKS) - {"lm"})
    if unknown:
        raise RuntimeError(f"unknown checks {unknown}; known: {sorted(CHECKS) + ['lm']}")
    if not torch.cuda.is_available():
        raise RuntimeError("check-gpu needs a CUDA device: torch sees none")
    try:
        spacy.require_gpu(gpu_id)
    except ValueError as err:  # thinc: no CuPy
        raise RuntimeError(f"{err}: training on a GPU needs CuPy for the machine's CUDA version (docs/usage.md)") from err
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in [name for name in CHECKS if only is None or name in only]:
            check = CHECKS[name]
            corpus = corpus_root / check.corpus
            texts = read_texts(corpus / "dev.spacy")[0][:n_texts]
            overrides = {
                "paths.train": str(corpus / "train.spacy"), "paths.dev": str(corpus / "dev.spacy"), "paths.vectors": None,
                "corpora.train.limit": n_train, "corpora.dev.limit": 100, "training.max_steps": steps,
                "training.eval_frequency": steps, "training.optimizer.learn_rate.warmup_steps": max(1, steps // 10),
                **check.overrides,
            }
            if check.transformer_setting:
                words = [word for text in read_texts(corpus / "train.spacy")[0][:n_train] + texts for word in text.split()]
                overrides[check.transformer_setting] = str(save_random_bert(work / f"{name}_bert", words, layers=6))  # as deep as MiniLM: the configs mix its last 4 layers
            start = time.perf_counter()
            nlp = train_pipeline(Path(check.config), work / name, overrides=overrides, use_gpu=gpu_id)
            train_seconds = time.perf_counter() - start
            results[name] = device_comparison(nlp, work / name / "model-last", texts, work, train_seconds, steps)
            results[name].update(config=check.config, overrides={k: v for k, v in overrides.items() if not k.endswith(".transformer")})
        if lm_train is not None and lm_dev is not None and (only is None or "lm" in only):
            results["lm"] = lm_gpu_check(work, lm_train, lm_dev, n_texts, device=f"cuda:{gpu_id}")
    report = {"checks": results, "gpu_id": gpu_id, "machine": machine_info(), "passed": all(r["passed"] for r in results.values())}
    write_gpu_check_report(report, output_dir)
    return report


def device_comparison(nlp, model_dir: Path, texts: List[str], work: Path, train_seconds: float, steps: int) -> Dict:
    """A trained pipeline's devices, its GPU words/s (a language model's with every token's
    surprisal read, so that its lazy computation is timed) and how its CPU predictions compare."""
    import spacy

    trained_on = module_devices(nlp)
    gpu_nlp = spacy.load(model_dir)  # thinc's ops are on the GPU (require_gpu): loads there
    loaded_on = module_devices(gpu_nlp)
    timed = SurprisalsRead(gpu_nlp) if language_models(gpu_nlp) else gpu_nlp
    words_per_second(timed, texts, batch_size=256)  # warm-up: CUDA kernels, lexemes
    speed = words_per_second(timed, texts, batch_size=256)
    gpu = [predictions(doc) for doc in gpu_nlp.pipe(texts, batch_size=64)]
    cpu = cpu_predictions(model_dir, texts, work)
    comparison = compare(gpu, cpu)
    on_gpu = all(device.startswith("cuda") for device in trained_on + loaded_on)
    return {
        "trained_on": trained_on, "loaded_on": loaded_on, "train_seconds": round(train_seconds, 1), "steps": steps,
        "gpu_words_per_second": round(speed), "n_texts": len(texts), **comparison, "passed": comparison["passed"] and on_gpu,
    }


def lm_gpu_check(work: Path, train: Path, dev: Path, n_texts: int, device: str) -> Dict:
    """configs/lm_ptb.cfg trained for LM_MINUTES on `device` (`train_language_model`), then
    compared on the CPU like the other components (per-sentence perplexity)."""
    from spacy import util

    from spacy_rnn.corpora.ptb import read_sentences
    from spacy_rnn.lm.trainer import LMTrainingSettings
    from spacy_rnn.lm.training import train_language_model

    config = util.load_config(Path("configs/lm_ptb.cfg"), overrides={"lm_training.max_minutes": LM_MINUTES}, interpolate=False)
    resolved = config.interpolate()
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    settings = LMTrainingSettings(**resolved["lm_training"])
    start = time.perf_counter()
    dev_sentences = list(read_sentences(dev))
    record = train_language_model(nlp, list(read_sentences(train)), dev_sentences, settings, work / "lm", device=device)
    texts = [" ".join(sentence) for sentence in dev_sentences[:n_texts]]
    result = device_comparison(nlp, work / "lm" / "model-last", texts, work, time.perf_counter() - start, record["steps"])
    result.update(config="configs/lm_ptb.cfg", overrides={"lm_training.max_minutes": LM_MINUTES}, best_dev_perplexity=round(record["best_dev_perplexity"], 2))
    return result


def write_gpu_check_report(report: Dict, output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(report, output_dir / "gpu_check.json")
    header = ["component", "config", "trained on", "loaded on", "train s (steps)", "GPU words/s", "CPU vs GPU", "passed"]

    def agreement(row: Dict) -> str:
        parts = []
        if "tag_agreement" in row:
            parts.append(f"tags {100 * row['tag_agreement']:.2f}% equal")
        if "entity_doc_agreement" in row:
            parts.append(f"entities {100 * row['entity_doc_agreement']:.2f}% of docs equal")
        if "max_category_difference" in row:
            parts.append(f"categories differ by ≤ {row['max_category_difference']:.1e}")
        if "max_relative_perplexity_difference" in row:
            parts.append(f"perplexity differs by ≤ {row['max_relative_perplexity_difference']:.1e} (relative)")
        return "; ".join(parts)

    rows = [
        [name, f"`{row['config']}`", ", ".join(row["trained_on"]), ", ".join(row["loaded_on"]), f"{row['train_seconds']} ({row['steps']})",
         f"{row['gpu_words_per_second']:,}", agreement(row), "yes" if row["passed"] else "**no**"]
        for name, row in report["checks"].items()
    ]
    machine = report["machine"]
    text = [
        "# GPU check",
        "",
        f"`python -m spacy_rnn_lab check-gpu` on {machine['device']} ({machine['processor']}, torch {machine['torch']}): each "
        "component trained with the project's training loop on the GPU for a few steps (no accuracy is claimed), saved, "
        f"loaded on the GPU and, in a fresh process that sees no GPU, on the CPU; both predicted the same dev texts. "
        f"Passed: {'yes' if report['passed'] else '**no**'} (tags and entities ≥ {100 * MIN_AGREEMENT:.1f}% equal, "
        f"scores within {MAX_SCORE_DIFFERENCE:g}). GPU words/s: `nlp.pipe` on the GPU, the language model's with every "
        "token's surprisal read (it computes them on first read).",
        "",
        markdown_table(header, rows),
        "",
    ]
    (output_dir / "gpu_check.md").write_text("\n".join(text), encoding="utf-8")


def print_cpu_predictions(model_dir: str, texts_path: str) -> None:
    """What `cpu_predictions` runs in its fresh process (`python -m spacy_rnn_lab.gpu_check MODEL
    TEXTS.json`): one JSON line with the predictions of each text."""
    import spacy
    import torch

    assert not torch.cuda.is_available(), "the CPU process must not see a GPU"
    nlp = spacy.load(model_dir)
    texts = json.loads(Path(texts_path).read_text(encoding="utf8"))
    print(json.dumps([predictions(doc) for doc in nlp.pipe(texts, batch_size=64)]))


if __name__ == "__main__":
    print_cpu_predictions(*sys.argv[1:3])
