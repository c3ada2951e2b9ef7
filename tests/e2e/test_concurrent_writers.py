"""Eight training processes logging at once: every one succeeds and every point is stored."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest
from e2e_support import Servers, child_env, remote
from scrape import total

from runstone.backend import open_backend
from runstone.config import Settings
from runstone.entities import MetricHistory, Run
from runstone.governance.audit import AuditService

pytestmark = pytest.mark.e2e

WRITERS = 8
STEPS = 1000

WRITER = textwrap.dedent(
    """
    import sys

    import runstone

    index, steps = int(sys.argv[1]), int(sys.argv[2])
    print("ready", flush=True)
    sys.stdin.readline()  # the test releases every writer at the same moment
    runstone.set_experiment("concurrent")
    with runstone.start_run(run_name=f"writer-{index}") as run:
        runstone.log_params({"index": index, "steps": steps})
        for step in range(steps):
            runstone.log_metrics({"loss": index + step / steps, "acc": float(step)}, step=step)
            if step % 200 == 199:
                runstone.flush()
        runstone.set_tag("writer", str(index))
    print(run.info.run_id, flush=True)
    """
)


def run_writers(tmp_path: Path, env: Mapping[str, str]) -> dict[int, str]:
    """Start the writers, release them together, and return {writer index: run id}."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), str(STEPS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(env),
        )
        for i in range(WRITERS)
    ]
    try:
        for p in processes:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready", p.communicate(timeout=60)[1]
        for p in processes:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outcomes = [p.communicate(timeout=180) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.communicate()
    failures = [
        f"writer {i} exited {p.returncode}:\n{err}"
        for i, (p, (_, err)) in enumerate(zip(processes, outcomes, strict=True))
        if err
    ]
    failures += [f"writer {i} exited {p.returncode}" for i, p in enumerate(processes) if p.returncode != 0]
    assert not failures, "\n".join(failures)
    return {i: out.strip().splitlines()[-1] for i, (out, _) in enumerate(outcomes)}


def check_runs(
    get_run: Callable[[str], Run], history: Callable[[str, str], MetricHistory], run_ids: dict[int, str]
) -> None:
    """Every run finished with all its params, tags and metric points."""
    assert len(set(run_ids.values())) == WRITERS
    for index, run_id in run_ids.items():
        run = get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.params == {"index": str(index), "steps": str(STEPS)}
        assert run.data.tags["writer"] == str(index)
        loss = history(run_id, "loss")
        assert list(loss.steps) == list(range(STEPS))
        assert list(loss.values) == pytest.approx([index + s / STEPS for s in range(STEPS)])
        assert list(history(run_id, "acc").values) == [float(s) for s in range(STEPS)]


def test_eight_processes_log_through_a_server_with_two_workers(servers: Servers, tmp_path: Path) -> None:
    server = servers.start("--workers", "2")
    writer_home = tmp_path / "writer-home"
    run_ids = run_writers(tmp_path, {**server.env(), "RUNSTONE_HOME": str(writer_home)})

    with remote(server.url) as client:
        check_runs(client.get_run, client.get_metric_columns, run_ids)
        experiment = client.get_experiment_by_name("concurrent")
        assert experiment is not None
        assert len(client.search_runs([experiment.experiment_id], max_results=100)) == WRITERS
        verification = client.verify_audit()
    assert verification["ok"], verification
    assert not (writer_home / "journal").exists() or not any((writer_home / "journal").iterdir())
    # /metrics counts the requests of both workers, whichever of them answers the scrape.
    for _ in range(20):
        assert httpx.get(f"{server.url}/version", timeout=30).status_code == 200  # new connection each
    scrapes = [httpx.get(f"{server.url}/metrics", timeout=30).text for _ in range(6)]
    assert [total(text, "runstone_http_requests_total", route="/version") for text in scrapes] == [20] * 6
    log = server.log()
    assert "database is locked" not in log
    assert "Traceback" not in log


def test_eight_processes_write_the_embedded_sqlite_store(tmp_path: Path) -> None:
    """No server: eight processes share one RUNSTONE_HOME, starting on a brand-new store."""
    home = tmp_path / "shared-home"
    run_ids = run_writers(tmp_path, {"RUNSTONE_HOME": str(home)})

    backend = open_backend(Settings(home=home))
    try:
        tracking = backend.tracking()
        check_runs(tracking.get_run, tracking.get_metric_history, run_ids)
        verification = AuditService(backend.db).verify()
        assert verification.ok, verification.problem
    finally:
        backend.close()
