"""Fixtures of the serving tests: small real models saved once per session, scoring apps
in-process (the real ASGI stack, no socket), and the e2e helpers for subprocess tests."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from serving_models import Echo, fraud_data

import runstone.pyfunc
import runstone.sklearn
from runstone.models import infer_signature
from runstone.serving.app import ServingOptions, create_app
from runstone.serving.traffic import TrafficPolicy


@pytest.fixture(scope="session")
def sklearn_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A logistic regression on two named columns (amount: double, items: long)."""
    from sklearn.linear_model import LogisticRegression

    X, y = fraud_data()
    path = tmp_path_factory.mktemp("models") / "fraud"
    runstone.sklearn.save_model(LogisticRegression().fit(X, y), path, input_example=X.head(3))
    return path


@pytest.fixture(scope="session")
def echo_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Packages of Echo with a given factor (2.0 unless asked), with a ``scale`` param; with
    ``uniform``, both columns are doubles (requests then parse into one 2-D block)."""
    made: dict[tuple[float, bool], Path] = {}

    def make(factor: float = 2.0, uniform: bool = False) -> Path:
        if (factor, uniform) not in made:
            path = tmp_path_factory.mktemp("echo") / f"echo-{factor}{'-uniform' if uniform else ''}"
            example = pd.DataFrame({"amount": [1.0, 2.0], "items": [1.0, 2.0] if uniform else [1, 2]})
            runstone.pyfunc.save_model(
                path,
                python_model=Echo(factor),
                input_example=example,
                signature=infer_signature(example, np.array([2.0, 4.0]), params={"scale": 1.0}),
            )
            made[(factor, uniform)] = path
        return made[(factor, uniform)]

    return make


@pytest.fixture
def serve() -> Iterator[Callable[..., Any]]:
    """serve(uri | policy, **options) -> a TestClient of a scoring app (lifespan running)."""
    from fastapi.testclient import TestClient

    clients: list[Any] = []

    def make(target: Any, *, logger: Any = None, client: Any = None, **options: Any) -> Any:
        policy = target if isinstance(target, TrafficPolicy) else TrafficPolicy.single(str(target))
        app = create_app(ServingOptions(traffic=policy, **options), logger=logger, client=client)
        test_client = TestClient(app)
        test_client.__enter__()
        clients.append(test_client)
        return test_client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    """A real ``runstone server`` subprocess on the embedded default (see tests/e2e)."""
    from e2e_support import Servers

    pool = Servers(tmp_path / "servers")
    pool.root.mkdir()
    try:
        yield pool.start()
    finally:
        pool.stop_all()
