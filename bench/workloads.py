"""The workloads, each driven the same way against every target.

Data is generated from fixed seeds, so both servers hold exactly the same runs, and a search
must return the same run names, in the same order, from both.
"""

from __future__ import annotations

import multiprocessing
import queue
import random
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any, TypeVar

import httpx

from bench.servers import BenchError
from bench.targets import Point, Prepared, Target, post_prepared


@dataclass(frozen=True)
class Sizes:
    log_points: int = 100_000
    batch_size: int = 1_000
    search_runs: int = 5_000
    search_calls: int = 30
    history_calls: int = 3
    writers: int = 8
    points_per_writer: int = 20_000
    starts: int = 3


FULL = Sizes()
QUICK = Sizes(log_points=10_000, search_runs=300, search_calls=5, history_calls=1, points_per_writer=2_000, starts=1)

HISTORY_KEY = "loss"
SEARCH_FILTER = "metrics.m0 > 0.5 and params.optimizer = 'adam'"
SEARCH_ORDER = "metrics.m1 DESC"
SEARCH_LIMIT = 100
BASE_TIME_MS = 1_700_000_000_000
_OPTIMIZERS = ("adam", "sgd", "rmsprop", "adagrad")
_POPULATE_THREADS = 8

T = TypeVar("T")


def points(key: str, first_step: int, count: int) -> list[Point]:
    return [(key, 1.0 / (step + 1), BASE_TIME_MS + step, step) for step in range(first_step, first_step + count)]


def _batches(target: Target, run_id: str, key: str, total: int, size: int) -> list[Prepared]:
    return [target.batch(run_id, points(key, first, min(size, total - first))) for first in range(0, total, size)]


def log_batch(target: Target, experiment_id: str, sizes: Sizes) -> tuple[float, str]:
    """Points per second logged into one run; also returns that run, whose history is then read."""
    warm_up = target.create_run(experiment_id, "warm-up")
    for request in _batches(target, warm_up, "warm-up", 2 * sizes.batch_size, sizes.batch_size):
        target.send(request)
    run_id = target.create_run(experiment_id, "log-batch")
    requests = _batches(target, run_id, HISTORY_KEY, sizes.log_points, sizes.batch_size)
    started = time.perf_counter()
    for request in requests:
        target.send(request)
    return sizes.log_points / (time.perf_counter() - started), run_id


def history(target: Target, run_id: str, sizes: Sizes) -> float:
    """Median seconds to fetch the whole history written by :func:`log_batch`."""
    samples = []
    for call in range(sizes.history_calls + 1):
        started = time.perf_counter()
        count = target.history(run_id, HISTORY_KEY)
        elapsed = time.perf_counter() - started
        if count != sizes.log_points:
            raise BenchError(f"{target.name} returned {count} history points; {sizes.log_points} were logged.")
        if call:  # the first call warms up
            samples.append(elapsed)
    return statistics.median(samples)


def _retrying(action: Callable[[], T], attempts: int = 5) -> T:
    """Populating is not timed: ride out transient errors (such as a busy database)."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except (BenchError, httpx.TransportError):
            if attempt == attempts:
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def _search_run_data(index: int) -> tuple[dict[str, str], list[Point], dict[str, str]]:
    rng = random.Random(index)
    params = {"optimizer": rng.choice(_OPTIMIZERS)}
    params.update({f"p{j}": str(rng.randint(0, 9999)) for j in range(1, 10)})
    metrics = [(f"m{j}", rng.random(), BASE_TIME_MS + index, 0) for j in range(5)]
    tags = {"team": rng.choice(("vision", "nlp", "speech")), "dataset": f"d{rng.randint(1, 20)}", "stage": "sweep"}
    return params, metrics, tags


def populate_search(target: Target, experiment_id: str, sizes: Sizes) -> None:
    """Runs with 10 params, 5 metrics and 3 tags each, written through the API (not timed)."""

    def one(index: int) -> None:
        params, metrics, tags = _search_run_data(index)
        run_id = _retrying(lambda: target.create_run(experiment_id, f"run-{index:05d}"))
        request = target.batch(run_id, metrics, params, tags)
        _retrying(lambda: target.send(request))

    with ThreadPoolExecutor(_POPULATE_THREADS) as pool:
        list(pool.map(one, range(sizes.search_runs)))


def search(target: Target, experiment_id: str, sizes: Sizes) -> tuple[float, list[str]]:
    """Median seconds of the search, and the run names it returned."""
    names: list[str] = []
    for _ in range(3):
        names = target.search(experiment_id, SEARCH_FILTER, SEARCH_ORDER, SEARCH_LIMIT)
    expected = expected_search_names(sizes)
    if names != expected:
        raise BenchError(f"{target.name} search returned {names[:5]}...; expected {expected[:5]}...")
    samples = []
    for _ in range(sizes.search_calls):
        started = time.perf_counter()
        target.search(experiment_id, SEARCH_FILTER, SEARCH_ORDER, SEARCH_LIMIT)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), names


def expected_search_names(sizes: Sizes) -> list[str]:
    """What the search must return, computed from the generated data."""
    matching = []
    for index in range(sizes.search_runs):
        params, metrics, _ = _search_run_data(index)
        values = {key: value for key, value, _, _ in metrics}
        if values["m0"] > 0.5 and params["optimizer"] == "adam":
            matching.append((values["m1"], f"run-{index:05d}"))
    matching.sort(reverse=True)
    return [name for _, name in matching[:SEARCH_LIMIT]]


@dataclass(frozen=True)
class WriterReport:
    started: float
    finished: float
    ok_requests: int
    errors: int
    first_error: str


def _writer(url: str, requests: list[Prepared], barrier: Barrier, results: Queue[WriterReport]) -> None:
    ok = errors = 0
    first_error = ""
    with httpx.Client(base_url=url, timeout=600) as http:
        http.get("/health")  # connect before the clock starts
        barrier.wait()
        started = time.monotonic()
        for request in requests:
            try:
                response = post_prepared(http, request)
            except httpx.HTTPError as exc:
                errors += 1
                first_error = first_error or repr(exc)
                continue
            if response.status_code < 300:
                ok += 1
            else:
                errors += 1
                first_error = first_error or f"HTTP {response.status_code}: {response.text[:300]}"
        finished = time.monotonic()
    results.put(WriterReport(started, finished, ok, errors, first_error))


def run_processes(processes: list[Any], results: Any, *, join_seconds: float) -> list[Any]:
    """Start ``processes``, and gather one report each from the ``results`` queue; a process that
    dies without reporting fails the bench at once instead of leaving it waiting."""
    for process in processes:
        process.start()
    reports: list[Any] = []
    try:
        while len(reports) < len(processes):
            try:
                reports.append(results.get(timeout=1))
            except queue.Empty:
                crashed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
                if crashed:
                    raise BenchError(f"A writer process failed (exit status {crashed[0]}).") from None
    finally:
        for process in processes:
            process.join(timeout=join_seconds)
            if process.is_alive():
                process.terminate()
    return reports


def concurrent_writers(target: Target, experiment_id: str, sizes: Sizes) -> tuple[float, int, str]:
    """Points per second written by several processes at once (each to its own run), errors,
    and the first error seen."""
    runs = [target.create_run(experiment_id, f"writer-{w}") for w in range(sizes.writers)]
    work = [_batches(target, run, HISTORY_KEY, sizes.points_per_writer, sizes.batch_size) for run in runs]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(sizes.writers)
    results: Queue[WriterReport] = context.Queue()
    processes = [context.Process(target=_writer, args=(target.url, w, barrier, results)) for w in work]
    reports: list[WriterReport] = run_processes(processes, results, join_seconds=30)
    span = max(r.finished for r in reports) - min(r.started for r in reports)
    written = sum(r.ok_requests for r in reports) * sizes.batch_size
    errors = sum(r.errors for r in reports)
    first_error = next((r.first_error for r in reports if r.first_error), "")
    return written / span, errors, first_error
