"""`runstone sweep`: trials as child runs on local processes, a Dask cluster or a Ray cluster,
early stopping, the best trial marked, and resuming an interrupted sweep.

The trials are real processes that log a decreasing loss step by step; a trial with a large
alpha is worse at every step, so the median pruner stops some of them once three are done.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from project_support import FIXTURES, runstone, runstone_json

import runstone as rs
from runstone.sdk.client import RunstoneClient
from runstone.tracking import tags as T

ALPHAS = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0,1.1,1.2"


@pytest.fixture
def steps(tmp_path: Path) -> Path:
    return shutil.copytree(FIXTURES / "steps", tmp_path / "steps")


@pytest.fixture
def dask_scheduler() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=2, host="127.0.0.1", dashboard_address=None, processes=True
    ) as cluster:
        yield cluster.scheduler_address.replace("tcp://", "dask://")


def children(parent: str) -> list[rs.Run]:
    client = RunstoneClient()
    return [client.get_run(r) for r in client.get_child_run_ids(parent)]


def assert_sweep_of_twelve(result: dict, backend_label: str) -> None:
    client = RunstoneClient()
    parent = client.get_run(result["parent_run_id"])
    trials = children(parent.info.run_id)
    states = [t.data.tags[T.SWEEP_STATE] for t in trials]
    best = client.get_run(result["best_run_id"])
    finished = [t for t in trials if t.data.tags[T.SWEEP_STATE] == "complete"]
    assert len(trials) == 12, backend_label
    assert sorted(t.data.params["alpha"] for t in trials) == sorted(ALPHAS.split(","))
    assert set(states) <= {"complete", "pruned"} and states.count("pruned") >= 1, states
    assert all(t.info.status == "KILLED" for t in trials if t.data.tags[T.SWEEP_STATE] == "pruned")
    assert parent.data.tags[T.SWEEP_BEST_RUN] == best.info.run_id
    assert best.data.params["alpha"] == "0.1"
    assert best.data.metrics["val_loss"] == min(t.data.metrics["val_loss"] for t in finished)
    assert parent.data.metrics["best_val_loss"] == pytest.approx(1.0 / 12)
    assert parent.data.tags[T.SWEEP_PARAMS] == "alpha"
    assert parent.info.status == "FINISHED"


def test_a_sweep_of_twelve_trials_on_a_local_dask_cluster_stops_bad_trials_early(
    steps: Path, dask_scheduler: str
) -> None:
    result = runstone_json("sweep", str(steps), "-e", "train", "--grid", f"alpha={ALPHAS}", "--parallel", "4",
                           "--metric", "val_loss", "--goal", "minimize", "--early-stop", "median",
                           "--backend", dask_scheduler, "--env-manager", "local", "--seed", "7")  # fmt: skip

    assert_sweep_of_twelve(result, "dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ray_head() -> Iterator[str]:
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray is not None, "the ray extra is part of the test dependencies"
    port, client_port = free_port(), free_port()
    # Ray's socket paths live under its temp folder and must stay short (Unix sockets: 107 bytes).
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
           "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
           # The head starts one client server per connecting driver and gives it 30 s by default;
           # on a loaded two-core CI machine that start alone can take longer.
           "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "180"}  # fmt: skip
    head = subprocess.Popen(
        [ray, "start", "--head", "--block", f"--port={port}", f"--ray-client-server-port={client_port}",
         "--node-ip-address=127.0.0.1", "--num-cpus=4", "--include-dashboard=false",
         f"--temp-dir={temp}", "--disable-usage-stats"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", client_port)) == 0:
                    break
            assert head.poll() is None and time.monotonic() < deadline, "the Ray head did not start"
            time.sleep(0.5)
        yield f"ray://127.0.0.1:{client_port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        # Shown by pytest only when the test failed: what Ray's client servers said.
        for log in sorted(Path(temp).glob("session_*/logs/ray_client_server*.err")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        shutil.rmtree(temp, ignore_errors=True)


def test_the_same_sweep_runs_on_a_ray_cluster(steps: Path, ray_head: str) -> None:
    result = runstone_json("sweep", str(steps), "-e", "train", "--grid", f"alpha={ALPHAS}", "--parallel", "4",
                           "--metric", "val_loss", "--early-stop", "median", "--backend", ray_head,
                           "--env-manager", "local", "--seed", "7", env={"RAY_AUTH_MODE": "disabled"})  # fmt: skip

    assert_sweep_of_twelve(result, "ray")


def test_an_interrupted_sweep_resumes_where_it_stopped(steps: Path) -> None:
    command = [sys.executable, "-m", "runstone", "sweep", str(steps), "-e", "train", "--grid", "alpha=0.1,0.2,0.3,0.4,0.5",
               "-P", "steps=6", "--parallel", "2", "--metric", "val_loss", "--env-manager", "local"]  # fmt: skip
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = RunstoneClient()
    deadline = time.monotonic() + 120
    while True:  # until two trials are done
        found = client.search_runs(["0"], f"tags.`{T.SWEEP_STATE}` = 'complete'").items
        if len(found) >= 2:
            break
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    (parent,) = client.search_runs(["0"], f"tags.`{T.SWEEP_ROLE}` = 'sweep'").items
    done_before = {
        t.data.params["alpha"] for t in children(parent.info.run_id) if t.data.tags.get(T.SWEEP_STATE) == "complete"
    }

    resumed = runstone_json("sweep", "--resume", parent.info.run_id)

    finished = [t for t in children(parent.info.run_id) if t.data.tags.get(T.SWEEP_STATE) == "complete"]
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
    assert sorted(t.data.params["alpha"] for t in finished) == ["0.1", "0.2", "0.3", "0.4", "0.5"]  # each cell once
    rerun = {t["params"]["alpha"] for t in resumed["trials"]} - done_before
    assert done_before and rerun == {"0.1", "0.2", "0.3", "0.4", "0.5"} - done_before
    assert resumed["best_run_id"] == next(t.info.run_id for t in finished if t.data.params["alpha"] == "0.1")


def test_the_python_api_runs_random_search_with_optuna(steps: Path) -> None:
    result = rs.sweep(str(steps), "train", metric="val_loss", random={"alpha": "uniform(0.1, 2)"},
                      parameters={"steps": 3}, trials=3, parallel=3, env_manager="local", seed=3)  # fmt: skip

    alphas = [float(t.params["alpha"]) for t in result.trials]
    assert len(set(alphas)) == 3 and all(0.1 <= a <= 2 for a in alphas)
    assert result.best_value == min(t.value for t in result.trials if t.value is not None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "beta=1,2", "--metric", "val_loss"], "Entry point 'train' has no parameter 'beta' to sweep"),
        (["--random", "alpha=normal(0,1)", "--trials", "2", "--metric", "val_loss"], "is not uniform\\(a,b\\)"),
        (["--random", "alpha=uniform(0,1)", "--metric", "val_loss"], "Say how many trials to run"),
        (["--grid", "alpha=1,2", "--trials", "5", "--metric", "val_loss"], "The grid has 2 cell\\(s\\)"),
        (["--grid", "alpha=fast,2", "--metric", "val_loss"], "Parameter 'alpha' must be a float"),
        (["--grid", "alpha=1,2", "--metric", "val_loss", "--backend", "spark://x:1"], "Unknown backend"),
    ],
)
def test_a_bad_sweep_is_refused_before_any_trial_runs(steps: Path, args: list[str], message: str) -> None:
    import re

    done = runstone("sweep", str(steps), "-e", "train", "--env-manager", "local", *args)

    assert done.returncode == 1
    assert re.search(message, done.stderr), done.stderr
    assert RunstoneClient().search_runs(["0"]).items == []
