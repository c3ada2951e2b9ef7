"""Offline: when the server goes away mid-training, logging goes on, every call and the final
status stay in the write-ahead journal under RUNSTONE_HOME/journal, and `runstone sync` replays
what was not sent exactly once.

A real `runstone server` subprocess on a free loopback port plays the server; stopping it
leaves a closed port, as when a server dies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

import runstone
from runstone.cli.main import cli
from runstone.config import Settings
from runstone.sdk import fluent, journal
from runstone.sdk.client import RunstoneClient


class Server:
    """`runstone server` in a subprocess on the test's database and artifact root."""

    def __init__(self, settings: Settings, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        command = [
            sys.executable, "-c", "from runstone.cli.main import main; main()", "server", "--port", str(port),
            "--backend-store-uri", settings.database_uri, "--artifacts-destination", settings.artifact_root,
            "--home", str(log.parent / "server-home"),
        ]  # fmt: skip
        with open(log, "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"runstone server did not start:\n{log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def test_a_dead_server_does_not_stop_training_and_sync_replays_exactly_once(
    settings: Settings,
    servers: list[Server],
    free_port: Any,
    local_client: RunstoneClient,
    remote_client: RunstoneClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNSTONE_HTTP_RETRIES", "0")
    monkeypatch.setenv("RUNSTONE_FLUSH_INTERVAL", "3600")
    home = Path(os.environ["RUNSTONE_HOME"])
    servers.append(Server(settings, free_port(), tmp_path / "server.log"))

    runstone.set_tracking_uri(servers[0].url)
    runstone.set_experiment("offline")
    run = runstone.start_run()
    rid = run.info.run_id
    runstone.log_param("lr", 0.1)
    for step in range(10):
        runstone.log_metric("loss", 1.0, step=step)
    runstone.flush()
    servers[0].stop()

    for step in range(10, 1510):  # the training loop goes on without errors
        runstone.log_metric("loss", 1 / step, step=step)
    runstone.set_tag("phase", "offline")
    with pytest.warns(RuntimeWarning, match=r"unreachable.*journal.*runstone sync"):
        runstone.end_run()

    assert runstone.active_run() is None
    fluent.reset()  # the process ends: what the server did not take stays in the journal
    journaled = list((home / "journal").glob("*.jsonl"))
    assert len(journaled) == 1
    steps = journal.pending_steps(journal.read(journaled[0]))
    assert [kind for kind, _ in steps] == ["group", "op"]  # 1500 points and a tag, then the final status
    assert local_client.get_run(rid).info.status == "RUNNING"
    assert len(local_client.get_metric_history(rid, "loss")) == 10
    kept = tmp_path / "journal-copy.jsonl"
    shutil.copy(journaled[0], kept)

    servers.append(Server(settings, free_port(), tmp_path / "server2.log"))
    result = CliRunner().invoke(cli, ["sync", "--tracking-uri", servers[1].url])
    assert result.exit_code == 0, result.output
    assert "Synced 3 operation(s) (1500 metric points) from 1 journal file(s)" in result.output

    synced = local_client.get_run(rid)
    assert synced.info.status == "FINISHED"
    assert synced.data.tags["phase"] == "offline"
    assert synced.data.params == {"lr": "0.1"}
    assert [m.step for m in local_client.get_metric_history(rid, "loss")] == list(range(1510))
    assert list((home / "journal").glob("*.jsonl")) == []

    # Replaying the same journal again changes nothing: every batch kept its idempotency key.
    shutil.copy(kept, home / "journal" / kept.name)
    report = journal.sync(home / "journal", lambda uri: remote_client, tracking_uri="http://testserver")
    assert (report.operations, report.metrics) == (3, 1500)
    assert len(local_client.get_metric_history(rid, "loss")) == 1510
    assert local_client.get_run(rid).info.end_time == synced.info.end_time


def test_sync_with_an_empty_journal_says_so() -> None:
    result = CliRunner().invoke(cli, ["sync"])
    assert result.exit_code == 0, result.output
    assert "Synced 0 operation(s) (0 metric points) from 0 journal file(s)" in result.output


def test_a_failed_replay_keeps_the_journal_and_the_next_sync_applies_each_batch_once(
    remote_client: RunstoneClient, tmp_path: Path
) -> None:
    kept, deleted = remote_client.create_run("0"), remote_client.create_run("0")
    remote_client.delete_run(deleted.info.run_id)
    book = journal.Journal(tmp_path / "journal")
    for seq, run in enumerate([kept, deleted], 1):
        book.write(
            journal.log_record(seq, "http://gone:1", run.info.run_id, [runstone.Metric("loss", 1.0, 1, 0)], [], [])
        )
    book.close(remove=False)  # its process is gone

    def replay() -> journal.SyncReport:
        return journal.sync(tmp_path / "journal", lambda uri: remote_client, tracking_uri="http://testserver")

    with pytest.raises(runstone.InvalidState, match="deleted"):
        replay()
    assert len(list((tmp_path / "journal").glob("*.jsonl"))) == 1

    remote_client.restore_run(deleted.info.run_id)
    assert replay().operations == 2
    assert len(remote_client.get_metric_history(kept.info.run_id, "loss")) == 1
    assert len(remote_client.get_metric_history(deleted.info.run_id, "loss")) == 1
    assert list((tmp_path / "journal").glob("*.jsonl")) == []
