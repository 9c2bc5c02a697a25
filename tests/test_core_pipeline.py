"""The core pipeline: configs/assemble/pipeline.cfg sources four trained components onto the one
vectors table they were trained with; core-report sets each task's stand-alone scores beside its
assembled ones and writes the package metadata; `demo` prints all four annotations; the language
model computes its values when they are first read unless loaded with `eager`."""
import spacy
import srsly
from spacy.util import load_config
from typer.testing import CliRunner

from spacy_rnn.cli import app
from spacy_rnn.evaluation.core_report import SCORES, component_speed, package_meta, score_rows
from spacy_rnn.pipes.lm import LM_VALUES, LMValues, PendingLMValues

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
    speed = {"words_per_second": 1234, "n_texts": 10}
    meta = package_meta(rows, speed, None, 120.5, "0.1.0")
    assert meta["performance"] == {"pos_acc": 0.9, "tag_acc": 0.9, "ents_f": 0.9, "cats_score": 0.9}
    assert "research" in meta["license"]
    research_only = [source["name"] for source in meta["sources"] if "research use only" in source["license"]]
    assert any("CoNLL-2003" in name for name in research_only) and any("Penn Treebank" in name for name in research_only)
    assert "1,234 words/s" in meta["notes"] and "120.5 MiB" in meta["notes"]


def _assembled(tagger, ner, textcat):
    lm = make_lm_nlp()
    lm.initialize(lambda: lm_examples(lm))
    nlp = spacy.blank("en")
    for name, source in (("tagger", tagger), ("ner", ner), ("textcat", textcat), ("sentencizer", lm), ("lm", lm)):
        nlp.add_pipe(name, source=source)
    return nlp


def test_component_speed_times_the_tokenizer_and_every_component(trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp):
    nlp = _assembled(trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp)
    speed = component_speed(nlp, ["Anna visited Paris .", "The film was great ."] * 5, batch_size=4)
    assert list(speed["seconds"]) == ["tokenizer", "tagger", "ner", "textcat", "sentencizer", "lm"]
    assert speed["n_words"] == (4 + 5) * 5 and speed["words_per_second"] > 0


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
    result = runner.invoke(app, [
        "core-report", str(tmp_path / "nlp"), "--standalone", str(tmp_path / "standalone"),
        "--assembled", str(tmp_path / "assembled"), "--texts", str(tmp_path / "texts.spacy"),
        "--memory-chars", "0", "--output-dir", str(tmp_path / "report"),
    ])
    assert result.exit_code == 0, result.output
    report = srsly.read_json(tmp_path / "report" / "core.json")
    assert report["speed"]["components"] == nlp.pipe_names and report["size_mib"] > 0
    assert "stand-alone" in (tmp_path / "report" / "README.md").read_text()
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
    srsly.write_json(tmp_path / "meta.json", package_meta(rows, {"words_per_second": 1000, "n_texts": 3}, None, 1.0, "0.0.1"))
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
