"""Prometheus metrics of a scoring server, by model version, in the text exposition format.

    runstone_serving_requests_total{model, version, status}     answered prediction requests
    runstone_serving_errors_total{model, version, kind}          input (4xx) and model (5xx) errors
    runstone_serving_rows_total{model, version}                  rows scored
    runstone_serving_latency_seconds{model, version}             histogram of request latency
    runstone_serving_model_calls_total{model, version}           model calls (fewer than requests
                                                                 when micro-batching combines them)
    runstone_serving_shadow_total{model, version, outcome}       shadow predictions (ok, error, dropped)
    runstone_serving_prediction_log_records_total{outcome}       prediction log records (written, dropped)
    runstone_serving_model_info{role, model, version, uri}       1 for each live model

Counters are plain integers updated from the server's event loop and its helper threads. With
several worker processes (``--workers N``) any worker may answer a scrape, so each one also
writes its counts to a folder the workers of the server share (every second, and when it is
scraped), and a scrape adds up every worker's counts: counters only grow, whichever worker
answers. A worker that stopped stays in the sums; its live models drop out of
``runstone_serving_model_info`` once its file is no longer refreshed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Bucket bounds in seconds: fine below a millisecond, where single-row requests answer.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[tuple[str, str], ...]
Live = tuple[str, str, str, str]  # role, model, version, uri

log = logging.getLogger("runstone.serving")

# name, attribute of Metrics, help
COUNTERS = (
    ("runstone_serving_requests_total", "requests", "Prediction requests answered."),
    ("runstone_serving_errors_total", "errors", "Prediction requests that failed."),
    ("runstone_serving_rows_total", "rows", "Rows scored."),
    ("runstone_serving_model_calls_total", "calls", "Calls of the model's predict."),
    ("runstone_serving_shadow_total", "shadow", "Shadow predictions by outcome."),
    ("runstone_serving_prediction_log_records_total", "log_records", "Prediction log records."),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Histogram:
    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.count = 0
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
                break


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[Labels, int] = defaultdict(int)
        self.errors: dict[Labels, int] = defaultdict(int)
        self.rows: dict[Labels, int] = defaultdict(int)
        self.calls: dict[Labels, int] = defaultdict(int)
        self.shadow: dict[Labels, int] = defaultdict(int)
        self.log_records: dict[Labels, int] = defaultdict(int)
        self.latency: dict[Labels, Histogram] = defaultdict(Histogram)
        # Returns (role, model, version, uri) of each live model, read at scrape time.
        self.live: Callable[[], Iterable[tuple[str, str, str, str]]] = lambda: ()

    @staticmethod
    def key(model: str, version: str) -> Labels:
        return (("model", model), ("version", version))

    def request(self, key: Labels, status: int, seconds: float, rows: int) -> None:
        self.requests[(*key, ("status", str(status)))] += 1
        self.latency[key].observe(seconds)
        if status < 300:
            self.rows[key] += rows

    def error(self, key: Labels, kind: str) -> None:
        self.errors[(*key, ("kind", kind))] += 1

    def model_call(self, key: Labels) -> None:
        self.calls[key] += 1

    def shadow_outcome(self, key: Labels, outcome: str) -> None:
        with self._lock:  # written from the shadow thread and the event loop
            self.shadow[(*key, ("outcome", outcome))] += 1

    def log_record(self, outcome: str) -> None:
        with self._lock:
            self.log_records[(("outcome", outcome),)] += 1

    def snapshot(self) -> Snapshot:
        """A copy of the counts (each dict is copied whole, which the GIL makes atomic)."""
        return Snapshot(
            {attr: dict(getattr(self, attr)) for _, attr, _ in COUNTERS},
            {labels: (list(h.counts), h.count, h.total) for labels, h in dict(self.latency).items()},
            set(self.live()),
        )

    def render(self) -> str:
        return render(self.snapshot())


@dataclass
class Snapshot:
    counters: dict[str, dict[Labels, int]] = field(default_factory=dict)
    latency: dict[Labels, tuple[list[int], int, float]] = field(default_factory=dict)
    live: set[Live] = field(default_factory=set)

    def add(self, other: Snapshot) -> None:
        for attr, values in other.counters.items():
            mine = self.counters.setdefault(attr, {})
            for labels, value in values.items():
                mine[labels] = mine.get(labels, 0) + value
        for labels, (counts, count, total) in other.latency.items():
            have = self.latency.get(labels)
            if have is None:
                self.latency[labels] = (list(counts), count, total)
            else:
                summed = [a + b for a, b in zip(have[0], counts, strict=True)]
                self.latency[labels] = (summed, have[1] + count, have[2] + total)
        self.live |= other.live

    def to_json(self) -> str:
        return json.dumps(
            {
                "counters": {a: [[list(k), v] for k, v in values.items()] for a, values in self.counters.items()},
                "latency": [[list(k), counts, count, total] for k, (counts, count, total) in self.latency.items()],
                "live": sorted(self.live),
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Snapshot:
        data = json.loads(text)

        def labels(pairs: Any) -> Labels:
            return tuple((str(k), str(v)) for k, v in pairs)

        return cls(
            {a: {labels(k): int(v) for k, v in values} for a, values in data["counters"].items()},
            {
                labels(k): ([int(c) for c in counts], int(count), float(total))
                for k, counts, count, total in data["latency"]
            },
            {(str(r), str(m), str(v), str(u)) for r, m, v, u in data["live"]},
        )


def render(snapshot: Snapshot) -> str:
    out: list[str] = []
    for name, attr, help_text in COUNTERS:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} counter")
        for labels, value in sorted(snapshot.counters.get(attr, {}).items()):
            out.append(f"{name}{_labels(labels)} {value}")
    name = "runstone_serving_latency_seconds"
    out.append(f"# HELP {name} Latency of prediction requests, from body received to response ready.")
    out.append(f"# TYPE {name} histogram")
    for labels, (counts, count, total) in sorted(snapshot.latency.items()):
        cumulative = 0
        for bound, n in zip(BUCKETS, counts, strict=True):
            cumulative += n
            le = 'le="' + str(bound) + '"'
            out.append(f"{name}_bucket{_labels(labels, le)} {cumulative}")
        inf = 'le="+Inf"'
        out.append(f"{name}_bucket{_labels(labels, inf)} {count}")
        out.append(f"{name}_sum{_labels(labels)} {total}")
        out.append(f"{name}_count{_labels(labels)} {count}")
    name = "runstone_serving_model_info"
    out.append(f"# HELP {name} The models being served (1 per live model).")
    out.append(f"# TYPE {name} gauge")
    for role, model, version, uri in sorted(snapshot.live):
        labels = (("role", role), ("model", model), ("version", version), ("uri", uri))
        out.append(f"{name}{_labels(labels)} 1")
    return "\n".join(out) + "\n"


class SharedMetrics:
    """One worker's counts in a folder shared by the workers of a server, and their sum."""

    def __init__(
        self,
        metrics: Metrics,
        folder: Path,
        *,
        worker: str | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.folder = folder
        self.path = folder / f"worker-{worker or os.getpid()}.json"
        self.interval = interval
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self, snapshot: Snapshot) -> None:
        staged = self.path.with_name(self.path.name + ".tmp")
        staged.write_text(snapshot.to_json())
        os.replace(staged, self.path)  # readers see the old file or the new one, never half of one

    def publish(self) -> None:
        try:
            self._write(self.metrics.snapshot())
        except OSError as exc:
            log.warning("metrics of worker %s not shared: %s", os.getpid(), exc)

    def collect(self) -> Snapshot:
        """Every worker's counts added up (this worker's as of now)."""
        own = self.metrics.snapshot()
        try:
            self._write(own)
        except OSError as exc:
            log.warning("metrics of worker %s not shared: %s", os.getpid(), exc)
        total = Snapshot()
        stale = self.clock() - 3 * self.interval
        for file in sorted(self.folder.glob("worker-*.json")):
            if file == self.path:
                continue
            try:
                modified = file.stat().st_mtime
                other = Snapshot.from_json(file.read_text())
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a worker that is gone, or a file from another runstone version
            if modified < stale:
                other.live = set()  # that worker stopped refreshing: its models are not live
            total.add(other)
        total.add(own)
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.publish()

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.publish()
        self._thread = threading.Thread(target=self._run, name="runstone-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.publish()
