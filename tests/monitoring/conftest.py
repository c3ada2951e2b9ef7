"""Monitoring fixtures: a registered model version with a signature, and prediction-log records."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from runstone.governance.context import Principal
from runstone.monitoring.service import MonitoringService
from runstone.registry.approvals import GovernedRegistry

SIGNATURE = json.dumps(
    [{"name": "amount", "type": "double"}, {"name": "items", "type": "long"}, {"name": "country", "type": "string"}]
)


@pytest.fixture
def registry(backend, clock) -> GovernedRegistry:
    return backend.registry(backend.context(Principal("alice"), clock=clock))


@pytest.fixture
def monitoring(backend, clock) -> MonitoringService:
    return backend.monitoring(backend.context(Principal("alice"), clock=clock))


@pytest.fixture
def version(registry) -> Callable[..., str]:
    """Register a version of model "fraud" whose MLmodel has a signature; returns its number."""

    def make(name: str = "fraud") -> str:
        tracking = registry.tracking
        run_id = tracking.create_run().info.run_id
        manifest = f"flavors: {{}}\nsignature:\n  inputs: '{SIGNATURE}'\n  outputs: '[{{\"type\": \"long\"}}]'\n"
        registry.artifacts.log_artifact(run_id, "model/MLmodel", [manifest.encode()])
        try:
            registry.get_registered_model(name)
        except Exception:
            registry.create_registered_model(name)
        return registry.create_model_version(name, f"runs:/{run_id}/model", run_id).version

    return make


def records(
    count: int, *, start: int, step: int = 1000, shift: float = 0.0, country: str = "FR", version: str = "1",
    prefix: str = "r", rows: int = 1, seed: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        data = [
            [float(rng.normal(100 + shift, 10)), int(rng.integers(1, 5)), country if rng.random() < 0.9 else "DE"]
            for _ in range(rows)
        ]
        out.append(
            {
                "request_id": f"{prefix}{i}", "timestamp": start + i * step, "model_uri": "models:/fraud/1",
                "model_name": "fraud", "model_version": version, "role": "primary", "status": 200,
                "latency_ms": 1.5, "inputs": {"columns": ["amount", "items", "country"], "data": data},
                "params": None, "outputs": [int(r[0] > 110 + shift) for r in data], "error": None,
            }
        )  # fmt: skip
    return out


def reference_frame(n: int = 2000, seed: int = 1) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(100, 10, n),
            "items": rng.integers(1, 5, n),
            "country": np.where(rng.random(n) < 0.9, "FR", "DE"),
        }
    )
