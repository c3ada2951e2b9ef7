"""Fixtures of the model tests: a clean fluent state per test (the fluent API logs into the
embedded store under the per-test RUNSTONE_HOME), autologging switched off after each test,
and small, deterministic training data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from runstone.sdk import client as client_module
from runstone.sdk import fluent
from runstone.sdk.client import RunstoneClient


@pytest.fixture(autouse=True)
def fluent_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "not-a-git-dir"))
    client_module.close_local_backends()
    yield fluent.reset()
    # A failing test may leave runs active and senders running: drop them, ending no run.
    fluent.reset()
    client_module.close_local_backends()


@pytest.fixture(autouse=True)
def _no_autolog_left() -> Iterator[None]:
    yield
    from runstone.models.autolog import patching

    for flavor in list(patching.configs):
        patching.disable(flavor)


@pytest.fixture
def client() -> RunstoneClient:
    """Reads what the fluent API logged (the same embedded store)."""
    fluent.flush()
    return fluent.default_client()


@pytest.fixture
def table() -> tuple[pd.DataFrame, np.ndarray]:
    """A small binary classification problem with named float and int columns."""
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"x1": rng.rand(80), "x2": rng.rand(80), "n": rng.randint(0, 5, 80)})
    y = ((X.x1 + X.x2 + X.n / 5) > 1.4).astype("int64").to_numpy()
    return X, y


@pytest.fixture
def matrix() -> tuple[np.ndarray, np.ndarray]:
    """A small regression problem as float32 arrays."""
    rng = np.random.RandomState(1)
    X = rng.rand(64, 4).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32) + 0.1).astype(np.float32)
    return X, y


@pytest.fixture(scope="session")
def trained() -> Any:
    """A small Keras regression network (4 float32 inputs, 1 output) trained for two epochs,
    once for the session (TensorFlow is imported only by the tests that use it)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    X = np.random.RandomState(0).rand(64, 4).astype("float32")
    model.fit(X, X.sum(axis=1), epochs=2, batch_size=16, verbose=0)
    return model
