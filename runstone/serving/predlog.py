"""Prediction logs: what each (sampled) request asked, what the model answered, and which
version answered, for monitoring to read later.

The request path only draws a random number and appends a record to a bounded deque; every
50 ms the server's event loop serializes what gathered and writes it, a few hundred records at a
time between requests (a background thread does where no event loop runs). Completed files are
delivered by a thread of their own, so an upload never holds up the loop. When the deque is
full the record is dropped and counted
(``runstone_serving_prediction_log_records_total{outcome="dropped"}``): logging never slows or
blocks a response.

Records are JSON lines in files that are rotated by size and age. A file is written as
``predictions-<UTC time>-<pid>-<n>.jsonl.open`` and renamed to ``.jsonl`` once complete, so a
reader takes ``*.jsonl`` files only and never sees half a file. The destination is a folder, or
``runs:/<run_id>/<path>``: completed files are uploaded as artifacts of that run on the
tracking server (under ``<path>/``) and removed locally. One record (see docs/serving.md):

    {"request_id": "3f2a...", "timestamp": 1764140000123, "model_uri": "models:/fraud@champion",
     "model_name": "fraud", "model_version": "4", "role": "primary", "status": 200,
     "latency_ms": 0.84, "inputs": {"columns": ["amount", "items"], "data": [[12.5, 3]]},
     "params": null, "outputs": [0], "error": null}
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput
from runstone.serving.payloads import dumps, jsonable

log = logging.getLogger("runstone.serving")

SUFFIX = ".jsonl"
OPEN_SUFFIX = ".jsonl.open"


@dataclass
class Entry:
    """What the request path hands over; turned into JSON by the writer thread."""

    request_id: str
    timestamp: int
    model_uri: str
    model_name: str
    model_version: str
    role: str
    status: int
    latency_ms: float
    inputs: Any
    params: Any
    outputs: Any
    error: str | None = None


def inputs_json(data: Any) -> Any:
    """Model input as JSON: a table in pandas' split orientation, tensors as nested lists."""
    if hasattr(data, "frame") and hasattr(data, "array"):  # a payloads.Block
        return {"columns": list(data.columns), "data": data.array.tolist()}
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        columns = [str(c) for c in data.columns]
        values = jsonable(data)
        return {"columns": columns, "data": [[row.get(c) for c in columns] for row in values]}
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    return _plain(data)


def _plain(value: object) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def encode(entry: Entry) -> bytes:
    record = {
        "request_id": entry.request_id,
        "timestamp": entry.timestamp,
        "model_uri": entry.model_uri,
        "model_name": entry.model_name,
        "model_version": entry.model_version,
        "role": entry.role,
        "status": entry.status,
        "latency_ms": round(entry.latency_ms, 3),
        "inputs": inputs_json(entry.inputs),
        "params": entry.params,
        "outputs": jsonable(entry.outputs) if entry.outputs is not None else None,
        "error": entry.error,
    }
    return dumps(record) + b"\n"


class RotatingFiles:
    """JSON-lines files in a folder, rotated by size and age, renamed when complete."""

    def __init__(
        self,
        folder: Path,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        max_seconds: float = 300.0,
        on_complete: Callable[[Path], None] = lambda path: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.on_complete = on_complete
        # How a completed file reaches deliver(): at once, or handed to another thread.
        self.hand_over: Callable[[Path], object] = self.deliver
        self.clock = clock
        self._file: Any = None
        self._path: Path | None = None
        self._opened = 0.0
        self._size = 0
        self._seq = 0
        # The writer thread writes and ticks; a caller may tick, flush or rotate as well.
        self._lock = threading.RLock()
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, line: bytes) -> None:
        with self._lock:
            if self._file is None:
                self._open()
            self._file.write(line)
            self._size += len(line)
            if self._size >= self.max_bytes:
                self.rotate()

    def tick(self) -> None:
        """Close the current file when it is old enough (called when the queue is idle)."""
        with self._lock:
            if self._file is not None and self.clock() - self._opened >= self.max_seconds:
                self.rotate()

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def _open(self) -> None:
        self._seq += 1
        now = self.clock()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        self._path = self.folder / f"predictions-{stamp}-{os.getpid()}-{self._seq:05d}{OPEN_SUFFIX}"
        self._file = open(self._path, "ab")  # noqa: SIM115 - held open across writes, closed on rotate
        self._opened = now
        self._size = 0

    def rotate(self) -> None:
        with self._lock:
            if self._file is None or self._path is None:
                return
            self._file.close()
            done = self._path.with_name(self._path.name.removesuffix(OPEN_SUFFIX) + SUFFIX)
            os.replace(self._path, done)
            self._file, self._path = None, None
        self.hand_over(done)

    def deliver(self, done: Path) -> None:
        """Hand a completed file to ``on_complete`` (an upload, for runs:/ destinations)."""
        try:
            self.on_complete(done)
        except Exception as exc:  # an upload that failed leaves the file in the spool folder
            log.warning("prediction log file %s could not be delivered: %s", done, exc)


class PredictionLogger:
    """Samples and holds prediction records, and writes them in batches.

    The request path appends to a bounded deque and never wakes anything: waking a thread per
    request cost the serving process about 0.3 ms of CPU per request (context switches and a
    hand-over of the interpreter lock each time). Started inside a running event loop (the
    scoring server's), the loop itself writes what gathered every ``interval`` seconds, in slices
    of ``SLICE`` records between requests: a writer thread, even one woken only every
    ``interval``, took the interpreter lock from the loop often enough to cost about four times
    the records' own encoding. Started elsewhere, a writer thread does the same work.
    """

    SLICE = 200

    def __init__(
        self,
        files: RotatingFiles,
        *,
        sample: float = 1.0,
        capacity: int = 10_000,
        seed: int | None = None,
        interval: float = 0.05,
        on_record: Callable[[str, int], None] = lambda outcome, count: None,
    ) -> None:
        if not 0 <= sample <= 1:
            raise InvalidInput(f"The prediction log sample must be between 0 and 1; got {sample}.")
        self.files = files
        self.sample = sample
        self.capacity = capacity
        self.interval = interval
        self.on_record = on_record
        self._rng = random.Random(seed)
        self._pending: collections.deque[Entry] = collections.deque()
        self._wake = threading.Event()
        self._handled = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="runstone-prediction-log", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._delivery: concurrent.futures.ThreadPoolExecutor | None = None
        self._started = False
        self.submitted = 0
        self.dropped = 0
        self.written = 0
        self.failed = 0

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._thread.start()
            return
        # Completed files go out (an upload, for runs:/ destinations) on a thread of their own.
        delivery = self._delivery = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="runstone-prediction-log"
        )
        self.files.hand_over = lambda done: delivery.submit(self.files.deliver, done)
        self._timer = self._loop.call_later(self.interval, self._on_loop)

    def sampled(self) -> bool:
        return self.sample >= 1.0 or (self.sample > 0 and self._rng.random() < self.sample)

    def submit(self, entry: Entry) -> None:
        """Hold a record for the writer; drop it (and count) when ``capacity`` are waiting. Never
        blocks. The callers are the event loop and the shadow thread, so the bound can be passed by
        at most one record per concurrent caller."""
        if len(self._pending) >= self.capacity:
            self.dropped += 1
            self.on_record("dropped", 1)
            return
        self._pending.append(entry)
        self.submitted += 1

    def _on_loop(self) -> None:
        assert self._loop is not None
        if self._stopping:
            return
        if self._drain(self.SLICE):  # more are waiting: go on after the requests in between
            self._timer = self._loop.call_later(0, self._on_loop)
            return
        self.files.tick()
        self._timer = self._loop.call_later(self.interval, self._on_loop)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            stopping = self._stopping
            self._drain()
            if stopping:
                self.files.rotate()
                return
            self.files.tick()

    def _drain(self, limit: int | None = None) -> bool:
        """Write the waiting records (at most ``limit``); whether some are left."""
        written = failed = 0
        pending = self._pending
        while pending and (limit is None or written + failed < limit):
            entry = pending.popleft()
            try:
                self.files.write(encode(entry))
                written += 1
            except Exception as exc:
                log.warning("prediction log record %s not written: %s", entry.request_id, exc)
                failed += 1
        if written:
            self.files.flush()
        for outcome, count in (("written", written), ("failed", failed)):
            if count:
                self.on_record(outcome, count)
        with self._handled:
            self.written += written
            self.failed += failed
            self._handled.notify_all()
        return bool(pending)

    def _in_loop(self) -> bool:
        if self._loop is None:
            return False
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def flush(self) -> None:
        """Wait until every record submitted so far is written (for tests and shutdown)."""
        if not self._started or self._in_loop():
            self._drain()
            return
        target = self.submitted
        with self._handled:
            while self.written + self.failed < target:
                if self._loop is not None:
                    self._loop.call_soon_threadsafe(self._drain)
                else:
                    self._wake.set()
                self._handled.wait(1.0)

    def close(self) -> None:
        if not self._started:
            self.files.rotate()
            return
        self._stopping = True
        if self._loop is None:
            self._wake.set()
            self._thread.join(timeout=30)
            return
        if self._timer is not None:
            self._timer.cancel()
        self._drain()
        self.files.rotate()
        if self._delivery is not None:
            self._delivery.shutdown(wait=True)


def open_logger(
    destination: str, *, sample: float = 1.0, capacity: int = 10_000, client: Any = None, **rotation: Any
) -> PredictionLogger:
    """A logger writing to a folder, or to ``runs:/<run_id>/<path>`` artifacts on the tracking server."""
    if destination.startswith("runs:/"):
        import tempfile

        from runstone.models.uri import parse_runs_uri

        run_id, path = parse_runs_uri(destination)
        artifact_path = path or "predictions"
        if client is None:
            from runstone.models.runs import default_client

            client = default_client()
        client.get_run(run_id)  # fail at start, not at the first upload, when the run is unknown

        def upload(file: Path) -> None:
            client.log_artifact(run_id, file, artifact_path)
            file.unlink()

        spool = Path(tempfile.mkdtemp(prefix="runstone-predictions-"))
        files = RotatingFiles(spool, on_complete=upload, **rotation)
    elif "://" in destination or destination.startswith(("models:/", "runs:")):
        raise InvalidInput(
            f"Prediction logs go to a folder or to runs:/<run_id>/<path> on the tracking server; got {destination!r}."
        )
    else:
        files = RotatingFiles(Path(destination).expanduser(), **rotation)
    return PredictionLogger(files, sample=sample, capacity=capacity)
