"""Temperature scaling of the confidences: at T = 1 they are what the components computed before
the setting existed; no T changes a prediction; a large T spreads them towards uniform and a
small one sharpens them; the fit recovers a known temperature; the setting is saved with the
pipeline, overridden by spacy.load's config and absent (1.0) in pipelines saved before it;
`calibrate` writes the pipeline and its report, and fails in one line on bad input."""
import copy
import json
import math
from pathlib import Path

import pytest
import spacy
import torch
from spacy.tokens import DocBin
from test_confidence import brute_force_probability, random_net, spans_of
from test_crf import BILUO_TAGS
from typer.testing import CliRunner

from helpers import ENTITY_SENTENCES, TAGGED_SENTENCES, TEXTS, entity_examples, make_nlp, tagged_examples, textcat_examples
from spacy_rnn.cli import app
from spacy_rnn.evaluation.temperature import SoftmaxOutcomes, fit_temperature
from spacy_rnn.layers import get_torch_net
from spacy_rnn.pipes.temperature import set_temperatures

runner = CliRunner()
SAVED_PIPELINES = Path(__file__).resolve().parent / "fixtures" / "saved_pipelines"
SETTINGS = {"tagger": ("pos_temperature", "tag_temperature"), "ner": ("temperature",), "textcat": ("temperature",)}
ENTITY_TEXTS = [text for text, _ in ENTITY_SENTENCES]
TAG_TEXTS = [words for words, _, _ in TAGGED_SENTENCES] + TEXTS


@pytest.fixture(scope="module")
def saved(trained_tagger_nlp, trained_ner_nlp, trained_textcat_nlp, tmp_path_factory):
    """{component: the folder its overfitted pipeline is saved in}."""
    folder = tmp_path_factory.mktemp("pipelines")
    for name, nlp in (("tagger", trained_tagger_nlp), ("ner", trained_ner_nlp), ("textcat", trained_textcat_nlp)):
        nlp.to_disk(folder / name)
    return {name: folder / name for name in SETTINGS}


def load(saved, name, temperature=None):
    """The saved pipeline, with every temperature setting of the component at `temperature` (None: as saved)."""
    settings = {} if temperature is None else {setting: temperature for setting in SETTINGS[name]}
    return spacy.load(saved[name], config={"components": {name: settings}})


def tags_and_confidences(nlp, texts=TAG_TEXTS):
    docs = list(nlp.pipe(texts))
    tags = [[(t.pos_, t.tag_) for t in doc] for doc in docs]
    return tags, [[(t._.pos_confidence, t._.tag_confidence) for t in doc] for doc in docs]


def entities_and_confidences(nlp, texts=ENTITY_TEXTS):
    docs = list(nlp.pipe(texts))
    entities = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs]
    return entities, [[e._.confidence for e in doc.ents] for doc in docs]


def cats(nlp, texts=TEXTS):
    return [doc.cats for doc in nlp.pipe(texts)]


def test_at_temperature_one_the_confidences_are_the_softmax_and_crf_probabilities_as_before(saved):
    tagger_nlp, ner_nlp, textcat_nlp = (load(saved, name) for name in ("tagger", "ner", "textcat"))
    assert [tagger_nlp.get_pipe("tagger").cfg[s] for s in SETTINGS["tagger"]] == [1.0, 1.0]
    tagger = tagger_nlp.get_pipe("tagger")
    for doc in map(tagger_nlp, TAG_TEXTS):  # one doc a batch, as predicted below (int8 quantises per batch)
        outputs = tagger.model.predict([doc])
        for head, extension in (("pos", "pos_confidence"), ("tag", "tag_confidence")):
            expected = outputs[head][0].softmax(dim=-1).max(dim=-1).values.tolist()
            assert [getattr(t._, extension) for t in doc] == expected  # exactly
    ner = ner_nlp.get_pipe("ner")
    net = get_torch_net(ner.model)
    for text in ENTITY_TEXTS:
        doc, unannotated = ner_nlp(text), ner_nlp.make_doc(text)
        emissions = ner.model.predict([unannotated])["tags"]
        spans = [[(e.start, e.end, e.label_) for e in doc.ents]]
        expected = net.span_probabilities(emissions, ner._outside([unannotated]), spans, ner.max_crf_cells)
        assert [[e._.confidence for e in doc.ents]] == expected
    textcat = textcat_nlp.get_pipe("textcat")
    for doc in map(textcat_nlp, TEXTS):
        assert list(doc.cats.values()) == textcat.model.predict([doc])["cats"][0].softmax(dim=-1).tolist()


@pytest.mark.parametrize("temperature", [0.05, 0.5, 3.0, 20.0])
def test_no_temperature_changes_a_prediction(saved, temperature):
    tags, tag_confidences = tags_and_confidences(load(saved, "tagger"))
    scaled_tags, scaled_confidences = tags_and_confidences(load(saved, "tagger", temperature))
    assert scaled_tags == tags and scaled_confidences != tag_confidences
    ents, ent_confidences = entities_and_confidences(load(saved, "ner"))
    scaled_ents, scaled_ent_confidences = entities_and_confidences(load(saved, "ner", temperature))
    assert scaled_ents == ents and scaled_ent_confidences != ent_confidences
    best = [max(c, key=c.get) for c in cats(load(saved, "textcat"))]
    assert [max(c, key=c.get) for c in cats(load(saved, "textcat", temperature))] == best


def test_a_large_temperature_spreads_the_confidences_and_a_small_one_sharpens_them(saved):
    tagger = load(saved, "tagger").get_pipe("tagger")
    n_pos, n_tag = len(tagger.cfg["labels"]["pos"]), len(tagger.cfg["labels"]["tag"])
    _, hot = tags_and_confidences(load(saved, "tagger", 1e4))
    assert all(pos == pytest.approx(1 / n_pos, rel=1e-2) for doc in hot for pos, _ in doc)
    assert all(tag == pytest.approx(1 / n_tag, rel=1e-2) for doc in hot for _, tag in doc)
    _, warm = tags_and_confidences(load(saved, "tagger"))
    _, cold = tags_and_confidences(load(saved, "tagger", 0.2))
    flat = [value for doc in cold + warm for pair in doc for value in pair]
    pairs = list(zip(flat[: len(flat) // 2], flat[len(flat) // 2 :]))  # (at T = 0.2, at T = 1) per confidence
    assert all(c >= w for c, w in pairs) and sum(c > w for c, w in pairs) > len(pairs) / 2
    hot = cats(load(saved, "textcat", 1e4))
    assert all(score == pytest.approx(1 / 3, rel=1e-2) for doc_cats in hot for score in doc_cats.values())
    warm, cold = cats(load(saved, "textcat")), cats(load(saved, "textcat", 0.2))
    assert all(max(c.values()) > max(w.values()) for c, w in zip(cold, warm))
    _, cold = entities_and_confidences(load(saved, "ner", 0.01))
    assert all(p > 0.999 for doc in cold for p in doc)


def test_a_large_temperature_makes_every_valid_tag_sequence_equally_likely():
    """As T grows, a span's probability tends to its share of the valid sequences: its
    probability under the CRF with every score 0."""
    net = random_net(BILUO_TAGS)
    torch.manual_seed(5)
    emissions = torch.randn(4, len(BILUO_TAGS)) * 3
    spans = [(0, 2, "PER"), (3, 4, "LOC")]
    (hot,) = net.span_probabilities([emissions], [torch.zeros(4, dtype=torch.bool)], [spans], max_cells=10, temperature=1e6)
    uniform = copy.deepcopy(net)
    for scores in uniform.crf.parameters():
        scores.data.zero_()
    (expected,) = uniform.span_probabilities([emissions * 0], [torch.zeros(4, dtype=torch.bool)], [spans], max_cells=10)
    assert hot == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("temperature", [0.3, 2.5])
def test_a_span_probability_at_a_temperature_is_the_brute_force_sum_with_every_score_divided_by_it(temperature):
    net = random_net(BILUO_TAGS)
    torch.manual_seed(6)
    emissions = torch.randn(4, len(BILUO_TAGS)) * 2
    spans = [(0, 2, "PER"), (1, 2, "LOC"), (3, 4, "PER")]
    outside = [torch.zeros(4, dtype=torch.bool)]
    (probabilities,) = net.span_probabilities([emissions], outside, [spans], max_cells=10, temperature=temperature)
    scaled = copy.deepcopy(net.crf)
    for scores in scaled.parameters():
        scores.data.div_(temperature)
    for span, probability in zip(spans, probabilities):
        keep = lambda seq, span=span: span in spans_of([BILUO_TAGS[i] for i in seq])  # noqa: E731
        expected = brute_force_probability(scaled, BILUO_TAGS, emissions / temperature, keep)
        assert probability == pytest.approx(expected, abs=1e-6)


def test_the_fit_recovers_the_temperature_the_labels_were_drawn_at():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(20_000, 5, generator=generator) * 3
    labels = torch.multinomial((logits / 2.5).softmax(dim=-1), 1, generator=generator).squeeze(1)
    assert fit_temperature(SoftmaxOutcomes(logits, labels).nll) == pytest.approx(2.5, rel=0.03)


def test_the_fit_searches_log_temperature_within_the_bounds():
    assert fit_temperature(lambda t: (math.log(t) - math.log(3.0)) ** 2) == 3.0
    assert fit_temperature(lambda t: t) == pytest.approx(0.05, rel=1e-3)
    assert fit_temperature(lambda t: -t) == pytest.approx(20.0, rel=1e-3)


def test_the_saved_pipeline_keeps_its_temperature_and_the_config_overrides_it(saved, tmp_path):
    nlp = load(saved, "ner")
    set_temperatures(nlp, "ner", {"temperature": 1.7})
    expected = entities_and_confidences(nlp)
    nlp.to_disk(tmp_path / "ner")
    assert spacy.util.load_config(tmp_path / "ner" / "config.cfg")["components"]["ner"]["temperature"] == 1.7
    loaded = spacy.load(tmp_path / "ner")
    assert loaded.get_pipe("ner").cfg["temperature"] == 1.7 and entities_and_confidences(loaded) == expected
    overridden = spacy.load(tmp_path / "ner", config={"components": {"ner": {"temperature": 1.0}}})
    assert entities_and_confidences(overridden) == entities_and_confidences(load(saved, "ner"))


@pytest.mark.parametrize("fixture", ["tagger", "ner", "textcat"])
def test_pipelines_saved_before_the_setting_load_at_temperature_one(fixture):
    pipe = spacy.load(SAVED_PIPELINES / fixture).get_pipe(fixture)
    assert [pipe.cfg[setting] for setting in SETTINGS[fixture]] == [1.0] * len(SETTINGS[fixture])
    settings = {setting: 2.0 for setting in SETTINGS[fixture]}
    pipe = spacy.load(SAVED_PIPELINES / fixture, config={"components": {fixture: settings}}).get_pipe(fixture)
    assert [pipe.cfg[setting] for setting in SETTINGS[fixture]] == [2.0] * len(SETTINGS[fixture])


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_a_component_refuses_a_temperature_that_is_not_above_zero(value):
    with pytest.raises(ValueError, match=r"\[ner\] temperature must be a number above 0"):
        make_nlp("torch_ner", "ner", pipe={"temperature": value})


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_set_temperatures_refuses_what_is_not_a_positive_number_or_not_a_setting(value, saved):
    with pytest.raises(ValueError, match=r"\[tagger\] tag_temperature must be a number above 0"):
        set_temperatures(load(saved, "tagger"), "tagger", {"tag_temperature": value})
    with pytest.raises(ValueError, match=r"\[textcat\] has no temperature setting 'pos_temperature'"):
        set_temperatures(load(saved, "textcat"), "textcat", {"pos_temperature": 2.0})


def write_docbin(examples, path):
    DocBin(docs=[example.reference for example in examples]).to_disk(path)
    return path


def calibrate(args, tmp_path):
    return runner.invoke(app, ["calibrate", *map(str, args), "--report-dir", str(tmp_path / "report")])


@pytest.mark.parametrize("name,examples", [("tagger", tagged_examples), ("ner", entity_examples), ("textcat", textcat_examples)])
def test_calibrate_writes_the_pipeline_with_its_temperatures_and_the_report(saved, tmp_path, name, examples):
    dev = write_docbin(examples(load(saved, name)), tmp_path / "dev.spacy")
    result = calibrate([saved[name], dev, tmp_path / "new" / "calibrated"], tmp_path)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report" / "temperature.json").read_text(encoding="utf-8"))
    fits = report["components"][name]["fits"]
    assert list(fits) == list(SETTINGS[name]) and report["output"] == str(tmp_path / "new" / "calibrated")
    config = spacy.util.load_config(tmp_path / "new" / "calibrated" / "config.cfg")["components"][name]
    loaded = spacy.load(tmp_path / "new" / "calibrated").get_pipe(name)
    for setting, fit in fits.items():
        assert fit["before"]["temperature"] == 1.0 and 0.05 <= fit["after"]["temperature"] <= 20.0
        assert config[setting] == loaded.cfg[setting] == fit["after"]["temperature"]
        assert fit["after"]["nll"] <= fit["before"]["nll"] and fit["after"]["accuracy"] == fit["before"]["accuracy"]
        assert f"{name} {setting} ({fit['measure']}): T 1 -> {fit['after']['temperature']:g}, dev ECE" in result.output
    assert "| component | setting |" in (tmp_path / "report" / "temperature.md").read_text(encoding="utf-8")


def test_calibrate_fits_the_components_whose_gold_the_dev_file_has(saved, tmp_path):
    nlp = load(saved, "tagger")
    nlp.add_pipe("ner", source=load(saved, "ner"))
    nlp.to_disk(tmp_path / "both")
    dev = write_docbin(entity_examples(nlp), tmp_path / "dev.spacy")
    result = calibrate([tmp_path / "both", dev, tmp_path / "calibrated"], tmp_path)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report" / "temperature.json").read_text(encoding="utf-8"))
    assert list(report["components"]) == ["ner"] and "no UPOS" in report["skipped"]["tagger"]
    assert "tagger: not fitted" in result.output
    calibrated = spacy.load(tmp_path / "calibrated")
    assert calibrated.get_pipe("tagger").cfg["pos_temperature"] == 1.0
    assert calibrated.get_pipe("ner").cfg["temperature"] == report["components"]["ner"]["fits"]["temperature"]["after"]["temperature"]
    args = ["calibration-report", str(tmp_path / "calibrated"), "--task", "ner", "--split", f"dev={dev}", "--output-dir", str(tmp_path)]
    reported = runner.invoke(app, args)
    assert reported.exit_code == 0, reported.output
    assert f"temperatures: ner temperature = {calibrated.get_pipe('ner').cfg['temperature']:g}" in reported.output
    assert "Temperatures: ner temperature = " in (tmp_path / "ner_calibration.md").read_text(encoding="utf-8")


def test_calibrate_fails_in_one_line_on_bad_input(saved, tmp_path):
    dev = write_docbin(entity_examples(load(saved, "ner")), tmp_path / "dev.spacy")
    cases = [
        ([saved["ner"], tmp_path / "missing.spacy", tmp_path / "out"], "is not a file"),
        ([saved["ner"], dev, tmp_path / "out", "--component", "parser"], "parser: not a component with temperature settings"),
        ([saved["tagger"], dev, tmp_path / "out", "--component", "tagger"], "[tagger]"),
        ([tmp_path / "nothing", dev, tmp_path / "out"], "is not a saved pipeline"),
        ([saved["ner"], dev, saved["ner"]], "is the pipeline itself: give a new folder"),
        ([saved["ner"], dev, dev], "is a file: give a new folder"),
    ]
    for args, message in cases:
        result = calibrate(args, tmp_path)
        assert result.exit_code == 1 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists()
