"""Step 2 of docs/migrating-from-mlflow.md, as the page shows it: its MLflow code fills MLflow's
local default store (no tracking URI), then its commands import that store twice and list the
runs. (Step 1, the same code pointed at a runstone server, is in test_stock_client.py.)"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import child_env, runstone_command

from runstone.sdk.client import RunstoneClient

pytestmark = pytest.mark.e2e

PAGE = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-mlflow.md"


def _block(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", PAGE.read_text(), re.S)
    assert found is not None, f"the page has a {language} block"
    return found.group(1)


def _runstone(argv: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    assert argv[0] == "runstone"
    return subprocess.run(
        [*runstone_command(), *argv[1:]],
        cwd=cwd,
        env=child_env({"RUNSTONE_HOME": str(home)}),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_guides_import_of_mlflows_local_store(tmp_path: Path):
    offline = {k: v for k, v in child_env().items() if not k.startswith("MLFLOW_")}
    offline.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    logged = subprocess.run(
        [sys.executable, "-c", _block("python")],
        cwd=tmp_path,
        env=offline,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert logged.returncode == 0, logged.stderr[-5000:]
    assert (tmp_path / "mlflow.db").exists() and (tmp_path / "mlruns").is_dir()

    home = tmp_path / "runstone-home"
    first, second, listed = (_runstone(shlex.split(line), tmp_path, home) for line in _block("bash").splitlines())
    for done in (first, second, listed):
        assert done.returncode == 0, f"{done.args}:\n{done.stdout}\n{done.stderr}"
    # The first import copies everything and counts it on both sides; the second finds it all there.
    assert re.search(r"metric points\W+100\W+100", first.stdout), first.stdout
    assert re.search(r"artifacts\W+2\W+2", first.stdout), first.stdout
    assert "change(s) written" in first.stdout
    assert "Nothing to change: runstone is up to date." in second.stdout
    assert "C=0.1" in listed.stdout and "C=1.0" in listed.stdout

    again = _runstone(["runstone", "import-mlflow", "--from", "sqlite:///mlflow.db", "--artifacts", "mlruns", "--json"],
                      tmp_path, home)  # fmt: skip
    report = json.loads(again.stdout)
    assert report["written"] == 0 and report["notes"] == []
    assert {k: c["source"] for k, c in report["counts"].items() if c["source"]} == {
        "experiments": 2,  # Default and churn
        "runs": 2,
        "params": 4,
        "tags": report["counts"]["tags"]["source"],
        "metric points": 100,
        "artifacts": 2,
    }
    assert all(c["source"] == c["runstone"] for c in report["counts"].values())
    client = RunstoneClient(str(home))
    experiment = client.get_experiment_by_name("churn")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], order_by=["params.C ASC"])
    assert [(r.info.run_name, r.data.params, r.data.tags["team"]) for r in runs] == [
        ("C=0.1", {"C": "0.1", "penalty": "l2"}, "growth"),
        ("C=1.0", {"C": "1.0", "penalty": "l2"}, "growth"),
    ]
    assert [m.value for m in client.get_metric_history(runs[0].info.run_id, "loss")][:2] == [0.1, 0.05]
    features = client.download_artifacts(runs[0].info.run_id, "config/features.json", tmp_path / "dl")
    assert json.loads(Path(features).read_text()) == {"features": ["tenure", "plan"]}
