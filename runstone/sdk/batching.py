"""Background batching: logging calls return at once; a worker thread sends batches.

Batches go out every ``interval`` seconds, when enough points are waiting, on ``flush()``,
at the end of a run and at exit. A batch the server rejects is reported by the next
``flush()`` (and warned about at once); a batch that cannot reach the server is written to
the offline journal for ``runstone sync``. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
import threading
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runstone import limits
from runstone.entities import Metric
from runstone.errors import RunstoneError, Unavailable
from runstone.sdk.journal import Journal

log = logging.getLogger("runstone.sdk")

MAX_METRICS = limits.SDK_MAX_METRICS_PER_REQUEST
MAX_PARAMS = limits.SDK_MAX_PARAMS_PER_REQUEST
MAX_TAGS = limits.SDK_MAX_TAGS_PER_REQUEST
_SOON = 5000  # pending points that wake the worker before its interval is up


@dataclass
class _Pending:
    metrics: list[Metric] = field(default_factory=list)
    params: list[tuple[str, str]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)


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
    ) -> None:
        self._send = send
        self.tracking_uri = tracking_uri
        self.interval = interval
        self.journal = journal
        self._pending: dict[str, _Pending] = {}
        self._size = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._send_lock = threading.Lock()
        self._errors: list[RunstoneError] = []
        self._journaled = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(
        self,
        run_id: str,
        *,
        metrics: list[Metric] | None = None,
        params: list[tuple[str, str]] | None = None,
        tags: list[tuple[str, str]] | None = None,
    ) -> None:
        with self._lock:
            pending = self._pending.setdefault(run_id, _Pending())
            if metrics:
                pending.metrics.extend(metrics)
                self._size += len(metrics)
            if params:
                pending.params.extend(params)
                self._size += len(params)
            if tags:
                pending.tags.extend(tags)
                self._size += len(tags)
            size = self._size
        self._ensure_thread()
        if size >= _SOON:
            self._wake.set()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="runstone-batcher", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # the worker must survive anything; errors are kept by _drain
                log.exception("runstone: background flush failed")

    def _take(self) -> dict[str, _Pending]:
        with self._lock:
            taken, self._pending, self._size = self._pending, {}, 0
        return taken

    def _drain(self) -> None:
        with self._send_lock:
            first_journaled: str | None = None
            for run_id, pending in self._take().items():
                for metrics, params, tags in _chunks(pending):
                    # Every taken batch is delivered, journaled or recorded as failed before
                    # anything can raise, so an error in one batch never loses the others.
                    notice = self._deliver(run_id, metrics, params, tags)
                    first_journaled = first_journaled or notice
        if first_journaled:
            warnings.warn(first_journaled, RuntimeWarning, stacklevel=3)

    def _deliver(
        self, run_id: str, metrics: list[Metric], params: list[tuple[str, str]], tags: list[tuple[str, str]]
    ) -> str | None:
        """Send one batch; returns a warning to show when this is the first batch journaled."""
        key = uuid.uuid4().hex
        try:
            self._send(run_id, metrics, params, tags, idempotency_key=key)
        except Unavailable as exc:
            if self.journal is None:
                self._fail(run_id, exc, len(metrics))
                return None
            try:
                path = self.journal.log_batch(self.tracking_uri, run_id, metrics, params, tags, key)
            except OSError as disk:
                self._fail(run_id, Unavailable(f"{exc.message}; journaling it failed too: {disk}"), len(metrics))
                return None
            self._journaled += 1
            if self._journaled == 1:
                return (
                    f"runstone: the server at {self.tracking_uri} is unreachable ({exc.message}); logged data is "
                    f"kept in {path} and will be sent by `runstone sync`."
                )
        except RunstoneError as exc:
            self._fail(run_id, exc, len(metrics))
        except Exception as exc:
            self._fail(run_id, RunstoneError(f"{type(exc).__name__}: {exc}"), len(metrics))
        return None

    def _fail(self, run_id: str, exc: RunstoneError, metric_count: int) -> None:
        message = f"runstone: a batch for run {run_id} ({metric_count} metric points) was not logged: {exc.message}"
        log.error(message)
        with self._lock:
            self._errors.append(BatchError(message, {"run_id": run_id, "code": exc.code}))

    def flush(self) -> None:
        """Send everything buffered now; raise if any batch since the last flush failed."""
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
        try:
            self.flush()
        finally:
            self._closed = True
            self._wake.set()


def _chunks(p: _Pending) -> Any:
    """Split a run's pending data into batches within the server's limits, params first."""
    metrics, params, tags = p.metrics, p.params, p.tags
    while metrics or params or tags:
        yield metrics[:MAX_METRICS], params[:MAX_PARAMS], tags[:MAX_TAGS]
        metrics, params, tags = metrics[MAX_METRICS:], params[MAX_PARAMS:], tags[MAX_TAGS:]
