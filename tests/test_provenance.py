"""The code commit a run records is the workflow's own, whatever git variables the environment holds."""

import subprocess

from crustwatch import provenance


def _repo(path, message):
    path.mkdir()
    run = lambda *a: subprocess.run(["git", "-C", str(path), *a], check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (path / "f.txt").write_text(message)
    run("add", "f.txt")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)
    return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_code_version_names_the_folders_repository_even_with_git_dir_exported(tmp_path, monkeypatch):
    ours = _repo(tmp_path / "workflow", "ours")
    theirs = _repo(tmp_path / "photos", "theirs")
    # `make bench-real GIT_DIR=<photos' bare git dir>` exports GIT_DIR to the benchmark
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "photos" / ".git"))
    code = provenance.code_version(tmp_path / "workflow")
    assert code["git_commit"] == ours != theirs
    assert code["git_dirty"] is False
    (tmp_path / "workflow" / "f.txt").write_text("changed")
    assert provenance.code_version(tmp_path / "workflow")["git_dirty"] is True


def test_code_version_outside_a_repository_is_unknown(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.delenv("GIT_DIR", raising=False)
    assert provenance.code_version(tmp_path)["git_commit"] is None
