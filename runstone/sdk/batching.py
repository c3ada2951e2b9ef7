"""Background batching over a write-ahead journal: logging calls return at once, a worker
thread sends batches, and nothing a call accepted is lost.

Every call is appended to the journal (``runstone.sdk.journal``) before it is queued, unless the
journal is off (memory-only). Batches go out every ``interval`` seconds, when enough points are
waiting, on ``flush()``, at the end of a run and at exit, each group under idempotency keys
written to the journal before it is sent. A batch the server rejects is reported by the next
``flush()`` (and warned about at once). A batch that cannot reach the server stays queued and
the worker sends it again, with the same key, when the server is back; what is still queued at
exit stays in the journal for the next process or ``runstone sync``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from runstone.entities import Metric
from runstone.errors import RunstoneError, Unavailable
from runstone.sdk.journal import Chunk, Journal, group_chunks, log_record

log = logging.getLogger("runstone.sdk")

_SOON = 5000  # pending points that wake the worker before its interval is up
_ROTATE_BYTES = 64 << 20  # a journal file this large starts afresh once everything in it was sent


@dataclass
class _Group:
    """Log records numbered a..b, sent as batches keyed ``<key>-<i>``."""

    key: str
    a: int
    b: int
    records: list[dict[str, Any]]
    chunks: list[Chunk] = field(default_factory=list)
    sent: int = 0  # chunks done


@dataclass
class _Op:
    record: dict[str, Any]
    result: Any = None


class BatchError(RunstoneError):
    """Batches the server rejected; raised by the next flush."""


class Batcher:
    def __init__(
        self,
        send: Callable[..., None],
        *,
        tracking_uri: str,
        interval: float = 1.0,
        journal: Journal | None = None,
        write_ahead: bool = True,
        apply_op: Callable[[dict[str, Any]], Any] | None = None,
        offline: bool = False,
        heartbeat: Callable[[list[str]], None] | None = None,
        heartbeat_interval: float = 30.0,
        adopt: Callable[[], None] | None = None,
        fail_fast: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> None:
        self._send = send
        self.tracking_uri = tracking_uri
        self.interval = interval
        self.journal = journal
        # Off: memory only; what the server has not taken at exit is journaled then.
        self.write_ahead = write_ahead and journal is not None
        self._apply_op = apply_op
        self.offline = offline
        self._heartbeat = heartbeat
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_runs: set[str] = set()
        self._adopt = adopt
        # While the server is away, each retry is one attempt (no backoff inside a retry).
        self._fail_fast = fail_fast or nullcontext
        self._last_beat = 0.0
        self._seq = 0
        self._pending: list[dict[str, Any]] = []
        self._size = 0
        self._backlog: deque[_Group | _Op] = deque()
        self.down: str | None = None  # why the last send could not reach the server
        self._warned = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._send_lock = threading.Lock()  # one sender at a time, held while sending
        self._queue_lock = threading.Lock()  # the order of the backlog, never held while sending
        self._errors: list[RunstoneError] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._urgent = False  # enough is pending: send before the interval is up

    # ----------------------------------------------------------------- calls
    def add(
        self,
        run_id: str,
        *,
        metrics: list[Metric] | None = None,
        params: list[tuple[str, str]] | None = None,
        tags: list[tuple[str, str]] | None = None,
    ) -> None:
        with self._lock:
            self._seq += 1
            record = log_record(self._seq, self.tracking_uri, run_id, metrics, params, tags)
            self._write(record)
            self._pending.append(record)
            self._size += len(metrics or ()) + len(params or ()) + len(tags or ())
            size = self._size
        self._ensure_thread()
        if size >= _SOON:
            self._urgent = True
            self._wake.set()

    def op(self, record: Mapping[str, object]) -> Any:
        """Journal an operation (create_run, end, artifact) and carry it out after everything
        logged before it; returns its result when it was done now, None when it waits for the
        server."""
        with self._lock:
            self._seq += 1
            record = {**record, "seq": self._seq, "uri": self.tracking_uri}
            self._write(record)
        self._ensure_thread()
        item = _Op(record)
        with self._queue_lock:
            self._group()
            self._backlog.append(item)
        if self.offline or self.down:  # the worker sends it when the server is back
            return None
        with self._send_lock:
            self._pump()
        return item.result

    def _write(self, record: Mapping[str, object]) -> None:
        if not self.write_ahead or self.journal is None:
            return
        try:
            self.journal.write(record)
        except OSError as exc:  # training goes on in memory; the data is journaled at exit if needed
            warnings.warn(f"runstone: cannot write the journal ({exc}); logging goes on in memory.", stacklevel=4)
            self.write_ahead = False

    def watch(self, run_id: str) -> None:
        """Send heartbeats for this run (now, then every heartbeat_interval) until ``unwatch``."""
        self.heartbeat_runs.add(run_id)
        self._last_beat = 0.0
        if self._heartbeat is not None:
            self._ensure_thread()
            self._wake.set()

    def unwatch(self, run_id: str) -> None:
        self.heartbeat_runs.discard(run_id)

    # ---------------------------------------------------------------- worker
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="runstone-batcher", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        if self._adopt is not None and not self.offline:
            try:
                self._adopt()
            except Exception as exc:
                log.warning("runstone: could not resend a journal left by an earlier process: %s", exc)
        next_drain = time.monotonic() + self.interval
        while not self._closed:
            self._wake.wait(min(self.interval, self.heartbeat_interval) if self._heartbeat else self.interval)
            self._wake.clear()
            if self._closed:
                break
            try:
                if self._urgent or time.monotonic() >= next_drain:
                    self._urgent = False
                    next_drain = time.monotonic() + self.interval
                    self._drain(retry=True)
                self._beat()
            except Exception:  # the worker must survive anything; errors are kept by _pump
                log.exception("runstone: background flush failed")

    def _beat(self) -> None:
        now = time.monotonic()
        if self._heartbeat is None or self.offline or self.down or now - self._last_beat < self.heartbeat_interval:
            return
        runs = sorted(self.heartbeat_runs)
        if runs:
            self._last_beat = now
            try:
                self._heartbeat(runs)
            except Exception as exc:  # a missed heartbeat is harmless; the next one comes soon
                log.debug("runstone: heartbeat failed: %s", exc)

    # --------------------------------------------------------------- sending
    def _group(self) -> None:
        """Turn the pending records into a group at the end of the backlog (holding _queue_lock)."""
        with self._lock:
            records, self._pending, self._size = self._pending, [], 0
        if not records:
            return
        group = _Group(uuid.uuid4().hex, records[0]["seq"], records[-1]["seq"], records)
        group.chunks = list(group_chunks(records))
        if self.write_ahead:
            self._write({"op": "send", "a": group.a, "b": group.b, "key": group.key})
        self._backlog.append(group)

    def _drain(self, *, retry: bool = False) -> None:
        with self._queue_lock:
            self._group()
        if self.offline or (self.down and not retry):
            return
        with self._send_lock:
            self._pump()

    def _pump(self) -> None:
        """Send the backlog in order until it is empty or the server cannot be reached."""
        with self._fail_fast() if self.down else nullcontext():
            self._pump_all()

    def _pump_all(self) -> None:
        while True:
            with self._queue_lock:
                if not self._backlog:
                    break
                item = self._backlog[0]
            try:
                if isinstance(item, _Group):
                    while item.sent < len(item.chunks):
                        self._deliver(item, *item.chunks[item.sent])
                        item.sent += 1
                    self._ack({"op": "ack", "a": item.a, "b": item.b})
                else:
                    self._do(item)
                    self._ack({"op": "ack", "seq": item.record["seq"]})
            except Unavailable as exc:
                self.went_down(exc)
                return
            with self._queue_lock:
                self._backlog.popleft()
        if self.down:
            log.warning("runstone: the server at %s is back; everything queued was sent.", self.tracking_uri)
        self.down = None
        self._maybe_rotate()

    def _deliver(self, group: _Group, run_id: str, metrics: list[Metric], params: object, tags: object) -> None:
        try:
            self._send(run_id, metrics, params, tags, idempotency_key=f"{group.key}-{group.sent}")
        except Unavailable:
            raise
        except RunstoneError as exc:
            self._fail(run_id, exc, len(metrics))
        except Exception as exc:
            self._fail(run_id, RunstoneError(f"{type(exc).__name__}: {exc}"), len(metrics))

    def _do(self, item: _Op) -> None:
        assert self._apply_op is not None, "operations need apply_op"
        try:
            item.result = self._apply_op(item.record)
        except Unavailable:
            raise
        except RunstoneError as exc:
            message = f"runstone: {item.record['op']} of run {item.record.get('run_id')} failed: {exc.message}"
            log.error(message)
            with self._lock:
                self._errors.append(BatchError(message, {"run_id": item.record.get("run_id"), "code": exc.code}))

    def _ack(self, record: Mapping[str, object]) -> None:
        self._write(record)

    def went_down(self, exc: Unavailable) -> None:
        """The server cannot be reached: queue from now on (warned about once); the worker retries."""
        self.down = exc.message
        if not self._warned:
            self._warned = True
            where = self.journal.path if self.write_ahead and self.journal is not None else "memory"
            warnings.warn(
                f"runstone: the server at {self.tracking_uri} is unreachable ({exc.message}); logged data is "
                f"kept in {where} and sent when the server is back (or by `runstone sync`).",
                RuntimeWarning,
                stacklevel=4,
            )

    def _maybe_rotate(self) -> None:
        journal = self.journal
        if not self.write_ahead or journal is None or journal._fd is None:
            return
        with self._lock:
            if not self._pending and os.fstat(journal._fd).st_size > _ROTATE_BYTES:
                journal.rotate()

    def _fail(self, run_id: str, exc: RunstoneError, metric_count: int) -> None:
        message = f"runstone: a batch for run {run_id} ({metric_count} metric points) was not logged: {exc.message}"
        log.error(message)
        with self._lock:
            self._errors.append(BatchError(message, {"run_id": run_id, "code": exc.code}))

    # ------------------------------------------------------------- lifecycle
    @property
    def queued(self) -> int:
        """Groups and operations waiting for the server."""
        return len(self._backlog) + (1 if self._pending else 0)

    def flush(self) -> None:
        """Send everything buffered now (unless the server is known to be away: then the worker
        keeps trying); raise if any batch since the last flush was rejected."""
        self._drain()
        with self._lock:
            errors, self._errors = self._errors, []
        if errors:
            if len(errors) == 1:
                raise errors[0]
            raise BatchError(
                f"{len(errors)} batches were not logged; first: {errors[0].message}",
                {"errors": [e.message for e in errors]},
            )

    def close(self) -> None:
        """Flush and release the journal: removed when everything in it was sent, kept for the
        next process or `runstone sync` otherwise (a server known to be away is not waited for)."""
        try:
            self.flush()
        finally:
            self._closed = True
            self._wake.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join()  # it may be sending: its client is closed once this returns
            with self._send_lock, self._queue_lock:
                self._release()

    def _release(self) -> None:
        if self.journal is None:
            return
        if not self._backlog:
            self.journal.close(remove=True)
        elif not self.write_ahead:
            self._journal_backlog(self.journal)
        else:
            log.warning(
                "runstone: %d queued write(s) for %s are kept in %s for the next run or `runstone sync`.",
                len(self._backlog),
                self.tracking_uri,
                self.journal.path,
            )
            self.journal.close(remove=False)

    def _journal_backlog(self, journal: Journal) -> None:
        """Memory-only logging with the server away at exit: what is queued goes to a journal."""
        try:
            for item in self._backlog:
                if isinstance(item, _Group):
                    journal.write(*item.records, {"op": "send", "a": item.a, "b": item.b, "key": item.key})
                else:
                    journal.write(item.record)
            log.warning(
                "runstone: queued writes for %s are kept in %s for `runstone sync`.", self.tracking_uri, journal.path
            )
        except OSError as exc:
            log.error("runstone: %d queued write(s) were lost: cannot write the journal: %s", len(self._backlog), exc)
        finally:
            journal.close(remove=False)
