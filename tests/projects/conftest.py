"""Fixtures of the project tests: a real git repository holding a small scikit-learn project,
its dataset outside the repository, and real `runstone` commands in subprocesses.

Building a virtualenv is slow on a small machine, so every test that needs one shares the
environment cache of the session: the first builds the environment, the others find it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from project_support import FIXTURES, make_repo


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
