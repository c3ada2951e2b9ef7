"""Prometheus metrics of a scoring server, by model version, in the text exposition format.

    runstone_serving_requests_total{model, version, status}     answered prediction requests
    runstone_serving_errors_total{model, version, kind}          input (4xx) and model (5xx) errors
    runstone_serving_rows_total{model, version}                  rows scored
    runstone_serving_latency_seconds{model, version}             histogram of request latency
    runstone_serving_model_calls_total{model, version}           model calls (fewer than requests
                                                                 when micro-batching combines them)
    runstone_serving_shadow_total{model, version, outcome}       shadow predictions (ok, error, dropped)
    runstone_serving_prediction_log_records_total{outcome}       prediction log records (written, dropped)
    runstone_serving_model_info{role, model, version, uri}       1 for each live model, 0 for one
                                                                 it served before a swap

With several worker processes (``--workers N``) any worker may answer a scrape, and it answers
with every worker's counts added up (runstone.prometheus); a worker that stopped drops out of
``runstone_serving_model_info`` but its counts stay in the sums, so counters only grow.
"""

from __future__ import annotations

from collections.abc import Iterable

from runstone.prometheus import Exporter

# Bucket bounds in seconds: fine below a millisecond, where single-row requests answer.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Key = tuple[str, str]  # model, version
Live = tuple[str, str, str, str]  # role, model, version, uri


class Metrics:
    """The scoring server's metrics; safe to update from the event loop and helper threads."""

    def __init__(self, exporter: Exporter | None = None) -> None:
        e = self.exporter = exporter or Exporter()
        mv = ("model", "version")
        self._requests = e.counter("runstone_serving_requests", "Prediction requests answered.", (*mv, "status"))
        self._errors = e.counter("runstone_serving_errors", "Prediction requests that failed.", (*mv, "kind"))
        self._rows = e.counter("runstone_serving_rows", "Rows scored.", mv)
        self._calls = e.counter("runstone_serving_model_calls", "Calls of the model's predict.", mv)
        self._shadow = e.counter("runstone_serving_shadow", "Shadow predictions by outcome.", (*mv, "outcome"))
        self._log_records = e.counter(
            "runstone_serving_prediction_log_records", "Prediction log records.", ("outcome",)
        )
        self._latency = e.histogram(
            "runstone_serving_latency_seconds",
            "Latency of prediction requests, from body received to response ready.",
            mv,
            BUCKETS,
        )
        self._info = e.gauge(
            "runstone_serving_model_info",
            "The models being served (1 per live model).",
            ("role", "model", "version", "uri"),
        )
        self._shown: set[Live] = set()

    @staticmethod
    def key(model: str, version: str) -> Key:
        return (model, version)

    def request(self, key: Key, status: int, seconds: float, rows: int) -> None:
        self._requests.labels(*key, str(status)).inc()
        self._latency.labels(*key).observe(seconds)
        if status < 300:
            self._rows.labels(*key).inc(rows)

    def error(self, key: Key, kind: str) -> None:
        self._errors.labels(*key, kind).inc()

    def model_call(self, key: Key) -> None:
        self._calls.labels(*key).inc()

    def shadow_outcome(self, key: Key, outcome: str) -> None:
        self._shadow.labels(*key, outcome).inc()

    def log_record(self, outcome: str, count: int = 1) -> None:
        self._log_records.labels(outcome).inc(count)

    def show_live(self, live: Iterable[Live]) -> None:
        """Mark the models this process serves now: 1 for each, 0 for those it stopped serving."""
        now = set(live)
        for gone in self._shown - now:
            self._info.labels(*gone).set(0)
        for model in now:
            self._info.labels(*model).set(1)
        self._shown = now

    def render(self) -> bytes:
        return self.exporter.render()

    def stopped(self) -> None:
        self.exporter.worker_stopped()
