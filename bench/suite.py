"""One full pass of the workloads against one server, started with its defaults on SQLite."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import workloads
from bench.servers import Server, clean_environment, free_port
from bench.targets import Mlflow, Runstone, Target

Log = Callable[[str], None]


@dataclass(frozen=True)
class Launcher:
    """How to start one kind of server on a fresh store in ``folder``."""

    name: str
    target: type[Target]
    argv: Callable[[Path, int], list[str]]
    env: dict[str, str]

    def start(self, folder: Path) -> Server:
        folder.mkdir(parents=True)
        port = free_port()
        return Server.start(self.name, self.argv(folder, port), port=port, log_path=folder / "server.log", env=self.env)


def runstone_launcher() -> Launcher:
    executable = Path(sys.executable).parent / "runstone"

    def argv(folder: Path, port: int) -> list[str]:
        return [str(executable), "server", "--home", str(folder), "--port", str(port)]

    return Launcher("runstone", Runstone, argv, clean_environment("RUNSTONE_"))


def mlflow_launcher(venv: Path) -> Launcher:
    executable = venv / "bin" / "mlflow"

    def argv(folder: Path, port: int) -> list[str]:
        return [
            str(executable),
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--default-artifact-root",
            str(folder / "mlartifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]

    env = clean_environment("MLFLOW_", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return Launcher("MLflow", Mlflow, argv, env)


@dataclass
class Results:
    """What one server achieved; times in seconds, memory in bytes."""

    server: str
    log_points_per_s: float = 0.0
    history_s: float = 0.0
    search_s: float = 0.0
    search_names: list[str] = field(default_factory=list)
    rss_after_search: int = 0
    writer_points_per_s: float = 0.0
    writer_errors: int = 0
    writer_first_error: str = ""
    start_samples: list[float] = field(default_factory=list)

    @property
    def start_s(self) -> float:
        return statistics.median(self.start_samples)


def run(launcher: Launcher, sizes: workloads.Sizes, folder: Path, log: Log) -> Results:
    results = Results(launcher.name)
    name = launcher.name
    server = launcher.start(folder / "main")
    results.start_samples.append(server.startup_seconds)
    log(f"{name}: answered /health {server.startup_seconds:.2f} s after start (pid {server.process.pid})")
    target = launcher.target(server.url)
    try:
        experiment = target.create_experiment("bench")

        results.log_points_per_s, run_id = workloads.log_batch(target, experiment, sizes)
        log(f"{name}: log-batch {results.log_points_per_s:,.0f} points/s")

        results.history_s = workloads.history(target, run_id, sizes)
        log(f"{name}: history of {sizes.log_points:,} steps in {results.history_s * 1000:,.1f} ms")

        searched = target.create_experiment("search")
        began = time.perf_counter()
        workloads.populate_search(target, searched, sizes)
        log(f"{name}: populated {sizes.search_runs:,} runs in {time.perf_counter() - began:.0f} s (not timed)")
        results.search_s, results.search_names = workloads.search(target, searched, sizes)
        log(f"{name}: search median {results.search_s * 1000:,.1f} ms")

        results.rss_after_search = server.rss_bytes()
        log(f"{name}: RSS after search {results.rss_after_search / 2**20:,.0f} MiB ({len(server.pids())} processes)")

        writers = target.create_experiment("writers")
        results.writer_points_per_s, results.writer_errors, results.writer_first_error = workloads.concurrent_writers(
            target, writers, sizes
        )
        log(
            f"{name}: {sizes.writers} writers {results.writer_points_per_s:,.0f} points/s, "
            f"{results.writer_errors} errors {results.writer_first_error[:200]}"
        )
    finally:
        target.close()
        server.stop()

    for attempt in range(1, sizes.starts):
        extra = launcher.start(folder / f"start-{attempt}")
        extra.stop()
        results.start_samples.append(extra.startup_seconds)
        log(f"{name}: start {attempt + 1}: {extra.startup_seconds:.2f} s")
    return results
