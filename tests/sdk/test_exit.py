"""A script that never calls end_run: at exit, buffered data is flushed and the run ends
FINISHED, or FAILED when the script died of an exception."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runstone.sdk.client import RunstoneClient

SCRIPT = """\
import sys
import runstone

runstone.set_experiment("exit")
run = runstone.start_run(log_system_tags=False)
for step in range(100):
    runstone.log_metric("loss", float(step), step=step)
print(run.info.run_id, flush=True)
if sys.argv[1] == "fail":
    raise RuntimeError("diverged")
"""


@pytest.mark.parametrize(("mode", "status", "code"), [("ok", "FINISHED", 0), ("fail", "FAILED", 1)])
def test_exit_flushes_and_ends_the_run(tmp_path: Path, mode: str, status: str, code: int) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, RUNSTONE_FLUSH_INTERVAL="3600")

    done = subprocess.run([sys.executable, str(script), mode], env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == code, done.stderr
    if mode == "fail":
        assert "RuntimeError: diverged" in done.stderr
    run_id = done.stdout.split()[0]
    client = RunstoneClient()
    assert client.get_run(run_id).info.status == status
    assert len(client.get_metric_history(run_id, "loss")) == 100


def test_the_experiment_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import runstone

    monkeypatch.setenv("RUNSTONE_EXPERIMENT_NAME", "from-env")
    with runstone.start_run() as run:
        pass

    experiment = RunstoneClient().get_experiment_by_name("from-env")
    assert experiment is not None
    assert run.info.experiment_id == experiment.experiment_id


SIGTERM_SCRIPT = """\
import time
import runstone

runstone.set_experiment("preempted")
run = runstone.start_run(log_system_tags=False)
for step in range(3000):
    runstone.log_metric("loss", float(step), step=step)
print(run.info.run_id, flush=True)
time.sleep(600)  # training goes on until the scheduler preempts it
"""


def test_sigterm_flushes_what_was_buffered_and_ends_the_run_killed(tmp_path: Path) -> None:
    import signal

    script = tmp_path / "train.py"
    script.write_text(SIGTERM_SCRIPT)
    env = dict(os.environ, RUNSTONE_FLUSH_INTERVAL="3600")  # everything is still buffered
    with subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        run_id = process.stdout.readline().split()[0]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 143

    client = RunstoneClient()
    assert client.get_run(run_id).info.status == "KILLED"
    assert len(client.get_metric_history(run_id, "loss")) == 3000
