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

Counters are plain integers updated from the server's event loop and its helper threads; with
several worker processes each keeps its own (a scrape sees one worker's view).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable

# Bucket bounds in seconds: fine below a millisecond, where single-row requests answer.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[tuple[str, str], ...]


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

    def render(self) -> str:
        out: list[str] = []

        def counter(name: str, help_text: str, values: dict[Labels, int]) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} counter")
            for labels, value in sorted(dict(values).items()):
                out.append(f"{name}{_labels(labels)} {value}")

        counter("runstone_serving_requests_total", "Prediction requests answered.", self.requests)
        counter("runstone_serving_errors_total", "Prediction requests that failed.", self.errors)
        counter("runstone_serving_rows_total", "Rows scored.", self.rows)
        counter("runstone_serving_model_calls_total", "Calls of the model's predict.", self.calls)
        counter("runstone_serving_shadow_total", "Shadow predictions by outcome.", self.shadow)
        counter("runstone_serving_prediction_log_records_total", "Prediction log records.", self.log_records)
        name = "runstone_serving_latency_seconds"
        out.append(f"# HELP {name} Latency of prediction requests, from body received to response ready.")
        out.append(f"# TYPE {name} histogram")
        for labels, hist in sorted(dict(self.latency).items()):
            cumulative = 0
            for bound, count in zip(BUCKETS, list(hist.counts), strict=True):
                cumulative += count
                le = 'le="' + str(bound) + '"'
                out.append(f"{name}_bucket{_labels(labels, le)} {cumulative}")
            inf = 'le="+Inf"'
            out.append(f"{name}_bucket{_labels(labels, inf)} {hist.count}")
            out.append(f"{name}_sum{_labels(labels)} {hist.total}")
            out.append(f"{name}_count{_labels(labels)} {hist.count}")
        name = "runstone_serving_model_info"
        out.append(f"# HELP {name} The models being served (1 per live model).")
        out.append(f"# TYPE {name} gauge")
        for role, model, version, uri in self.live():
            labels = (("role", role), ("model", model), ("version", version), ("uri", uri))
            out.append(f"{name}{_labels(labels)} 1")
        return "\n".join(out) + "\n"
