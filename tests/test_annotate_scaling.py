"""The lab's annotate-scaling report: its figures and cluster estimate against hand-computed
numbers (the measurement itself runs on a quiet machine: reports/annotate/)."""
from spacy_rnn_lab.annotate_scaling import estimate, figures, repeated, scaling_markdown

BASELINE = {"docs": 1000, "words": 20_000, "seconds": 2.0, "words_per_second": 10_000, "load_before": 0.1, "load_after": 0.2}


def run(engine, workers, wall, startup):
    return {"engine": engine, "workers": workers, "docs": 1000, "words": 20_000, "wall_seconds": wall,
            "engine_seconds": wall - 1, "startup_seconds": startup, "load_before": 0.1, "load_after": 0.2}


def report():
    runs = [run("local", 1, 5.0, 2.8), run("local", 2, 4.0, 2.9), run("ray", 1, 12.5, 10.0), run("ray", 2, 11.3, 10.0)]
    result = {"baselines": {"nlp.pipe": BASELINE, "nlp.pipe + rows": BASELINE, "fields": ["id", "tokens"]}, "runs": runs}
    result["figures"] = figures(result)
    return result


def test_figures_are_steady_words_per_second_speedups_and_the_overhead_per_document():
    found = report()["figures"]
    assert found["local x1"] == {"words_per_second": 4_000, "steady_words_per_second": round(20_000 / 2.2),
                                 "startup_seconds": 2.8, "overhead_ms_per_doc": 0.2, "overhead_share": 0.091}
    assert found["local x2"]["steady_speedup"] == round(round(20_000 / 1.1) / round(20_000 / 2.2), 2)
    assert found["ray x1"]["overhead_ms_per_doc"] == 0.5 and found["ray x1"]["overhead_share"] == 0.2
    assert found["ray x2"]["steady_speedup"] == round(round(20_000 / 1.3) / 8_000, 2)


def test_the_estimate_scales_the_ray_worker_speed_to_n_nodes():
    result = estimate(report(), n_sentences=1_000_000, cores=16, nodes=(1, 2))
    efficiency = round(20_000 / 1.3) / 8_000 / 2
    assert result["efficiency_per_worker"] == round(efficiency, 3) and result["tokens_per_sentence"] == 20.0
    hours = [(20_000_000 / (8_000 * efficiency * 16 * n) + 10.0) / 3600 for n in (1, 2)]
    assert [row["hours"] for row in result["rows"]] == [round(h, 2) for h in hours]
    assert [row["core_hours"] for row in result["rows"]] == [round(h * 16 * n) for h, n in zip(hours, (1, 2))]


def test_the_report_names_its_command_and_its_assumptions():
    result = {**report(), "pipeline": "nlp", "texts": {"path": "t.spacy", "sentences": 3, "docs": 1000},
              "cpu": {"model": "CPU", "flags": {"avx2": True}, "torch_capability": "AVX2", "quantized_engine": "x86"},
              "cpu_count": 2, "shard_size": 100, "command": "python -m spacy_rnn_lab annotate-scaling nlp t.spacy"}
    result["estimate"] = estimate(result)
    text = scaling_markdown(result)
    assert "Command: `python -m spacy_rnn_lab annotate-scaling nlp t.spacy`" in text
    assert "news sentences of 20.0 tokens" in text and "| local x1 | 0.2 ms | 9.1% |" in text
    assert "local x1 9.1% below nlp.pipe + rows (target <= 10%: met)" in text
    assert "ray x2 1.92x one worker (target >= 1.7x: met)" in text


def test_texts_are_repeated_to_the_number_of_documents():
    assert repeated(["a", "b"], 5) == ["a", "b", "a", "b", "a"]
