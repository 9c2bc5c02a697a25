"""Mixed precision never crashes on a CPU's missing feature (spacy_rnn.precision).

"auto" (the default) runs bf16 only where the device has it natively; an explicit "bf16" on a
device without it stops at once with a message that names the setting. The training step of
every shipped language-model config runs on this CPU as shipped: `.ci/run` runs this file again
with oneDNN and ATen capped to AVX2 (no AVX-512, no bf16), the CPU of most laptops.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_rnn import precision
from spacy_rnn.cli import app
from spacy_rnn.precision import bf16_supported, use_bf16

from helpers import ROOT

LM_CONFIGS = sorted(path for path in (ROOT / "configs").rglob("*.cfg") if "[lm_training]" in path.read_text())
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
SENTENCES = [f"the {noun} {verb} on the {place} ." for noun in ("cat", "dog", "bird") for verb in ("sat", "slept") for place in ("mat", "roof", "log")]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (oneDNN reads its ISA cap once, at start-up)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=300)


def tiny_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 4) + "\n")
    return corpus


def train_lm_args(config: Path, corpus: Path, output: Path, *extra: str):
    """train-lm on a tiny corpus for one short epoch with small layers; precision as shipped."""
    return [
        "train-lm", str(config), str(output),
        "--paths.train", str(corpus), "--paths.dev", str(corpus),
        "--components.lm.model.embed_width", "16", "--components.lm.model.hidden_width", "16",
        "--lm_training.batch_size", "2", "--lm_training.bptt", "5", "--lm_training.max_epochs", "1",
        *extra,
    ]


def test_the_shipped_language_model_configs_are_found():
    assert {path.name for path in LM_CONFIGS} >= {"lm_ptb.cfg", "lm_ptb_awd.cfg", "lm_ptb_medium.cfg"}


def test_no_shipped_config_insists_on_bf16():
    """A config that says "bf16" stops on every CPU without it: ship "auto" (or "none")."""
    for path in LM_CONFIGS:
        assert 'mixed_precision = "bf16"' not in path.read_text(), path


@pytest.mark.parametrize("config", LM_CONFIGS, ids=lambda path: path.name)
def test_every_shipped_language_model_config_trains_on_this_cpu(config, tmp_path):
    result = CliRunner().invoke(app, train_lm_args(config, tiny_corpus(tmp_path), tmp_path / "lm"))
    assert result.exit_code == 0, result.output
    assert "precision: " in result.output
    assert (tmp_path / "lm" / "model-best").is_dir()


def test_none_is_float32_and_an_unknown_setting_is_named():
    assert use_bf16("none") is False
    with pytest.raises(ValueError, match="lm_training.mixed_precision must be one of"):
        use_bf16("fp8", name="lm_training.mixed_precision")


def test_auto_follows_the_device_and_bf16_insists(monkeypatch):
    monkeypatch.setattr(precision, "bf16_supported", lambda device="cpu": False)
    assert use_bf16("auto") is False
    with pytest.raises(ValueError, match='mixed_precision = "bf16" needs native bf16'):
        use_bf16("bf16")
    monkeypatch.setattr(precision, "bf16_supported", lambda device="cpu": True)
    assert use_bf16("auto") is True and use_bf16("bf16") is True


def test_native_bf16_needs_the_cpu_flag(monkeypatch):
    bf16_supported.cache_clear()
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "avx512f"})
    try:
        assert bf16_supported("cpu") is False
    finally:
        bf16_supported.cache_clear()


def test_a_cpu_capped_to_avx2_has_no_bf16_and_auto_trains_in_float32():
    """The cap reproduces the CPU of the bug report: bf16 autocast of an LSTM crashes in oneDNN
    there. `bf16_supported` must see it, whatever the real CPU has."""
    code = (
        "import torch; from spacy_rnn.precision import bf16_supported, use_bf16\n"
        "lstm = torch.nn.LSTM(4, 4)\n"
        "try:\n"
        "    with torch.autocast('cpu', dtype=torch.bfloat16): lstm(torch.zeros(2, 1, 4))\n"
        "    crash = 'no crash'\n"
        "except RuntimeError as err: crash = 'crash'\n"
        "print(bf16_supported(), use_bf16('auto'), crash)"
    )
    result = run_python(code, **AVX2_ONLY)
    assert result.returncode == 0, result.stderr
    supported, auto, crash = result.stdout.split()
    assert (supported, auto) == ("False", "False")
    if precision.cpu_flags() & precision.NATIVE_BF16_FLAGS:
        assert crash == "crash", "the AVX2 cap no longer removes oneDNN's bf16 LSTM: find another way to test"


def test_explicit_bf16_without_native_bf16_stops_before_reading_the_corpus(tmp_path):
    missing = tmp_path / "no-such-corpus.txt"
    args = train_lm_args(ROOT / "configs" / "lm_ptb.cfg", missing, tmp_path / "lm", "--lm_training.mixed_precision", "bf16")
    code = f"import sys; from spacy_rnn.cli import app; sys.argv = ['spacy_rnn'] + {args!r}; app()"
    result = run_python(code, **AVX2_ONLY)
    assert result.returncode == 1
    assert 'lm_training.mixed_precision = "bf16" needs native bf16' in result.stderr
    assert "lm_ptb.cfg" in result.stderr and "Traceback" not in result.stderr
    assert "not found" not in result.stderr
