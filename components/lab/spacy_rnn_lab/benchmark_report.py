"""The speed benchmark's report: speed.json and speed.md (speed per variant against the peer,
accuracy, the per-stage profile, peak memory, the CPU and threads)."""
from pathlib import Path
from typing import Dict, List, Optional

from spacy_rnn.evaluation.reports import machine_info, markdown_table, write_json

from .benchmark import ACCURACY_KEYS
from .machine import cpu_line, threads_line

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
        f"Ours: {threads_line(one['ours_threads'])}. Peer: one process, thinc {speed['peer_ops']} (spaCy's CPU pipeline is single-threaded). "
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
            f"Ours: {threads_line(cores['ours_threads'])}; peer: `nlp.pipe(n_process={cores['peer_n_process']})` (worker start-up included). "
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
