"""Fixtures of the MLflow compatibility tests.

The in-process tests speak MLflow's REST protocol through the real HTTP stack (on SQLite and
PostgreSQL); the end-to-end tests run the stock ``mlflow`` client in subprocesses against real
``runstone server`` and ``mlflow server`` processes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mlflow_api import Mlflow

# The end-to-end tests reuse the server helpers of tests/e2e and the scoring server ones of tests/serving.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "serving"))

from e2e_support import Server, Servers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real ``runstone server`` for an end-to-end module (a module may start its own instead)."""
    pool = Servers(tmp_path_factory.mktemp("servers"))
    try:
        yield pool.start()
    finally:
        pool.stop_all()


@pytest.fixture
def mlflow_api(http: httpx.Client) -> Mlflow:
    return Mlflow(http)
