"""Running the stock ``mlflow`` client in a subprocess, so its global state and warnings stay there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from e2e_support import child_env

CLIENTS = Path(__file__).resolve().parent / "clients"


def mlflow_env(tracking_uri: str) -> dict[str, str]:
    """A client environment pointing at ``tracking_uri``, offline (no usage telemetry)."""
    env = {k: v for k, v in child_env().items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return env


def run_client(
    script: str, tracking_uri: str, *args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run clients/<script>.py and return the JSON object it printed last."""
    done = subprocess.run(
        [sys.executable, str(CLIENTS / f"{script}.py"), *args],
        capture_output=True,
        text=True,
        env={**mlflow_env(tracking_uri), **(env or {})},
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed ({done.returncode}):\n{done.stdout[-5000:]}\n{done.stderr[-10000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
