import hashlib
import shutil
import urllib.error
import urllib.request

import pytest
import srsly

from spacy_rnn.corpora import CorpusIntegrityError
from spacy_rnn.corpora.fetch import (
    MIRROR_ENV_VAR,
    fetch_corpus,
    load_corpus_declarations,
    resolve_mirror,
    sha256_file,
)

CONTENT = b"1\tHello\thello\tINTJ\tUH\t_\t0\troot\t_\t_\n\n"
RELATIVE_PATH = "tiny/tiny-train.conllu"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def mirror(tmp_path):
    path = tmp_path / "mirror"
    (path / "tiny").mkdir(parents=True)
    (path / RELATIVE_PATH).write_bytes(CONTENT)
    return path


def declare(url="https://example.org/tiny-train.conllu", digest=sha256(CONTENT)):
    return {"tiny": [{"path": RELATIVE_PATH, "url": url, "sha256": digest}]}


def fail(*args, **kwargs):
    raise AssertionError("unexpected copy or download")


def test_declarations_are_read_from_project_yml(tmp_path):
    project_yml = tmp_path / "project.yml"
    srsly.write_yaml(project_yml, {"title": "demo", "vars": {"corpora": declare()}})
    assert load_corpus_declarations(project_yml) == declare()


def test_declarations_require_vars_corpora(tmp_path):
    project_yml = tmp_path / "project.yml"
    srsly.write_yaml(project_yml, {"vars": {"lang": "en"}})
    with pytest.raises(ValueError, match="vars.corpora"):
        load_corpus_declarations(project_yml)


def test_declarations_require_path_url_and_sha256(tmp_path):
    project_yml = tmp_path / "project.yml"
    entry = {"path": RELATIVE_PATH, "url": "https://example.org/x"}
    srsly.write_yaml(project_yml, {"vars": {"corpora": {"tiny": [entry]}}})
    with pytest.raises(ValueError, match=r"vars.corpora.tiny\[0\] lacks sha256"):
        load_corpus_declarations(project_yml)


def test_explicit_mirror_wins_and_must_exist(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV_VAR, str(tmp_path))
    assert resolve_mirror(mirror, tmp_path) == mirror
    with pytest.raises(FileNotFoundError):
        resolve_mirror(tmp_path / "nowhere", tmp_path)


def test_env_var_names_the_mirror_and_must_exist(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV_VAR, str(mirror))
    assert resolve_mirror(None, tmp_path / "project") == mirror
    monkeypatch.setenv(MIRROR_ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=MIRROR_ENV_VAR):
        resolve_mirror(None, tmp_path / "project")


def test_shared_corpora_next_to_the_project_is_the_default_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv(MIRROR_ENV_VAR, raising=False)
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    assert resolve_mirror(None, project_dir) is None
    shared = tmp_path / "shared" / "corpora"
    shared.mkdir(parents=True)
    assert resolve_mirror(None, project_dir) == shared


def test_files_are_copied_from_the_mirror(tmp_path, mirror, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", fail)
    dest = tmp_path / "assets"
    paths = fetch_corpus("tiny", declare(), dest, mirror)
    assert paths == [dest / RELATIVE_PATH]
    assert paths[0].read_bytes() == CONTENT


def test_a_verified_file_at_dest_is_kept(tmp_path, mirror, monkeypatch):
    dest = tmp_path / "assets"
    fetch_corpus("tiny", declare(), dest, mirror)
    monkeypatch.setattr(shutil, "copyfile", fail)
    monkeypatch.setattr(urllib.request, "urlopen", fail)
    assert fetch_corpus("tiny", declare(), dest, mirror) == [dest / RELATIVE_PATH]


def test_a_stale_file_at_dest_is_replaced(tmp_path, mirror):
    dest = tmp_path / "assets"
    (dest / "tiny").mkdir(parents=True)
    (dest / RELATIVE_PATH).write_bytes(b"an older version\n")
    fetch_corpus("tiny", declare(), dest, mirror)
    assert (dest / RELATIVE_PATH).read_bytes() == CONTENT


def test_checksum_mismatch_names_both_digests_and_keeps_the_mirror(tmp_path, mirror):
    dest = tmp_path / "assets"
    wrong = sha256(b"something else")
    with pytest.raises(CorpusIntegrityError) as excinfo:
        fetch_corpus("tiny", declare(digest=wrong), dest, mirror)
    message = str(excinfo.value)
    assert wrong in message and sha256(CONTENT) in message
    assert str(dest / RELATIVE_PATH) in message
    assert (mirror / RELATIVE_PATH).read_bytes() == CONTENT
    assert list((dest / "tiny").iterdir()) == []


def test_a_corrupt_file_at_dest_is_not_left_in_place_when_fetching_fails(tmp_path, mirror):
    dest = tmp_path / "assets"
    (dest / "tiny").mkdir(parents=True)
    (dest / RELATIVE_PATH).write_bytes(b"corrupt\n")
    with pytest.raises(CorpusIntegrityError, match="Checksum mismatch"):
        fetch_corpus("tiny", declare(digest=sha256(b"the declared version")), dest, mirror)
    assert list((dest / "tiny").iterdir()) == []
    assert (mirror / RELATIVE_PATH).read_bytes() == CONTENT


def test_files_missing_from_the_mirror_are_downloaded(tmp_path):
    source = tmp_path / "remote.conllu"
    source.write_bytes(CONTENT)
    dest = tmp_path / "assets"
    paths = fetch_corpus("tiny", declare(url=source.as_uri()), dest, mirror=None)
    assert paths[0].read_bytes() == CONTENT
    assert list((dest / "tiny").iterdir()) == [paths[0]]


def test_a_bad_download_is_removed(tmp_path):
    source = tmp_path / "remote.conllu"
    source.write_bytes(b"truncated")
    dest = tmp_path / "assets"
    with pytest.raises(CorpusIntegrityError, match=sha256(b"truncated")):
        fetch_corpus("tiny", declare(url=source.as_uri()), dest, mirror=None)
    assert list((dest / "tiny").iterdir()) == []


def test_missing_from_mirror_without_network_says_where_it_looked(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    empty_mirror = tmp_path / "mirror"
    empty_mirror.mkdir()
    with pytest.raises(CorpusIntegrityError) as excinfo:
        fetch_corpus("tiny", declare(), tmp_path / "assets", empty_mirror)
    message = str(excinfo.value)
    assert RELATIVE_PATH in message
    assert str(empty_mirror / RELATIVE_PATH) in message
    assert "network is unreachable" in message


def test_unknown_corpus_lists_the_known_ones(tmp_path, mirror):
    with pytest.raises(ValueError, match="known corpora: tiny"):
        fetch_corpus("huge", declare(), tmp_path / "assets", mirror)


def test_sha256_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT * 1000)
    assert sha256_file(path) == sha256(CONTENT * 1000)
