"""`spacy package` turns a trained pipeline into an installable package that requires spacy-rnn."""
import json
import subprocess
import sys


def test_spacy_package_declares_the_spacy_rnn_requirement(trained_tagger_nlp, tmp_path):
    trained_tagger_nlp.to_disk(tmp_path / "model")
    (tmp_path / "packages").mkdir()
    command = [
        sys.executable, "-m", "spacy", "package", str(tmp_path / "model"), str(tmp_path / "packages"),
        "--name", "tiny_tagger", "--version", "0.0.1", "--force",
    ]
    subprocess.run(command, check=True, capture_output=True)
    package_dir = tmp_path / "packages" / "en_tiny_tagger-0.0.1"
    meta = json.loads((package_dir / "meta.json").read_text())
    assert any(requirement.startswith("spacy-rnn") for requirement in meta["requirements"])
    assert (package_dir / "dist" / "en_tiny_tagger-0.0.1.tar.gz").exists()
