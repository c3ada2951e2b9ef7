"""Prometheus metrics of runstone's servers (tracking and scoring), through prometheus_client.

One process: an app's metrics live in a registry of its own, so several apps in one process (as
in tests) never share counts. Several worker processes (``--workers N``): the parent points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the workers start (:func:`shared_folder`),
each worker's prometheus_client keeps its values in files there, and a scrape, whichever worker
answers it, adds up every worker's values. Counters and histograms of a worker that stopped stay
in the sums, so counters only grow; a gauge counts only the workers that are still running (a
worker drops its gauges when it stops).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST


def _multiprocess_folder() -> str | None:
    return os.environ.get(ENV) or None


class Exporter:
    """The metrics of one app, and their text exposition."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        # prometheus_client chose where values live when it was imported: in files when the
        # variable was set then (a worker process), in memory otherwise.
        self.folder = _multiprocess_folder()

    def counter(self, name: str, documentation: str, labels: Sequence[str]) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def histogram(self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]) -> Histogram:
        return Histogram(name, documentation, labels, registry=self.registry, buckets=buckets)

    def gauge(self, name: str, documentation: str, labels: Sequence[str]) -> Gauge:
        # "livemax": across workers, the largest value among the workers still running.
        return Gauge(name, documentation, labels, registry=self.registry, multiprocess_mode="livemax")

    def render(self) -> bytes:
        if self.folder is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        everyone = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(everyone, path=self.folder)
        return generate_latest(everyone)

    def worker_stopped(self) -> None:
        """Drop this worker's gauges from the shared sums (its counters stay counted)."""
        if self.folder is not None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), path=self.folder)


@contextmanager
def shared_folder() -> Iterator[str]:
    """A folder the worker processes started inside this block share their metrics through."""
    folder = tempfile.mkdtemp(prefix="runstone-metrics-")
    previous = os.environ.get(ENV)
    os.environ[ENV] = folder
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)


def quiet_created_series() -> None:
    """Leave out the ``*_created`` series prometheus_client adds to every counter and histogram
    (a server process calls this once; scrapes stay as small as before)."""
    from prometheus_client import disable_created_metrics

    disable_created_metrics()
