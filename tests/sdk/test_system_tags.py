"""System tags recorded when a script starts a run: source, user, host, Python and git state.

Each case runs a real training script in a subprocess, as a user would.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from runstone.sdk.client import RunstoneClient
from runstone.tracking import tags as T

SCRIPT = """\
import runstone

with runstone.start_run() as run:
    runstone.log_metric("loss", 0.5)
print(run.info.run_id)
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["RUNSTONE_USER"] = "alice"
    return env


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=repo, env=_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def _run_script(folder: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "train.py"], cwd=folder, env=env or _env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    _git(folder, "init", "-q", "-b", "main")
    (folder / "train.py").write_text(SCRIPT)
    (folder / "params.yaml").write_text("lr: 0.1\n")
    _git(folder, "add", ".")
    _git(folder, "commit", "-q", "-m", "first")
    _git(folder, "remote", "add", "origin", "https://example.com/team/project.git")
    return folder


def test_a_dirty_checkout_records_git_state_and_the_diff(repo: Path, tmp_path: Path) -> None:
    (repo / "params.yaml").write_text("lr: 0.2\n")

    run_id = _run_script(repo)

    client = RunstoneClient()
    tags = client.get_run(run_id).data.tags
    assert tags[T.GIT_COMMIT] == _git(repo, "rev-parse", "HEAD")
    assert tags[T.GIT_BRANCH] == "main"
    assert tags[T.GIT_REPO_URL] == "https://example.com/team/project.git"
    assert tags[T.GIT_DIRTY] == "true"
    assert tags[T.SOURCE_NAME] == str((repo / "train.py").resolve())
    assert tags[T.SOURCE_TYPE] == "LOCAL"
    assert tags[T.USER] == "alice"
    assert tags[T.HOST] == socket.gethostname()
    assert tags[T.PYTHON_VERSION] == platform.python_version()
    diff = Path(client.download_artifacts(run_id, T.GIT_DIFF_ARTIFACT, tmp_path / "diff")).read_text()
    assert "-lr: 0.1" in diff
    assert "+lr: 0.2" in diff


def test_a_clean_checkout_records_no_diff(repo: Path) -> None:
    run_id = _run_script(repo)

    client = RunstoneClient()
    tags = client.get_run(run_id).data.tags
    assert tags[T.GIT_DIRTY] == "false"
    assert tags[T.GIT_COMMIT] == _git(repo, "rev-parse", "HEAD")
    assert client.list_artifacts(run_id) == []


def test_untracked_files_do_not_make_the_tree_dirty(repo: Path) -> None:
    (repo / "scratch.txt").write_text("notes")

    run_id = _run_script(repo)

    assert RunstoneClient().get_run(run_id).data.tags[T.GIT_DIRTY] == "false"


def test_outside_git_there_are_no_git_tags(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "train.py").write_text(SCRIPT)
    env = _env()
    env["GIT_CEILING_DIRECTORIES"] = str(tmp_path)  # never find a repository above tmp_path

    run_id = _run_script(folder, env)

    tags = RunstoneClient().get_run(run_id).data.tags
    assert not [k for k in tags if k.startswith("runstone.source.git")]
    assert tags[T.SOURCE_NAME] == str((folder / "train.py").resolve())
    assert tags[T.USER] == "alice"
    assert RunstoneClient().list_artifacts(run_id) == []
