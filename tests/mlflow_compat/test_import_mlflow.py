"""``runstone import-mlflow`` against a store a real ``mlflow server`` filled during the test."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import child_env, free_port, run_cli, runstone_command
from sqlalchemy import create_engine, text
from stock_client import mlflow_env, run_client

from runstone.backend import open_backend
from runstone.config import Settings
from runstone.governance.audit import AuditService
from runstone.migration.importer import KINDS
from runstone.sdk.client import RunstoneClient

pytestmark = pytest.mark.e2e

MLFLOW = Path(sys.executable).parent / "mlflow"
START_DEADLINE = 300.0  # MLflow's server takes from ten seconds to minutes to start on a busy machine


@dataclass
class MlflowStore:
    url: str
    database: str
    artifacts: Path
    made: dict[str, Any]


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowStore]:
    """A real MLflow server on a free loopback port (SQLite, local artifact root), filled by the stock client."""
    root = tmp_path_factory.mktemp("mlflow")
    database, artifacts = f"sqlite:///{root / 'mlflow.db'}", root / "mlartifacts"
    log_path = root / "server.log"
    for _ in range(3):
        port = free_port()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [str(MLFLOW), "server", "--backend-store-uri", database, "--artifacts-destination", str(artifacts),
                 "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root,
                env=mlflow_env(f"http://127.0.0.1:{port}"), start_new_session=True,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            if _wait_healthy(process, url, log_path):
                break
        except BaseException:
            _stop(process)
            raise
        _stop(process)  # the port was taken between our probe and its bind: try another
    else:
        pytest.fail(f"mlflow server did not start:\n{log_path.read_text()[-5000:]}")
    try:
        made = run_client("fill_mlflow", url, cwd=root)
        yield MlflowStore(url, database, artifacts, made)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The server's process group: asked to stop, then killed (MLflow's job runner lingers)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            continue
    # Workers may outlive the leader by a moment; leave none of the group behind.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path) -> bool:
    started = time.monotonic()
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() - started < START_DEADLINE:
            if process.poll() is not None:
                if "address already in use" in log_path.read_text(errors="replace").lower():
                    return False
                pytest.fail(f"mlflow server exited with {process.returncode}:\n{log_path.read_text()[-5000:]}")
            try:
                if http.get(f"{url}/health").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    pytest.fail(f"mlflow server did not answer within {START_DEADLINE:.0f}s:\n{log_path.read_text()[-5000:]}")


def _import(*args: str) -> dict[str, Any]:
    done = run_cli("import-mlflow", *args, "--json", timeout=600)
    assert done.returncode == 0, f"import failed:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_import_from_a_server_copies_everything_once(mlflow_store: MlflowStore, tmp_path: Path):
    home = tmp_path / "home"
    report = _import("--from", mlflow_store.url, "--home", str(home))
    counts = report["counts"]
    assert all(c["source"] == c["runstone"] for c in counts.values()), counts
    assert {k: c["source"] for k, c in counts.items()} == {
        "experiments": 3,  # Default, churn and the deleted abandoned
        "runs": 7,
        "params": 4,
        "tags": counts["tags"]["source"],
        "metric points": 300 + 1 + 1 + 1 + 1,
        "dataset inputs": 1,
        "artifacts": counts["artifacts"]["source"],
        "logged models": 2,
        "registered models": 1,
        "model versions": 2,
        "aliases": 1,
        "stages": 2,
    }
    # Two notes files, one blob, and the files of two logged models (MLmodel, pickle, envs...).
    assert counts["artifacts"]["source"] >= 3 + 2 * 4 and counts["tags"]["source"] >= 7 * 4

    made = mlflow_store.made
    client = RunstoneClient(str(home))
    experiment = client.get_experiment_by_name("churn")
    assert experiment is not None
    assert experiment.tags == {"runstone.note.content": "Churn models", "team": "growth"}
    trial = client.get_run(made["trial"])  # run ids are kept
    assert trial.info.run_name == "trial-1" and trial.info.experiment_id == experiment.experiment_id
    assert trial.data.params == {"lr": "0.1", "depth": "3"}
    assert trial.data.tags["runstone.parentRunId"] == made["parent"] and trial.data.tags["note"] == "first"
    assert "mlflow.runName" not in trial.data.tags and "mlflow.parentRunId" not in trial.data.tags
    history = client.get_metric_history(made["trial"], "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(300)]
    assert trial.data.metrics["odd"] != trial.data.metrics["odd"]  # NaN stays NaN
    (dataset_input,) = trial.inputs.dataset_inputs
    assert dataset_input.dataset.name == "train" and dataset_input.context == "training"
    hello = client.download_artifacts(made["trial"], "notes/hello.txt", tmp_path / "dl")
    assert Path(hello).read_text() == "hello"
    blob = Path(client.download_artifacts(made["files"], "blobs/data.bin", tmp_path / "dl"))
    source_blob = next(mlflow_store.artifacts.rglob("data.bin"))
    assert _sha256(blob) == _sha256(source_blob)
    assert client.get_run(made["removed"]).info.lifecycle_stage == "deleted"
    abandoned = client.get_experiment_by_name("abandoned")
    assert abandoned is not None and abandoned.lifecycle_stage == "deleted"

    model = client.get_registered_model("churn-model")
    assert model.description == "Predicts churn" and model.tags == {"owner": "growth"}
    assert model.aliases == {"champion": "2"}
    v1, v2 = client.get_model_version("churn-model", 1), client.get_model_version("churn-model", 2)
    assert (v1.current_stage, v2.current_stage) == ("Staging", "Production")
    assert v1.tags == {"validated": "yes"} and v1.source.startswith("models:/m-")
    moves = client.get_model_history("churn-model", kind="stage", target="Production")
    assert [(m.version, m.reason) for m in moves] == [("2", "imported from MLflow")]

    # A second import finds nothing to change, and changes nothing.
    backend = open_backend(Settings(home=home))
    try:
        audit = AuditService(backend.db)
        last, seen = 0, audit.events(limit=10_000)
        while seen:
            last = seen[-1].seq
            seen = audit.events(after_seq=last, limit=10_000)
        again = _import("--from", mlflow_store.url, "--home", str(home))
        assert again["written"] == 0 and again["counts"] == counts
        assert audit.events(after_seq=last) == []
    finally:
        backend.close()


@pytest.fixture
def pg_runstone(pg_database: str) -> Iterator[str]:
    """A fresh, empty schema of the session's PostgreSQL database, chosen through search_path."""
    schema = f"imp_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg_database}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_import_from_the_database_into_postgresql_picks_up_changes(
    mlflow_store: MlflowStore, pg_runstone: str, tmp_path: Path
):
    target = ["--backend-store-uri", pg_runstone, "--artifacts-destination", str(tmp_path / "artifacts")]
    source = ["--from", mlflow_store.database, "--artifacts", str(mlflow_store.artifacts)]
    first = _import(*source, *target)
    assert all(c["source"] == c["runstone"] > 0 or k == "dataset inputs" for k, c in first["counts"].items())
    assert first["written"] > 0
    # Runs that logged no file have no folder in MLflow's artifact root: nothing is out of reach.
    assert first["notes"] == []
    assert (
        first["counts"]["artifacts"]["source"]
        == _import("--from", mlflow_store.url, "--home", str(tmp_path / "h"))["counts"]["artifacts"]["source"]
    )

    # Something new in MLflow: the next import copies just that.
    run_id = mlflow_store.made["files"]
    response = httpx.post(
        f"{mlflow_store.url}/api/2.0/mlflow/runs/log-metric",
        json={"run_id": run_id, "key": "late", "value": 7.0, "timestamp": 1, "step": 0},
    )
    assert response.status_code == 200
    second = _import(*source, *target)
    assert second["written"] == 1
    assert second["counts"]["metric points"]["runstone"] == first["counts"]["metric points"]["runstone"] + 1
    client = RunstoneClient(pg_runstone, settings=Settings(artifacts_destination=str(tmp_path / "artifacts")))
    assert client.get_run(run_id).data.metrics["late"] == 7.0
    assert _import(*source, *target)["written"] == 0


def _on_a_terminal(*args: str, timeout: float = 600) -> tuple[int, str]:
    """Run ``runstone`` with a pseudo-terminal as its stdout and stderr; its exit code and output,
    escape sequences removed."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    process = subprocess.Popen(
        [*runstone_command(), *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
        env=child_env({"TERM": "xterm-256color"}),
    )  # fmt: skip
    os.close(follower)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal is gone: the command exited
                break
            if not chunk:
                break
            output += chunk
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode(errors="replace"))
    return code, text.replace("\r", "\n")


def test_import_on_a_terminal_draws_progress_and_counts_both_sides(mlflow_store: MlflowStore, tmp_path: Path):
    source = ["import-mlflow", "--from", mlflow_store.database, "--artifacts", str(mlflow_store.artifacts)]
    code, shown = _on_a_terminal(*source, "--home", str(tmp_path / "home"))
    assert code == 0, shown[-5000:]
    # The bar: what is being imported, and how many of how many pieces are done.
    done = re.findall(r"importing \(([a-z ]+)\)[^\n]*?(\d+)/(\d+)", shown)
    assert done, shown[-5000:]
    assert {what for what, _, _ in done} <= {"run", "logged model", "registered model", "model version"}
    assert done[-1][1] == done[-1][2] and int(done[-1][2]) == 2 + 7 + 1 + 2  # logged models, runs, registry
    # The closing table: each kind of object counted in MLflow and in runstone, the same.
    rows = {kind: re.search(rf"{kind}\W+(\d+)\W+(\d+)", shown) for kind in KINDS}
    counted = {kind: row.groups() for kind, row in rows.items() if row is not None}
    assert len(counted) == len(KINDS) and all(mlflow == ours for mlflow, ours in counted.values()), shown[-3000:]
    assert (counted["experiments"], counted["runs"], counted["model versions"]) == (("3", "3"), ("7", "7"), ("2", "2"))
    assert "change(s) written" in shown and "Note:" not in shown
    code, shown = _on_a_terminal(*source, "--home", str(tmp_path / "home"))
    assert code == 0 and "Nothing to change: runstone is up to date." in shown, shown[-3000:]


def test_import_refuses_what_is_not_an_mlflow_store(tmp_path: Path):
    done = run_cli("import-mlflow", "--from", "not-a-uri", "--home", str(tmp_path / "home"))
    assert done.returncode == 1 and "Error:" in done.stderr and "http://host:port" in done.stderr
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    done = run_cli("import-mlflow", "--from", empty, "--home", str(tmp_path / "home"))
    assert done.returncode == 1 and "is not an MLflow tracking database" in done.stderr


def test_an_unreadable_artifact_is_reported_and_the_import_goes_on(mlflow_store: MlflowStore, tmp_path: Path):
    import shutil

    artifacts = tmp_path / "mlartifacts"
    shutil.copytree(mlflow_store.artifacts, artifacts)
    hello = next(artifacts.rglob("hello.txt"))
    # A file name runstone cannot hold (its paths use '/' only) in the middle of the store.
    (hello.parent / "back\\slash.txt").write_text("unreadable here")
    home = tmp_path / "home"

    done = run_cli("import-mlflow", "--from", mlflow_store.database, "--artifacts", str(artifacts), "--home", str(home))

    assert done.returncode == 1, done.stdout + done.stderr
    assert "back\\\\slash.txt" in done.stdout and "was not imported" in done.stdout
    assert "runstone does not hold everything MLflow does (artifacts)" in done.stderr
    client = RunstoneClient(str(home))
    # Everything else came across, the neighbour of the refused file included.
    assert (
        Path(client.download_artifacts(mlflow_store.made["trial"], "notes/hello.txt", tmp_path / "dl")).read_text()
        == "hello"
    )
    assert client.get_registered_model("churn-model").aliases == {"champion": "2"}
