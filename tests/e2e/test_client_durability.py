"""The client never loses what the user logged: write-ahead journal, heartbeats, offline start.

Real processes throughout: `runstone server` subprocesses, training scripts killed with SIGKILL,
a server that is not there when training starts and comes up later on the same port.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import Server, Servers, child_env, free_port, remote, run_cli, run_python

from runstone.errors import NotFound

pytestmark = pytest.mark.e2e

HEARTBEAT_TIMEOUT = "2"  # seconds; the client beats every 0.2 s

STREAM = textwrap.dedent(
    """
    import runstone

    runstone.set_experiment("durable")
    run = runstone.start_run(log_system_tags=False)
    print(run.info.run_id, flush=True)
    runstone.log_param("lr", 0.1)
    for step in range(10_000_000):
        runstone.log_metric("loss", float(step), step=step)
        print(step, flush=True)  # this call returned: the point must reach the server
    """
)

SHORT = textwrap.dedent(
    """
    import runstone

    with runstone.start_run(log_system_tags=False) as run:
        runstone.log_metric("x", 1.0)
    print(run.info.run_id)
    """
)

OFFLINE = textwrap.dedent(
    """
    import sys
    import time

    import matplotlib
    import runstone

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure = pyplot.figure()
    started = time.monotonic()
    runstone.set_experiment("offline-start")
    run = runstone.start_run(log_system_tags=False, tags={"phase": "offline"})
    runstone.log_param("lr", 0.1)
    for step in range(100):
        runstone.log_metric("loss", 1 / (step + 1), step=step)
    runstone.log_artifact(sys.argv[1], "inputs")
    runstone.log_dict({"layers": 3}, "config/model.json")
    runstone.log_figure(figure, "plots/loss.png")
    runstone.end_run()
    print(run.info.run_id, round(time.monotonic() - started, 3), flush=True)
    sys.stdin.read()  # training goes on; the parent closes stdin once the server has everything
    """
)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    servers = Servers(tmp_path_factory.mktemp("servers"))
    try:
        yield servers
    finally:
        servers.stop_all()


@pytest.fixture(scope="module")
def server(pool: Servers) -> Server:
    return pool.start(env={"RUNSTONE_RUN_HEARTBEAT_TIMEOUT_SECONDS": HEARTBEAT_TIMEOUT})


def _wait(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _steps(url: str, run_id: str, key: str = "loss") -> list[int]:
    with remote(url) as client:
        return [m.step for m in client.get_metric_history(run_id, key)]


def test_a_training_process_killed_mid_stream_loses_no_point_it_logged_and_its_run_ends_killed(
    server: Server, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {
        "RUNSTONE_HOME": str(home),
        "RUNSTONE_TRACKING_URI": server.url,
        "RUNSTONE_FLUSH_INTERVAL": "3600",  # everything logged is still buffered when the kill comes
        "RUNSTONE_HEARTBEAT_INTERVAL": "0.2",
    }
    with httpx.Client(base_url=server.url) as http:  # a stock MLflow client sends no heartbeat
        mlflow_run = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]

    script = tmp_path / "train.py"
    script.write_text(STREAM)
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=child_env(env)
    ) as process:
        assert process.stdout is not None
        run_id = process.stdout.readline().strip()
        with remote(server.url) as client:  # the run is one whose client sends heartbeats
            _wait(lambda: "runstone.heartbeat" in client.get_run(run_id).data.tags, "the first heartbeat")
        last = -1
        for line in process.stdout:
            last = int(line)
            if last >= 3000:
                break
        process.send_signal(signal.SIGKILL)
        last = max([last, *(int(line) for line in process.stdout.read().split())])

    # Its run stays RUNNING until its heartbeats stop for the timeout, then the server kills it;
    # a run whose client never sent a heartbeat is left alone.
    with remote(server.url) as client:
        assert client.get_run(run_id).info.status == "RUNNING"
        _wait(lambda: client.get_run(run_id).info.status == "KILLED", "the heartbeat sweep")
        assert client.get_run(mlflow_run["run_id"]).info.status == "RUNNING"
        killed = client.search_runs([client.get_run(run_id).info.experiment_id], "attributes.status = 'KILLED'")
        assert [r.info.run_id for r in killed] == [run_id]
        assert client.get_run(run_id).data.tags["runstone.killedBy"].startswith("no heartbeat")
    page = httpx.get(f"{server.url}/ui/runs/{run_id}").text
    assert "KILLED" in page and f"no heartbeat for {HEARTBEAT_TIMEOUT} s" in page

    journals = list((home / "journal").glob("*.jsonl"))
    assert len(journals) == 1
    copy = tmp_path / "other-machine"
    copy.mkdir()
    shutil.copy(journals[0], copy)

    # The next process logging to this server sends what the killed one left, by itself.
    (tmp_path / "short.py").write_text(SHORT)
    done = run_python(tmp_path / "short.py", env=env)
    assert done.returncode == 0, done.stderr
    steps = _steps(server.url, run_id)
    assert sorted(set(steps)) == steps == list(range(len(steps)))  # each point once, none missing
    assert len(steps) > last  # every call that returned, and perhaps the one in progress
    with remote(server.url) as client:
        assert client.get_run(run_id).data.params == {"lr": "0.1"}
    assert list((home / "journal").glob("*.jsonl")) == []

    # Another machine's copy of the same journal, replayed: every batch applies once.
    synced = run_cli("sync", str(copy), env={"RUNSTONE_HOME": str(tmp_path / "elsewhere")})
    assert synced.returncode == 0, synced.stderr
    assert "from 1 journal file(s)" in synced.stdout
    assert _steps(server.url, run_id) == steps
    assert list(copy.glob("*.jsonl")) == []


def test_offline_mode_journals_a_whole_run_and_sync_creates_it_with_its_id(server: Server, tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    env = {"RUNSTONE_HOME": str(home), "RUNSTONE_TRACKING_URI": server.url, "RUNSTONE_MODE": "offline"}
    script = tmp_path / "offline.py"
    script.write_text(OFFLINE)
    done = subprocess.run(
        [sys.executable, str(script), str(data)], input="", capture_output=True, text=True, env=child_env(env)
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[0]
    with remote(server.url) as client, pytest.raises(NotFound):
        client.get_run(run_id)  # nothing was sent

    synced = run_cli("sync", env={"RUNSTONE_HOME": str(home)})
    assert synced.returncode == 0, synced.stderr
    with remote(server.url) as client:
        _check_offline_run(client, run_id)
        assert client.get_experiment_by_name("offline-start") is not None
    assert list((home / "journal").glob("*.jsonl")) == []


def _check_offline_run(client: Any, run_id: str) -> None:
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.1"}
    assert run.data.tags["phase"] == "offline"
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(100))
    files = {f.path for folder in ("inputs", "config", "plots") for f in client.list_artifacts(run_id, folder)}
    assert files == {"inputs/data.csv", "config/model.json", "plots/loss.png"}


def test_training_starts_without_the_server_and_the_sdk_sends_everything_once_it_is_up(
    pool: Servers, tmp_path: Path
) -> None:
    port = free_port()
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    env = {
        "RUNSTONE_HOME": str(tmp_path / "home"),
        "RUNSTONE_TRACKING_URI": f"http://127.0.0.1:{port}",  # nothing listens there yet
        "RUNSTONE_FLUSH_INTERVAL": "0.2",
    }
    script = tmp_path / "offline.py"
    script.write_text(OFFLINE)
    with subprocess.Popen(
        [sys.executable, str(script), str(data)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(env),
    ) as process:  # fmt: skip
        assert process.stdout is not None and process.stdin is not None and process.stderr is not None
        try:
            run_id, seconds = process.stdout.readline().split()
            assert float(seconds) < 1.0  # start_run, logging and the artifact upload did not wait

            later = pool.start(port=port)
            with remote(later.url) as client:
                _wait(lambda: _finished(client, run_id), "the SDK to send its journal")
                _check_offline_run(client, run_id)
        finally:
            process.stdin.close()
            process.wait(60)
        assert process.returncode == 0, process.stderr.read()
    assert list((tmp_path / "home" / "journal").glob("*.jsonl")) == []


def _finished(client: Any, run_id: str) -> bool:
    try:
        return bool(client.get_run(run_id).info.status == "FINISHED")
    except NotFound:
        return False


def test_a_client_made_run_id_is_checked_and_creating_it_again_answers_the_same_run(server: Server) -> None:
    with httpx.Client(base_url=server.url) as http:
        bad = http.post("/api/v1/runs", json={"experiment_id": "0", "run_id": "../../etc"})
        assert bad.status_code == 400 and "32 lowercase hex digits" in bad.json()["error"]["message"]
        run_id = "ab" * 16
        first = http.post("/api/v1/runs", json={"experiment_id": "0", "run_id": run_id, "run_name": "mine"})
        again = http.post("/api/v1/runs", json={"experiment_id": "0", "run_id": run_id, "run_name": "mine"})
        assert first.status_code == again.status_code == 201
        assert first.json()["run"]["info"]["run_id"] == again.json()["run"]["info"]["run_id"] == run_id
        elsewhere = http.post("/api/v1/experiments", json={"name": "elsewhere"}).json()["experiment"]["experiment_id"]
        moved = http.post("/api/v1/runs", json={"experiment_id": elsewhere, "run_id": run_id})
        assert moved.status_code == 409
        too_many = http.post("/api/v1/runs/heartbeat", json={"run_ids": [run_id] * 101})
        assert too_many.status_code == 400
