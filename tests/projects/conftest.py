"""Fixtures of the project tests: a real git repository holding a small scikit-learn project,
its dataset outside the repository, and real `runstone` commands in subprocesses.

Building a virtualenv is slow on a small machine, so every test that needs one shares the
environment cache of the session: the first builds the environment, the others find it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=tests@runstone", "-c", "user.name=tests", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def make_repo(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    git("init", "-q", "-b", "main", cwd=target)
    git("add", "-A", cwd=target)
    git("commit", "-qm", "first version", cwd=target)
    return target


@pytest.fixture
def wine(tmp_path: Path) -> tuple[Path, Path]:
    """(the project's git repository, its dataset file outside the repository)."""
    repo = make_repo(FIXTURES / "wine", tmp_path / "wine")
    data = tmp_path / "data" / "wine.csv"
    data.parent.mkdir()
    shutil.copy(FIXTURES / "wine.csv", data)
    return repo, data


@pytest.fixture(scope="session")
def env_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envs")
