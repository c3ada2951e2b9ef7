"""runstone and MLflow driven by the same code: the stock ``mlflow`` client.

    python -m bench.mlflow_client [--mlflow-venv bench/.venv-mlflow] [--quick]

Where ``bash bench/run`` drives each server through its own REST API, this bench points one
``mlflow.MlflowClient`` at each server and runs the same tracking workloads (log-batch
throughput, search, metric history) through both, taking turns request by request: what a team
that keeps its ``mlflow.*`` training code sees after switching. The data and sizes are the main bench's
(bench/workloads.py). It writes the "Through the stock mlflow client" section of
docs/performance.md (unless --quick), leaving the other sections as they are.

The client runs in this process (mlflow must be installed here: it is in runstone's ``test``
extra); the MLflow server runs from --mlflow-venv (default: bench/.venv-mlflow when ``bash
bench/run`` made it, else this environment).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import suite, workloads
from bench.servers import BenchError

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Through the stock mlflow client"
HEADER = """# Performance

runstone is measured against MLflow on the same machine, in the same run, on the same
workloads. Each section below is written by the command it names; rerun that command rather
than editing the numbers.
"""


@dataclass
class Measured:
    log_points_per_s: float = 0.0
    search_s: float = 0.0
    history_s: float = 0.0


def _client(url: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=url)


def _metrics(key: str, first: int, count: int) -> list[Any]:
    from mlflow.entities import Metric

    return [Metric(k, v, t, s) for k, v, t, s in workloads.points(key, first, count)]


class Driven:
    """One server and the stock client pointed at it."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.client = _client(url)
        self.result = Measured()
        self.log_seconds = 0.0
        self.history_samples: list[float] = []
        self.search_samples: list[float] = []
        experiment = self.client.create_experiment("client-bench")
        self.run_id = self.client.create_run(experiment, run_name="log-batch").info.run_id
        self.searched = self.client.create_experiment("client-search")

    def log_batch(self, batch: list[Any]) -> None:
        started = time.perf_counter()
        self.client.log_batch(self.run_id, metrics=batch)
        self.log_seconds += time.perf_counter() - started

    def history(self, sizes: workloads.Sizes) -> float:
        started = time.perf_counter()
        history = self.client.get_metric_history(self.run_id, workloads.HISTORY_KEY)
        elapsed = time.perf_counter() - started
        if len(history) != sizes.log_points:
            raise BenchError(f"{self.name} returned {len(history)} history points; {sizes.log_points} were logged.")
        return elapsed

    def populate(self, sizes: workloads.Sizes) -> None:
        from mlflow.entities import Metric, Param, RunTag

        def one(index: int) -> None:
            params, points, tags = workloads._search_run_data(index)
            run = self.client.create_run(self.searched, run_name=f"run-{index:05d}").info.run_id
            self.client.log_batch(
                run,
                metrics=[Metric(k, v, t, s) for k, v, t, s in points],
                params=[Param(k, v) for k, v in params.items()],
                tags=[RunTag(k, v) for k, v in tags.items()],
            )

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(sizes.search_runs)))

    def search(self) -> tuple[float, list[str]]:
        started = time.perf_counter()
        runs = self.client.search_runs(
            [self.searched],
            workloads.SEARCH_FILTER,
            max_results=workloads.SEARCH_LIMIT,
            order_by=[workloads.SEARCH_ORDER],
        )
        return time.perf_counter() - started, [r.info.run_name for r in runs]


def drive(servers: dict[str, str], sizes: workloads.Sizes, log: Callable[[str], None]) -> dict[str, Measured]:
    """The three workloads against both servers, taking turns request by request, so that other
    work on the machine weighs on both alike."""
    driven = [Driven(name, url) for name, url in servers.items()]
    for first in range(0, 2 * sizes.batch_size, sizes.batch_size):  # warm-up
        for d in driven:
            d.client.log_batch(d.run_id, metrics=_metrics("warm-up", first, sizes.batch_size))
    for first in range(0, sizes.log_points, sizes.batch_size):
        batch = _metrics(workloads.HISTORY_KEY, first, min(sizes.batch_size, sizes.log_points - first))
        for d in driven:
            d.log_batch(batch)
    for d in driven:
        d.result.log_points_per_s = sizes.log_points / d.log_seconds
        log(f"{d.name}: log_batch {d.result.log_points_per_s:,.0f} points/s")

    for call in range(sizes.history_calls + 1):
        for d in driven:
            elapsed = d.history(sizes)
            if call:  # the first call warms up
                d.history_samples.append(elapsed)
    for d in driven:
        d.result.history_s = statistics.median(d.history_samples)
        log(f"{d.name}: get_metric_history of {sizes.log_points:,} steps in {d.result.history_s * 1000:,.0f} ms")

    for d in driven:
        began = time.perf_counter()
        d.populate(sizes)
        log(f"{d.name}: populated {sizes.search_runs:,} runs in {time.perf_counter() - began:.0f} s (not timed)")
    expected = workloads.expected_search_names(sizes)
    for call in range(sizes.search_calls + 3):
        for d in driven:
            elapsed, names = d.search()
            if names != expected:
                raise BenchError(f"{d.name} search returned {names[:5]}...; expected other runs.")
            if call >= 3:  # three warm-up calls
                d.search_samples.append(elapsed)
    for d in driven:
        d.result.search_s = statistics.median(d.search_samples)
        log(f"{d.name}: search_runs median {d.result.search_s * 1000:,.1f} ms")
    return {d.name: d.result for d in driven}


def _machine(mlflow_python: Path) -> list[str]:
    import subprocess

    version = subprocess.run(
        [str(mlflow_python), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    import importlib.metadata

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return [
        f"- **Date**: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- **CPU**: {cpu}, {os.cpu_count()} logical cores",
        f"- **Python**: {platform.python_version()}",
        f"- **MLflow** (server and client): {version or 'unknown'} / {importlib.metadata.version('mlflow')}",
        f"- **runstone**: {importlib.metadata.version('runstone')}",
        f"- **Load average before the run**: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}",
    ]


def table(rs: Measured, ml: Measured, sizes: workloads.Sizes) -> str:
    rows = [
        (
            f"log_batch, {sizes.log_points:,} points in batches of {sizes.batch_size:,}",
            f"{rs.log_points_per_s:,.0f} points/s",
            f"{ml.log_points_per_s:,.0f} points/s",
            rs.log_points_per_s / ml.log_points_per_s,
        ),
        (
            f"search_runs over {sizes.search_runs:,} runs, first {workloads.SEARCH_LIMIT}",
            f"{rs.search_s * 1000:,.1f} ms",
            f"{ml.search_s * 1000:,.1f} ms",
            ml.search_s / rs.search_s,
        ),
        (
            f"get_metric_history, {sizes.log_points:,} steps",
            f"{rs.history_s * 1000:,.0f} ms",
            f"{ml.history_s * 1000:,.0f} ms",
            ml.history_s / rs.history_s,
        ),
    ]
    lines = ["| workload | runstone | MLflow | runstone vs MLflow |", "|---|---|---|---|"]
    lines += [f"| {w} | {r} | {m} | {ratio:.1f}x |" for w, r, m, ratio in rows]
    return "\n".join(lines)


def section(rs: Measured, ml: Measured, sizes: workloads.Sizes, machine: list[str]) -> str:
    return f"""{SECTION}

Written by `python -m bench.mlflow_client`: both servers driven by the same code, the stock
`mlflow` client (`MlflowClient.log_batch`, `search_runs`, `get_metric_history`), so the client's
own work (building entities, protobuf and JSON, its HTTP session) is part of every number. Both
servers run at once and the client takes turns between them request by request, so that other
work on the machine weighs on both alike.

{chr(10).join(machine)}

{table(rs, ml, sizes)}

The servers, data and sizes are those of `bash bench/run` (bench/workloads.py); runstone answers
MLflow's protocol through its translation layer (`/api/2.0/mlflow/...`). The client's own work
caps what the ratios can show, so they are smaller than through each server's own API.
"""


def write(path: Path, own: str) -> None:
    """Replace this bench's section of the performance page, keeping the others."""
    existing = path.read_text() if path.exists() else HEADER
    parts = ("\n" + existing).split("\n## ")
    head, sections = parts[0].strip("\n") + "\n", ["## " + p.strip("\n") + "\n" for p in parts[1:]]
    kept = [s for s in sections if not s.startswith(SECTION)]
    path.write_text("\n".join([head, *kept, own.strip("\n") + "\n"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mlflow_client", description=__doc__.split("\n\n")[0])
    default_venv = REPO / "bench" / ".venv-mlflow"
    parser.add_argument(
        "--mlflow-venv",
        type=Path,
        default=default_venv if (default_venv / "bin" / "mlflow").exists() else Path(sys.prefix),
        help="virtualenv whose mlflow runs the MLflow server",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the harness; writes no docs")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md")
    args = parser.parse_args(argv)
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    # Stopped with SIGTERM, still stop the servers this bench started (in the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = workloads.QUICK if args.quick else workloads.FULL
    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:7.1f}s] {message}", file=sys.stderr, flush=True)

    machine = _machine(args.mlflow_venv / "bin" / "python")
    folder = Path(tempfile.mkdtemp(prefix="runstone-client-bench-"))
    launchers = (suite.runstone_launcher(), suite.mlflow_launcher(args.mlflow_venv))
    started: list[Any] = []
    try:
        for launcher in launchers:
            server = launcher.start(folder / launcher.name)
            started.append(server)
            log(f"{launcher.name}: answered /health {server.startup_seconds:.1f} s after start")
        measured = drive({lr.name: sv.url for lr, sv in zip(launchers, started, strict=True)}, sizes, log)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 2
    finally:
        for server in started:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    rs, ml = measured["runstone"], measured["MLflow"]
    # Other work on the machine slows both servers (and the client): say how busy it was.
    machine.append(f"- **Load average after the run**: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(table(rs, ml, sizes))
    if not args.quick:
        write(args.output, section(rs, ml, sizes, machine))
        print(f"\nWrote the section {SECTION!r} of {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
