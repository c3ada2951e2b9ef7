"""Fixtures of the MLflow compatibility tests.

The in-process tests speak MLflow's REST protocol through the real HTTP stack (on SQLite and
PostgreSQL); the end-to-end tests run the stock ``mlflow`` client in subprocesses against real
``runstone server`` and ``mlflow server`` processes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from mlflow_api import Mlflow

# The end-to-end tests reuse the server helpers of tests/e2e and the scoring server ones of tests/serving.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "serving"))


@pytest.fixture
def mlflow_api(http: httpx.Client) -> Mlflow:
    return Mlflow(http)
