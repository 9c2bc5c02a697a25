"""The core pipeline: configs/assemble/pipeline.cfg sources four trained components onto the one
vectors table they were trained with; core-report sets each task's stand-alone scores beside its
assembled ones, times (a) the pipeline as loaded, (b) the same reading every surprisal and (c) a
peer's whole pipeline, and writes the package metadata; `demo` prints all four annotations; the
language model computes its values when they are first read unless loaded with `eager`. No test
here depends on a timing's value."""
import pytest
import spacy
import srsly
import torch
from spacy.util import load_config
from typer.testing import CliRunner

from spacy_rnn.cli import app
from spacy_rnn_lab.cli import app as lab_app
from spacy_rnn_lab.benchmark import SurprisalsRead
from spacy_rnn_lab.machine import cpu_line, cpu_record
from spacy_rnn_lab.core_report import READ_STAGE, SCORES, component_speed, core_markdown, core_speed, package_meta, score_rows
from spacy_rnn.pipes.lm_values import LM_VALUES, LMValues, PendingLMValues

from helpers import ROOT, project_scripts
from lm_helpers import lm_examples, make_lm_nlp

runner = CliRunner()
# The assembly step of each workflow and the steps that train what it sources.
ASSEMBLIES = {
    "quickstart-assemble": ("quickstart-pos", "quickstart-ner", "quickstart-sst2", "quickstart-lm"),
    "core-assemble": ("train-pos", "train-ner", "train-sst2", "train-lm"),
}


def _trained(step):
    """(model-best folder, vectors path or None) of a train / train-lm step."""
    (args,) = project_scripts(step)
    command = "train" if "train" in args else "train-lm"
    config_path, output = args[args.index(command) + 1], args[args.index(command) + 2]
    config = load_config(ROOT / config_path)
    vectors = args[args.index("--paths.vectors") + 1] if "--paths.vectors" in args else config["paths"].get("vectors")
    return output + "/model-best", vectors


def test_each_assembly_sources_what_its_steps_train_and_loads_the_table_they_trained_on():
    for assemble_step, train_steps in ASSEMBLIES.items():
        args = project_scripts(assemble_step)[0]
        config_path = args[args.index("assemble") + 1]
        options = args[args.index("assemble") + 3:]
        overrides = dict(zip([name[2:] for name in options[::2]], options[1::2]))
        assembly = load_config(ROOT / config_path, overrides=overrides, interpolate=True)
        trained = dict(_trained(step) for step in train_steps)
        assert {block["source"] for block in assembly["components"].values()} == set(trained), assemble_step
        for source, vectors in trained.items():
            if source != _trained(train_steps[-1])[0]:  # the language model reads no static vectors
                assert vectors == assembly["initialize"]["vectors"], (assemble_step, source)


def _write_reports(folder, scale):
    """evaluate-* reports for every task, scores multiplied by `scale`."""
    reports = {}
    for task, _, filename, key, splits, _ in SCORES:
        scores = reports.setdefault((task, filename), {})
        scores.update({key.format(split=split): 90.0 * scale for _, split in splits})
    for (task, filename), scores in reports.items():
        (folder / task).mkdir(parents=True, exist_ok=True)
        srsly.write_json(folder / task / filename, {"model": task, "scores": scores})


def test_score_rows_set_assembled_beside_standalone_for_every_task_and_split(tmp_path):
    _write_reports(tmp_path / "standalone", 1.0)
    _write_reports(tmp_path / "assembled", 0.99)
    rows = score_rows(tmp_path / "standalone", tmp_path / "assembled")
    assert len(rows) == 2 * len(SCORES)
    assert {row["split"] for row in rows} == {"dev", "test"}
    assert all(row["standalone"] == 90.0 and row["assembled"] == 89.1 and row["difference"] == -0.9 for row in rows)
    assert [row["higher_is_better"] for row in rows if row["task"] == "lm"] == [False, False]


def test_package_metadata_names_the_research_only_sources_and_the_measured_test_scores(tmp_path):
    _write_reports(tmp_path / "standalone", 1.0)
    _write_reports(tmp_path / "assembled", 1.0)
    rows = score_rows(tmp_path / "standalone", tmp_path / "assembled")
    meta = package_meta(rows, SPEED, None, 120.5, "0.1.0")
    assert meta["performance"] == {"pos_acc": 0.9, "tag_acc": 0.9, "ents_f": 0.9, "cats_score": 0.9}
    assert "research" in meta["license"]
    research_only = [source["name"] for source in meta["sources"] if "research use only" in source["license"]]
    assert any("CoNLL-2003" in name for name in research_only) and any("Penn Treebank" in name for name in research_only)
    assert "1,234 words/s as loaded (1.23x en_core_web_sm), 600 words/s reading every token's surprisal (0.60x)" in meta["notes"]
    assert CPU_LINE in meta["notes"] and "120.5 MiB" in meta["notes"]


def _assembled(tagger, ner, textcat):
    lm = make_lm_nlp()
    lm.initialize(lambda: lm_examples(lm))
    nlp = spacy.blank("en")
    for name, source in (("tagger", tagger), ("ner", ner), ("textcat", textcat), ("sentencizer", lm), ("lm", lm)):
        nlp.add_pipe(name, source=source)
    return nlp


def test_component_speed_times_the_tokenizer_every_component_then_the_surprisals_read(trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp):
    nlp = _assembled(trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp)
    speed = component_speed(nlp, ["Anna visited Paris .", "The film was great ."] * 5, batch_size=4)
    assert list(speed["seconds"]) == ["tokenizer", "tagger", "ner", "textcat", "sentencizer", "lm", READ_STAGE]
    assert speed["n_words"] == (4 + 5) * 5 and speed["n_texts"] == 10


def test_surprisals_read_yields_docs_whose_language_model_values_are_computed(trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp):
    nlp = _assembled(trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp)
    texts = ["Anna visited Paris .", "The film was great .", ""] * 3
    assert all(isinstance(doc.user_data[LM_VALUES], PendingLMValues) for doc in nlp.pipe(texts, batch_size=4))
    read = list(SurprisalsRead(nlp).pipe(texts, batch_size=4))
    assert all(type(doc.user_data[LM_VALUES]) is LMValues for doc in read if len(doc))  # an empty doc has no token to read
    assert [[t._.surprisal for t in doc] for doc in read] == [[t._.surprisal for t in doc] for doc in nlp.pipe(texts, batch_size=4)]


def _peer(path):
    """A tiny spaCy pipeline saved with one component disabled, as en_core_web_sm has senter."""
    peer = spacy.blank("en")
    peer.add_pipe("sentencizer")
    ruler = peer.add_pipe("entity_ruler")
    peer.add_pipe("senter")
    peer.initialize()
    ruler.add_patterns([{"label": "LOC", "pattern": "Paris"}])
    peer.disable_pipe("senter")
    peer.to_disk(path)
    return str(path)


def test_core_speed_times_the_pipeline_as_loaded_reading_surprisals_and_the_whole_peer(tmp_path, trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp):
    nlp = _assembled(trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp)
    threads = torch.get_num_threads()
    speed = core_speed(nlp, _peer(tmp_path / "peer"), ["Anna visited Paris .", "The film was great ."] * 5, repeats=2, batch_size=4)
    assert torch.get_num_threads() == threads and speed["ours_threads"]["torch_threads"] == 1
    assert set(speed["words_per_second"]) == {"as_loaded", "surprisals_read", "peer"}
    assert set(speed["speed_ratio"]) == {"as_loaded", "surprisals_read"}
    assert all(len(runs) == 2 for runs in speed["runs_words_per_second"].values())
    assert (speed["peer_components"], speed["peer_disabled"]) == (["sentencizer", "entity_ruler"], ["senter"])
    assert speed["components"] == nlp.pipe_names and speed["language_models"] == ["lm"] and speed["cpu"] == cpu_record()
    assert list(speed["seconds"])[-2:] == ["lm", READ_STAGE] and speed["n_words"] == 45 and speed["repeats"] == 2
    with pytest.raises(ValueError, match="no language model"):
        core_speed(spacy.blank("en"), _peer(tmp_path / "peer"), ["Anna"], repeats=1)


CPU = {"model": "AMD EPYC 9654", "flags": {"avx2": True, "avx512_vnni": False}, "torch_capability": "AVX512", "quantized_engine": "x86"}
CPU_LINE = "CPU AMD EPYC 9654; flags avx2 (not avx512_vnni); torch CPU capability AVX512, quantized engine x86"
SPEED = {
    "components": ["tagger", "ner", "textcat", "sentencizer", "lm"], "language_models": ["lm"], "peer": "en_core_web_sm",
    "peer_components": ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner"], "peer_disabled": ["senter"],
    "peer_ops": "NumpyOps", "ours_threads": {"torch_threads": 1, "torch_interop_threads": 2}, "repeats": 3, "cpu": CPU,
    "n_texts": 10, "n_words": 200, "batch_size": 256,
    "seconds": {"tokenizer": 0.1, "tagger": 0.5, "ner": 0.5, "textcat": 0.5, "sentencizer": 0.1, "lm": 0.2, READ_STAGE: 2.0},
    "words_per_second": {"as_loaded": 1234, "surprisals_read": 600, "peer": 1000},
    "speed_ratio": {"as_loaded": 1.23, "surprisals_read": 0.6},
}
MEMORY = {"precision": "as loaded", "n_chars": 1000, "n_tokens": 200, "n_tokens_annotated": 200, "seconds": 0.1,
          "rss_after_load_mib": 100.0, "peak_rss_mib": 120.0, "peak_increase_mib": 20.0,
          "after_read": {"read": "read_surprisals", "seconds": 0.3, "peak_rss_mib": 130.0, "peak_increase_mib": 30.0}}


def test_the_report_sets_both_of_ours_beside_the_whole_peer_with_the_cpu_and_the_stages_of_each():
    machine = {"processor": "x86_64", "cpu_count": 2, "torch": "2.5", "load_average": [1.0, 1.0, 1.0]}
    text = core_markdown({"model": "nlp", "scores": [], "speed": SPEED, "memory": MEMORY, "size_mib": 1.0, "machine": machine})
    assert "**(a) as loaded 1,234 words/s, 1.23×; (b) reading every token's surprisal 600 words/s, 0.60×**" in text
    assert "| (a) ours as `spacy.load` gives it: language model lazy, nothing read | tagger + ner + textcat + sentencizer + lm | 1,234 | 1.23 |" in text
    assert "| (b) ours, every token's `token._.surprisal` read after each doc (the language model runs) | tagger + ner + textcat + sentencizer + lm | 600 | 0.60 |" in text
    assert ("| (c) en_core_web_sm, its whole pipeline as `spacy.load` gives it; its disabled senter not run | "
            "tok2vec + tagger + parser + attribute_ruler + lemmatizer + ner | 1,000 | 1.00 |") in text
    assert "| lm: `pipe` (lazy: records each doc's token stream) | 0.20 | 0.20 |" in text
    assert f"| lm: {READ_STAGE} | — | 2.00 |" in text and "| total | 1.90 | 3.90 |" in text
    assert "**peak 120.0 MiB** (+20.0 MiB) with nothing read" in text and "**peak 130.0 MiB** (+30.0 MiB)" in text
    # the CPU next to every speed figure: the headline, the stages and the memory
    assert text.count(CPU_LINE) == 3


def test_the_saved_pipeline_s_language_model_is_lazy_unless_loaded_eager(tmp_path, trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp):
    """`spacy.load(path, config={"components": {"lm": {"eager": True}}})` (docs/core.md): the same
    annotations and values, the language model's computed in nlp.pipe instead of on first read."""
    _assembled(trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp).to_disk(tmp_path / "nlp")
    lazy = spacy.load(tmp_path / "nlp")
    eager = spacy.load(tmp_path / "nlp", config={"components": {"lm": {"eager": True}}})
    assert (lazy.get_pipe("lm").cfg["eager"], eager.get_pipe("lm").cfg["eager"]) == (False, True)
    texts = ["Anna visited Paris. The film was great .", "", "  ", "Anna Smith flew to Paris on Monday ."] * 3
    lazy_docs, eager_docs = list(lazy.pipe(texts, batch_size=5)), list(eager.pipe(texts, batch_size=5))
    assert all(isinstance(doc.user_data[LM_VALUES], PendingLMValues) for doc in lazy_docs)
    assert all(type(doc.user_data[LM_VALUES]) is LMValues for doc in eager_docs)

    def everything(doc):
        tokens = [(t.tag_, t.pos_, t.ent_type_, t._.surprisal) for t in doc]
        return tokens, doc.cats, doc._.perplexity, doc._.log_prob, doc._.lm_n_tokens

    assert [everything(doc) for doc in lazy_docs] == [everything(doc) for doc in eager_docs]
    assert lazy_docs[0]._.perplexity is not None and lazy_docs[1]._.perplexity is None


def test_core_report_and_demo_run_on_an_assembled_pipeline(tmp_path, trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp):
    from spacy.tokens import DocBin

    nlp = _assembled(trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp)
    nlp.to_disk(tmp_path / "nlp")
    DocBin(docs=[nlp.make_doc("Anna visited Paris .")] * 3).to_disk(tmp_path / "texts.spacy")
    _write_reports(tmp_path / "standalone", 1.0)
    _write_reports(tmp_path / "assembled", 1.0)
    result = runner.invoke(lab_app, [
        "core-report", str(tmp_path / "nlp"), "--standalone", str(tmp_path / "standalone"),
        "--assembled", str(tmp_path / "assembled"), "--texts", str(tmp_path / "texts.spacy"),
        "--peer", _peer(tmp_path / "peer"), "--repeats", "1", "--memory-chars", "300", "--output-dir", str(tmp_path / "report"),
    ])
    assert result.exit_code == 0, result.output
    report = srsly.read_json(tmp_path / "report" / "core.json")
    assert report["speed"]["components"] == nlp.pipe_names and report["size_mib"] > 0
    parts = report["size_parts_mib"]
    assert {"vocab: vectors", "tagger", "ner", "textcat", "lm"} <= set(parts)
    assert abs(sum(parts.values()) - report["size_mib"]) < 0.1 * len(parts)
    assert report["weights_storage"] == {name: "float32" for name in ("tagger", "ner", "textcat", "lm")}
    assert set(report["speed"]["words_per_second"]) == {"as_loaded", "surprisals_read", "peer"}
    memory = report["memory"]
    assert memory["n_chars"] == 300 and memory["after_read"]["read"] == "read_surprisals"
    assert memory["after_read"]["peak_rss_mib"] >= memory["peak_rss_mib"]
    text = (tmp_path / "report" / "README.md").read_text()
    assert "stand-alone" in text and text.count(cpu_line(cpu_record())) == 3
    for row in ("| (a) ours as `spacy.load` gives it", "| (b) ours, every token's", f"| (c) {tmp_path / 'peer'}, its whole pipeline"):
        assert row in text
    assert srsly.read_json(tmp_path / "report" / "meta.json")["name"] == "rnn_core"

    result = runner.invoke(app, ["demo", str(tmp_path / "nlp"), "Anna visited Paris ."])
    assert result.exit_code == 0, result.output
    for line in ("tags (UPOS/XPOS, p):", "entities (label, p):", "sentiment (doc.cats):", "surprisal (bits):"):
        assert line in result.output


def test_the_package_carries_the_measured_metadata_and_requires_spacy_rnn(tmp_path, trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp):
    import json
    import subprocess
    import sys

    _assembled(trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp).to_disk(tmp_path / "nlp")
    _write_reports(tmp_path / "reports", 1.0)
    rows = score_rows(tmp_path / "reports", tmp_path / "reports")
    srsly.write_json(tmp_path / "meta.json", package_meta(rows, SPEED, None, 1.0, "0.0.1"))
    (tmp_path / "packages").mkdir()
    subprocess.run([
        sys.executable, "-m", "spacy", "package", str(tmp_path / "nlp"), str(tmp_path / "packages"),
        "--name", "rnn_core", "--version", "0.0.1", "--meta-path", str(tmp_path / "meta.json"), "--force",
    ], check=True, capture_output=True)
    package = tmp_path / "packages" / "en_rnn_core-0.0.1"
    meta = json.loads((package / "meta.json").read_text())
    assert meta["pipeline"] == ["tagger", "ner", "textcat", "sentencizer", "lm"]
    assert any(requirement.startswith("spacy-rnn") for requirement in meta["requirements"])
    readme = (package / "README.md").read_text()
    assert "research use only" in readme and "Penn Treebank" in readme and "words/s" in readme
