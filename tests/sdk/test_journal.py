"""The write-ahead journal file: checksummed lines, and replays that send each batch once,
under the key it was (or would have been) first sent with."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from runstone.entities import Metric
from runstone.errors import Unavailable
from runstone.sdk import journal
from runstone.sdk.batching import Batcher


class Server:
    """A fake server that applies a batch once per idempotency key, as runstone's does."""

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}
        self.points: list[tuple[str, int]] = []
        self.down_after: int | None = None  # batches accepted before it "goes away"

    def log_batch(
        self, run_id: str, metrics: Any = (), params: Any = (), tags: Any = (), *, idempotency_key: str
    ) -> None:
        if self.down_after is not None and len(self.keys) >= self.down_after:
            raise Unavailable("connection refused")
        if idempotency_key not in self.keys:
            self.keys[idempotency_key] = len(metrics)
            self.points.extend((run_id, m.step) for m in metrics)


def _points(n: int) -> list[Metric]:
    return [Metric("loss", 1.0, 1, step) for step in range(n)]


def test_a_damaged_or_torn_line_is_skipped_and_counted(tmp_path: Path) -> None:
    book = journal.Journal(tmp_path)
    for seq in range(1, 4):
        book.write(journal.log_record(seq, "http://x", "r", _points(1), [], []))
    path = book.path
    book.close(remove=False)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"loss"', b'"lost"')  # a flipped byte: the checksum no longer matches
    path.write_bytes(b"".join(lines) + lines[2][:20])  # and a torn last line

    records, damaged = journal.read_counting(path)
    assert [r["seq"] for r in records] == [1, 3]
    assert damaged == 2


def test_a_process_dead_in_the_middle_of_a_group_is_replayed_once_by_key(tmp_path: Path) -> None:
    server = Server()
    server.down_after = 1  # the first of the group's three batches lands, then the server goes away
    batcher = Batcher(server.log_batch, tracking_uri="http://x", interval=3600, journal=journal.Journal(tmp_path))
    batcher.add("r", metrics=_points(2500))
    with pytest.warns(RuntimeWarning, match="unreachable"):
        batcher.flush()
    assert len(server.points) == 1000
    assert batcher.journal is not None
    batcher.journal.close(remove=False)  # the process dies (its lock goes with it)
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in tmp_path.glob("*.jsonl"):
        shutil.copy(file, copy)

    server.down_after = None
    report = journal.sync(tmp_path, lambda uri: server)
    assert (report.files, report.metrics) == (1, 2500)  # all three batches resent, under their keys
    assert sorted(step for _, step in server.points) == list(range(2500))  # the first one applied once
    journal.sync(copy, lambda uri: server)  # another machine's copy: nothing new
    assert len(server.points) == 2500
    assert list(tmp_path.glob("*.jsonl")) == list(copy.glob("*.jsonl")) == []


def test_memory_only_logging_journals_what_the_server_did_not_take_at_exit(tmp_path: Path) -> None:
    server = Server()
    server.down_after = 0
    batcher = Batcher(
        server.log_batch, tracking_uri="http://x", interval=3600, journal=journal.Journal(tmp_path), write_ahead=False
    )
    batcher.add("r", metrics=_points(10), params=[("lr", "0.1")])
    assert list(tmp_path.glob("*.jsonl")) == []  # nothing on disk while it runs
    with pytest.warns(RuntimeWarning, match="kept in memory"):
        batcher.flush()
    batcher.close()

    server.down_after = None
    assert journal.sync(tmp_path, lambda uri: server).metrics == 10
    assert sorted(step for _, step in server.points) == list(range(10))


def test_a_journal_a_live_process_holds_is_left_alone(tmp_path: Path) -> None:
    book = journal.Journal(tmp_path)
    book.write(journal.log_record(1, "http://x", "r", _points(1), [], []))
    server = Server()
    report = journal.sync(tmp_path, lambda uri: server)
    assert (report.busy_files, server.points) == (1, [])
    book.close(remove=True)


def test_a_journal_finished_by_its_owner_while_another_process_syncs_is_skipped(tmp_path: Path) -> None:
    """Writers sharing a home each sync at start. A file listed by one of them and then finished
    (removed) by its owner, before or after the sync locked it, is nothing to resend, not an error."""
    book = journal.Journal(tmp_path)
    book.write(journal.log_record(1, "http://x", "r", _points(1), [], []))
    path = book.path
    # Opened by the syncing process while the owner still holds the lock...
    late = journal.locked(path)
    assert late is None  # the owner holds it: busy
    book.close(remove=True)  # ...then the owner finishes: the file is gone
    server = Server()
    report = journal.SyncReport()
    assert journal.replay_file(path, lambda uri: server, None, report) is False
    assert (report.busy_files, report.failed_files, server.points) == (0, 0, [])
    # A journal is made under another name and locked before it takes its own: once finished,
    # no file of it is left, not even the one it was made under.
    assert list(tmp_path.glob("*.jsonl*")) == []


def test_non_finite_values_survive_the_journal(tmp_path: Path) -> None:
    record = journal.log_record(
        1, "http://x", "r", [Metric("m", float("nan"), 1, 0), Metric("m", float("-inf"), 1, 1)], [], []
    )
    decoded = journal.decode(journal.encode(record))
    assert decoded is not None
    values = [m.value for _, metrics, _, _ in journal.group_chunks([decoded]) for m in metrics]
    assert values[0] != values[0] and values[1] == float("-inf")
