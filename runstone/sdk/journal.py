"""The write-ahead journal: every logging call is on disk before it is sent.

One file per process in ``<home>/journal/``, one record per line: ``<crc32> <json>``, so a
torn or damaged line is recognised and skipped. The owning process holds an exclusive lock on
its file; a file nobody holds belongs to a process that died and may be replayed.

Records:

- ``log``: one logging call (metrics ``m``, params ``p``, tags ``t`` of run ``run``), numbered ``seq``.
- ``send``: the ``log`` records numbered ``a``..``b`` go out as one group of batches with the
  idempotency keys ``<key>-<i>`` (one per batch, in a fixed order): written *before* sending,
  so a replay resends exactly the batches that may have reached the server, under their keys.
- ``ack``: the ``log`` records ``a``..``b``, or the operation ``seq``, are done (sent, or
  refused by the server for good).
- ``create_run``, ``end``, ``artifact``: operations replayed in their place, numbered ``seq``.

A file whose records are all acknowledged is removed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from runstone import limits
from runstone.codec import float_in, float_out
from runstone.entities import Metric

if TYPE_CHECKING:
    from runstone.sdk.client import RunstoneClient

MAX_METRICS = limits.SDK_MAX_METRICS_PER_REQUEST
MAX_PARAMS = limits.SDK_MAX_PARAMS_PER_REQUEST
MAX_TAGS = limits.SDK_MAX_TAGS_PER_REQUEST

Chunk = tuple[str, list[Metric], list[tuple[str, str]], list[tuple[str, str]]]


def encode(record: Mapping[str, object]) -> bytes:
    body = orjson.dumps(record)
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def decode(line: bytes) -> dict[str, Any] | None:
    """The record on one line, or None for a torn or damaged line."""
    line = line.strip()
    if not line:
        return None
    try:
        if line.startswith(b"{"):  # a journal written before records carried checksums
            return dict(json.loads(line))
        crc, body = line[:8], line[9:]
        if int(crc, 16) != zlib.crc32(body):
            return None
        return dict(orjson.loads(body))
    except ValueError:
        return None


class Journal:
    """One process's journal file, opened (and locked) at the first record."""

    def __init__(self, directory: Path, *, fsync: bool = False) -> None:
        self.directory = directory
        self.fsync = fsync
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        with self._lock:
            return self._open()

    def _open(self) -> Path:
        if self._path is None or self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
            # Made under another name and locked before it takes its own: another process's
            # sync never finds the file unlocked, so never takes a live process's journal.
            making = path.with_name(path.name + ".new")
            fd = os.open(making, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(making, path)
            self._path, self._fd = path, fd
        return self._path

    @property
    def files(self) -> Path:
        """Folder of the artifact files journaled with this file's records."""
        return files_folder(self.path)

    def write(self, *records: Mapping[str, object]) -> Path:
        """Append records with one write(2): in the operating system once this returns (a
        killed process loses none of them); on the disk too when the journal fsyncs."""
        data = b"".join(encode(r) for r in records)
        with self._lock:
            path = self._open()
            assert self._fd is not None
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            if self.fsync:
                os.fsync(self._fd)
            return path

    def close(self, *, remove: bool) -> None:
        """Release the file; ``remove`` deletes it (everything in it was done)."""
        with self._lock:
            if self._fd is None or self._path is None:
                return
            if remove:
                shutil.rmtree(files_folder(self._path), ignore_errors=True)
                self._path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = self._path = None

    def rotate(self) -> None:
        """Start a new file and remove the old one (called when everything in it was done)."""
        self.close(remove=True)


def files_folder(path: Path) -> Path:
    return path.with_suffix(".files")


def group_chunks(records: list[dict[str, Any]]) -> Iterator[Chunk]:
    """The batches of a group of log records: per run in order of first appearance, params first,
    within the server's limits. Sender and replay both use this, so keys match batches."""
    runs: dict[str, tuple[list[Metric], list[tuple[str, str]], list[tuple[str, str]]]] = {}
    for r in records:
        metrics, params, tags = runs.setdefault(r["run"], ([], [], []))
        metrics.extend(Metric(k, float_in(v), int(ts), int(step)) for k, v, ts, step in r.get("m", ()))
        params.extend((k, v) for k, v in r.get("p", ()))
        tags.extend((k, v) for k, v in r.get("t", ()))
    for run_id, (metrics, params, tags) in runs.items():
        while metrics or params or tags:
            yield run_id, metrics[:MAX_METRICS], params[:MAX_PARAMS], tags[:MAX_TAGS]
            metrics, params, tags = metrics[MAX_METRICS:], params[MAX_PARAMS:], tags[MAX_TAGS:]


def log_record(seq: int, uri: str, run_id: str, metrics: Any, params: Any, tags: Any) -> dict[str, object]:
    record: dict[str, Any] = {"op": "log", "seq": seq, "uri": uri, "run": run_id}
    if metrics:
        record["m"] = [[m.key, float_out(m.value), m.timestamp, m.step] for m in metrics]
    if params:
        record["p"] = list(params)
    if tags:
        record["t"] = list(tags)
    return record


# --------------------------------------------------------------------- replay
@dataclass
class SyncReport:
    files: int = 0
    operations: int = 0
    metrics: int = 0
    failed_files: int = 0
    busy_files: int = 0
    damaged_lines: int = 0


def read(path: Path) -> list[dict[str, Any]]:
    return read_counting(path)[0]


def read_counting(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The records of a file, and how many damaged lines (checksum mismatch, torn) were skipped."""
    records, damaged = [], 0
    with open(path, "rb") as f:
        for line in f:
            record = decode(line)
            if record is not None:
                records.append(record)
            elif line.strip():
                damaged += 1
    return records, damaged


def pending_steps(records: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """What a file still has to do, in order: ("group", (key or None, log records)) and
    ("op", record) steps. Records acknowledged are left out; a group that was being sent keeps
    its key."""
    done: list[tuple[int, int]] = [(r["a"], r["b"]) for r in records if r["op"] == "ack" and "a" in r]
    done_ops = {r["seq"] for r in records if r["op"] == "ack" and "seq" in r}
    sends = [r for r in records if r["op"] == "send" and not any(a <= r["a"] and r["b"] <= b for a, b in done)]

    def acked(record: dict[str, Any]) -> bool:
        if record["op"] != "log":
            return record["seq"] in done_ops
        return any(a <= record["seq"] <= b for a, b in done)

    steps: list[tuple[str, object]] = []
    groups: dict[str, list[dict[str, object]]] = {}
    fresh: list[dict[str, object]] | None = None
    for r in records:
        op = r["op"]
        if op in ("send", "ack"):
            continue
        if "seq" not in r:  # a journal from before write-ahead logging: one batch or status per line
            steps.append(("op", r))
            continue
        if acked(r):
            continue
        if op != "log":
            fresh = None
            steps.append(("op", r))
            continue
        send = next((s for s in sends if s["a"] <= r["seq"] <= s["b"]), None)
        if send is not None:
            if send["key"] not in groups:
                groups[send["key"]] = []
                steps.append(("group", (send["key"], groups[send["key"]], send["a"], send["b"])))
            groups[send["key"]].append(r)
            fresh = None
            continue
        if fresh is None:
            fresh = []
            steps.append(("group", (None, fresh, r["seq"], r["seq"])))
        fresh.append(r)
    return [_close_fresh(s) for s in steps]


def _close_fresh(step: tuple[str, Any]) -> tuple[str, Any]:
    if step[0] == "group" and step[1][0] is None:
        records = step[1][1]
        return ("group", (None, records, records[0]["seq"], records[-1]["seq"]))
    return step


def locked(path: Path) -> int | None:
    """An fd holding the lock of a journal file, or None when a live process holds it or the
    file is gone (its owner finished it, or another process replayed it, since it was listed)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Locked after its owner or another replayer removed it: nothing left to do.
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            raise FileNotFoundError(path)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    return fd


def replay_file(
    path: Path, client_for: Callable[[str], RunstoneClient], tracking_uri: str | None, report: SyncReport
) -> bool:
    """Replay one journal file nobody holds; False when a live process holds it."""
    fd = locked(path)
    if fd is None:
        if path.exists():
            report.busy_files += 1
        return False
    try:
        records, damaged = read_counting(path)
        report.damaged_lines += damaged
        for kind, step in pending_steps(records):
            if kind == "group":
                key, records, a, b = step
                if key is None:
                    # Never sent: the key follows from the file and the records, so replaying a
                    # copy of this file elsewhere (another machine's folder) sends the same keys.
                    key = hashlib.sha256(f"{path.name}:{a}:{b}".encode()).hexdigest()[:32]
                    os.write(fd, encode({"op": "send", "a": a, "b": b, "key": key}))
                for i, (run_id, metrics, params, tags) in enumerate(group_chunks(records)):
                    client = client_for(tracking_uri or records[0]["uri"])
                    client.log_batch(run_id, metrics, params, tags, idempotency_key=f"{key}-{i}")
                    report.metrics += len(metrics)
                    report.operations += 1
                os.write(fd, encode({"op": "ack", "a": a, "b": b}))
            else:
                client = client_for(tracking_uri or step["uri"])
                report.metrics += apply(client, step, files_folder(path))
                report.operations += 1
                if "seq" in step:
                    os.write(fd, encode({"op": "ack", "seq": step["seq"]}))
        shutil.rmtree(files_folder(path), ignore_errors=True)
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def apply(client: RunstoneClient, op: dict[str, Any], files: Path) -> int:
    """Carry out one journaled operation; returns the metric points it sent."""
    kind = op["op"]
    if kind == "log_batch":  # written by runstone before write-ahead logging
        metrics = [Metric(k, float(v), int(ts), int(step)) for k, v, ts, step in op["metrics"]]
        client.log_batch(
            op["run_id"],
            metrics,
            [tuple(p) for p in op["params"]],
            [tuple(t) for t in op["tags"]],
            idempotency_key=op["idempotency_key"],
        )
        return len(metrics)
    if kind in ("end", "set_terminated"):
        client.set_terminated(op["run_id"], op["status"], op["end_time"])
    elif kind == "create_run":
        experiment_id = op.get("experiment_id")
        if experiment_id is None:
            experiment_id = experiment_for(client, op["experiment_name"])
        client.create_run(
            experiment_id,
            start_time=op["start_time"],
            tags=op["tags"],
            run_name=op.get("run_name"),
            parent_run_id=op.get("parent_run_id"),
            run_id=op["run_id"],
        )
    elif kind == "artifact":
        source = files / op["file"]
        if source.is_dir():
            client.log_artifacts(op["run_id"], source, op.get("artifact_path"))
        else:
            client.log_artifact(op["run_id"], source, op.get("artifact_path"))
    return 0


def experiment_for(client: RunstoneClient, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return str(client.create_experiment(name))
        except Exception:
            experiment = client.get_experiment_by_name(name)  # another writer made it first: fine
            if experiment is None:
                raise
    return str(experiment.experiment_id)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # gone since it was listed: sorted anywhere, skipped when locked
        return 0.0


def sync(
    directory: Path,
    client_for: Callable[[str], RunstoneClient],
    *,
    tracking_uri: str | None = None,
    only_uri: str | None = None,
) -> SyncReport:
    """Replay every journal file no live process holds, oldest first; a file is removed once
    all its operations landed. ``client_for(uri)`` returns a RunstoneClient; ``tracking_uri``
    overrides the recorded server; ``only_uri`` replays only files recorded for that server."""
    report = SyncReport()
    if not directory.is_dir():
        return report
    for path in sorted(directory.glob("*.jsonl"), key=_mtime):
        if only_uri is not None:
            try:
                first = next(iter(read(path)), None)
            except FileNotFoundError:  # finished or replayed by another process meanwhile
                continue
            if first is None or first.get("uri") != only_uri:
                continue
        report.files += 1
        try:
            replay_file(path, client_for, tracking_uri, report)
        except Exception:
            report.failed_files += 1
            raise
    return report
