"""Small models and payload helpers shared by the serving tests (imported by name: conftest
modules of other test folders shadow one another)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import runstone.pyfunc


def fraud_data(rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.RandomState(seed)
    X = pd.DataFrame({"amount": rng.rand(rows) * 100, "items": rng.randint(1, 9, rows).astype("int64")})
    y = (X.amount / X["items"] > 20).astype("int64")
    return X, y


class Echo(runstone.pyfunc.PythonModel):
    """Returns ``amount * factor`` per row, raises on amount == -1 (a model bug), and counts
    the rows of each call it gets (so tests see how requests were combined)."""

    def __init__(self, factor: float = 2.0) -> None:
        self.factor = factor
        self.calls: list[int] = []

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        self.calls.append(len(model_input))
        if (model_input["amount"] == -1).any():
            raise ValueError("amount -1 breaks this model")
        scale = (params or {}).get("scale", 1.0)
        return (model_input["amount"] * self.factor * scale).to_numpy()


def echo_calls(app: Any, route: int = 0) -> list[int]:
    """Row counts of the calls the served Echo model received."""
    return app.state.scoring.routes[route].current.model.unwrap_python_model().calls  # type: ignore[no-any-return]


def split_payload(frame: pd.DataFrame) -> dict[str, Any]:
    return {"dataframe_split": frame.to_dict(orient="split")}


class Width(runstone.pyfunc.PythonModel):
    """Saved without a signature: takes any table and returns its number of columns per row."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return np.full(len(model_input), model_input.shape[1])
