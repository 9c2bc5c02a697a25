"""The repository holds two packages: the library (`spacy_rnn`, what `pip install spacy-rnn`
ships) and the lab (`spacy_rnn_lab`, the project's research harness). The lab imports the
library; the library never imports the lab. No source file grows past 400 lines."""
import ast
from pathlib import Path

import pytest
from setuptools import find_packages

from helpers import ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

LIBRARY = ROOT / "components" / "spacy_rnn"
LAB = ROOT / "components" / "lab" / "spacy_rnn_lab"
MAX_LINES = 400


def sources(package: Path):
    return sorted(package.rglob("*.py"))


def imported_modules(path: Path, package_root: Path, package_name: str):
    """Every module name a file imports, relative imports resolved to absolute names."""
    parts = [package_name, *path.relative_to(package_root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    else:
        parts = parts[:-1]  # the module's package
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - node.level + 1]
                yield ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.module


def test_the_library_never_imports_the_lab():
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources(LIBRARY)
        for name in imported_modules(path, LIBRARY, "spacy_rnn")
        if name == "spacy_rnn_lab" or name.startswith("spacy_rnn_lab.")
    ]
    assert found == []


def test_the_lab_is_a_client_of_the_library():
    """The lab reaches the library as the installed package (`spacy_rnn.…`)."""
    library_imports = {
        name for path in sources(LAB) for name in imported_modules(path, LAB, "spacy_rnn_lab")
        if name == "spacy_rnn" or name.startswith("spacy_rnn.")
    }
    assert {"spacy_rnn.checkpoints", "spacy_rnn.evaluation.reports", "spacy_rnn.cli.common"} <= library_imports


def module_exists(name: str) -> bool:
    """Whether a dotted name under spacy_rnn or spacy_rnn_lab is a module or package of the repo."""
    top = {"spacy_rnn": LIBRARY, "spacy_rnn_lab": LAB}[name.split(".")[0]]
    path = top.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


@pytest.mark.parametrize("package,name", [(LIBRARY, "spacy_rnn"), (LAB, "spacy_rnn_lab")], ids=["library", "lab"])
def test_every_import_of_the_two_packages_names_a_module_that_exists(package, name):
    """Imports inside functions included: a module moved to the lab leaves no import behind."""
    missing = [
        f"{path.relative_to(ROOT)} imports {target}"
        for path in sources(package)
        for target in imported_modules(path, package, name)
        if target.split(".")[0] in ("spacy_rnn", "spacy_rnn_lab") and not module_exists(target)
    ]
    assert missing == []


def test_pip_install_spacy_rnn_ships_the_library_only():
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(str(ROOT / settings["where"][0]), include=settings["include"])
    assert "spacy_rnn" in packages and "spacy_rnn.pipes" in packages
    assert not [name for name in packages if name.startswith("spacy_rnn_lab")]
    lab = tomllib.loads((ROOT / "components" / "lab" / "pyproject.toml").read_text())
    assert any(dep.startswith("spacy-rnn[") for dep in lab["project"]["dependencies"])


@pytest.mark.parametrize("package", [LIBRARY, LAB], ids=["library", "lab"])
def test_no_source_file_is_longer_than_400_lines(package):
    long = {str(path.relative_to(ROOT)): n for path in sources(package) if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
