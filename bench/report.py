"""The comparison table, the machine it was measured on, and docs/performance.md."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.suite import Results
from bench.workloads import SEARCH_FILTER, SEARCH_LIMIT, SEARCH_ORDER, Sizes

MIB = 2**20


@dataclass(frozen=True)
class Row:
    workload: str
    runstone: str
    mlflow: str
    advantage: float  # how many times better runstone did: faster, more throughput, less memory
    floor: str
    aim: str
    floor_met: bool
    aim_met: bool

    @property
    def verdict(self) -> str:
        if not self.floor_met:
            return "**floor missed**"
        return "floor and aim met" if self.aim_met else "floor met"


def _ratio_row(
    workload: str,
    rs: float,
    ml: float,
    shown: tuple[str, str],
    floor: float,
    aim: float | None,
    *,
    higher_is_better: bool,
) -> Row:
    advantage = rs / ml if higher_is_better else ml / rs
    return Row(
        workload,
        shown[0],
        shown[1],
        advantage,
        f"≥ {floor:g}x",
        f"≥ {aim:g}x" if aim else "",
        advantage >= floor,
        advantage >= (aim or floor),
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def rows(rs: Results, ml: Results, sizes: Sizes) -> list[Row]:
    n = f"{sizes.log_points:,}"
    batch = f"{sizes.batch_size:,}"
    writers_ok = rs.writer_errors == 0
    writers = _ratio_row(
        f"{sizes.writers} writer processes at once, {sizes.points_per_writer:,} points each in batches of {batch}",
        rs.writer_points_per_s,
        ml.writer_points_per_s,
        (
            f"{rs.writer_points_per_s:,.0f} points/s, {rs.writer_errors} errors",
            f"{ml.writer_points_per_s:,.0f} points/s, {ml.writer_errors} errors",
        ),
        10,
        20,
        higher_is_better=True,
    )
    writers = Row(
        writers.workload,
        writers.runstone,
        writers.mlflow,
        writers.advantage,
        "≥ 10x, 0 errors",
        writers.aim,
        writers.floor_met and writers_ok,
        writers.aim_met and writers_ok,
    )
    start_ok = rs.start_s < 1.0
    memory_ok = rs.rss_after_search < 300 * MIB
    return [
        _ratio_row(
            f"log-batch: {n} points in batches of {batch} into one run",
            rs.log_points_per_s,
            ml.log_points_per_s,
            (f"{rs.log_points_per_s:,.0f} points/s", f"{ml.log_points_per_s:,.0f} points/s"),
            10,
            30,
            higher_is_better=True,
        ),
        _ratio_row(
            f"search {sizes.search_runs:,} runs (10 params, 5 metrics, 3 tags each): metric and param filter, "
            f"ordered by a metric, first {SEARCH_LIMIT}; median of {sizes.search_calls}",
            rs.search_s,
            ml.search_s,
            (_ms(rs.search_s), _ms(ml.search_s)),
            10,
            20,
            higher_is_better=False,
        ),
        _ratio_row(
            f"full metric history of {n} steps; median of {sizes.history_calls}",
            rs.history_s,
            ml.history_s,
            (_ms(rs.history_s), _ms(ml.history_s)),
            10,
            50,
            higher_is_better=False,
        ),
        writers,
        Row(
            f"server start to first answered /health, new store; median of {sizes.starts}",
            f"{rs.start_s:.2f} s",
            f"{ml.start_s:.2f} s",
            ml.start_s / rs.start_s,
            "< 1 s",
            "",
            start_ok,
            start_ok,
        ),
        Row(
            "server memory after the search workload (RSS, child processes included)",
            f"{rs.rss_after_search / MIB:,.0f} MiB",
            f"{ml.rss_after_search / MIB:,.0f} MiB",
            ml.rss_after_search / rs.rss_after_search,
            "< 300 MiB",
            "",
            memory_ok,
            memory_ok,
        ),
    ]


def table(table_rows: list[Row]) -> str:
    lines = [
        "| Workload | runstone | MLflow | runstone vs MLflow | Floor | Aim | Verdict |",
        "|---|--:|--:|--:|:-:|:-:|---|",
    ]
    for r in table_rows:
        lines.append(
            f"| {r.workload} | {r.runstone} | {r.mlflow} | {r.advantage:,.1f}x | {r.floor} | {r.aim} | {r.verdict} |"
        )
    return "\n".join(lines)


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "unknown"


def _command(argv: list[str], cwd: Path | None = None) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True, cwd=cwd, timeout=120).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def load_average() -> str:
    """The 1-minute load average: other work on the machine skews both servers' numbers."""
    return f"{os.getloadavg()[0]:.2f}"


def wait_for_quiet(seconds: float, below: float = 1.0) -> None:
    """Wait, up to ``seconds``, until the 1-minute load average falls below ``below``."""
    deadline = time.monotonic() + seconds
    while os.getloadavg()[0] >= below and time.monotonic() < deadline:
        time.sleep(10)


def machine(repo: Path, mlflow_python: Path, load: str) -> dict[str, str]:
    memory_kib = int(_first("/proc/meminfo", "MemTotal").split()[0])
    commit = _command(["git", "rev-parse", "--short", "HEAD"], repo)
    if commit and _command(["git", "status", "--porcelain", "--", "runstone"], repo):
        commit += " with uncommitted changes"
    mlflow_version = _command([str(mlflow_python), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"])
    return {
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": f"{_first('/proc/cpuinfo', 'model name')}, {os.cpu_count()} logical cores",
        "RAM": f"{memory_kib / 2**20:.1f} GiB",
        "OS": f"{_first('/etc/os-release', 'PRETTY_NAME=')}, Linux {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "runstone": importlib.metadata.version("runstone") + (f" (commit {commit})" if commit else ""),
        "MLflow": mlflow_version or "unknown",
        "1-minute load average before / after the run": load,
    }


HEADER = """# Performance

runstone is measured against MLflow on the same machine, in the same run, on the same
workloads. Each section below is written by the command it names; rerun that command rather
than editing the numbers.
"""
SECTION = "## Tracking server"


def section(table_rows: list[Row], described: dict[str, str], sizes: Sizes) -> str:
    machine_lines = "\n".join(f"- **{k}**: {v}" for k, v in described.items())
    return f"""{SECTION}

Written by `bash bench/run`: runstone's and MLflow's tracking servers, each driven through its
own REST API.

{machine_lines}

{table(table_rows)}

"runstone vs MLflow" is how many times better runstone did: more points per second, less time
or less memory. Floors and aims are the targets the project holds itself to.

### What is measured

- **Servers.** Each server starts with its defaults on a new SQLite store in a temporary folder, on
  a free loopback port, and only one server runs at a time. runstone: `runstone server --home
  <tmp> --port <port>` (one worker; SQLite in WAL mode with `synchronous=FULL`, one transaction
  and one audit event per request). MLflow: `mlflow server --backend-store-uri
  sqlite:///<tmp>/mlflow.db --default-artifact-root <tmp>/mlartifacts` (its default of four
  uvicorn workers), installed with `pip install mlflow` into `bench/.venv-mlflow`. Both start
  from compiled modules: pip compiles MLflow's when it installs it, and the bench compiles
  runstone's checkout once before the first server starts, as pip would for an installed package.
- **Client.** One `httpx` client with one kept-alive connection drives both servers. Request
  bodies are serialized before the clock starts; responses are parsed inside it.
- **log-batch.** {sizes.log_points:,} points of one metric, {sizes.batch_size:,} per request,
  sent one after another into one run, after a warm-up run of two batches.
- **History.** The {sizes.log_points:,}-step history logged above, fetched whole: runstone in one
  column-wise response, MLflow through `metrics/get-history` pages of 25,000 points (the page
  size its own client asks for) until no page token is left. One warm-up call.
- **Search.** {sizes.search_runs:,} runs, each with 10 params, 5 metrics and 3 tags, written
  through the API beforehand (not timed). The query is `{SEARCH_FILTER}` ordered by
  `{SEARCH_ORDER}`, first {SEARCH_LIMIT} runs with all their data; three warm-up calls. Both
  servers must return the same {SEARCH_LIMIT} runs in the order the generated data dictates, or
  the bench fails.
- **Memory.** Resident set size of the server process and all its child processes, summed,
  right after the search workload.
- **Concurrent writers.** {sizes.writers} processes, each with its own connection and its own run,
  start together and log {sizes.points_per_writer:,} points each in batches of
  {sizes.batch_size:,}. Throughput is the points written by successful requests over the time
  from the first request to the last answer; failed requests are counted, not retried.
- **Start.** From spawning the server command to its first answered `GET /health`, on a new
  store, {sizes.starts} times.
"""


def _sections(text: str) -> list[str]:
    """The level-2 sections of a Markdown page, each from its heading to the next one."""
    parts = ("\n" + text).split("\n## ")[1:]
    return ["## " + part.rstrip("\n") + "\n" for part in parts]


def write(path: Path, own: str) -> None:
    """Replace this bench's section of the performance page, keeping the other sections."""
    existing = path.read_text() if path.exists() else ""
    others = [s for s in _sections(existing) if not s.startswith(SECTION)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, own, *others]))
