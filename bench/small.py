"""Small requests: the fixed cost every request pays, runstone against MLflow, over raw HTTP.

    python -m bench.small [--rounds 5] [--requests 100] [--quick]

Both servers start once with their defaults on new SQLite stores (MLflow with its artifact proxy
writing into the same temporary folder). One ``httpx`` client per server holds one kept-alive
connection; bodies are serialized before the clock starts. Each workload runs in blocks of
--requests requests, runstone and MLflow taking turns block by block (who goes first alternates
each round), so both meet the same load of a shared machine; the figure is the median of the
block medians. runstone's server CPU time per request (user + system, read from /proc) is
reported next to it: it moves less with other processes' load than wall time does.

Writes the "Small requests" section of docs/performance.md (unless --quick).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from bench.page import write_section
from bench.servers import Server
from bench.suite import Launcher, mlflow_launcher, runstone_launcher

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Small requests"
M = "/api/2.0/mlflow"
JSON_HEADERS = {"content-type": "application/json"}


class Driven:
    """One server, one kept-alive connection, one experiment and run to write into."""

    def __init__(self, name: str, server: Server) -> None:
        self.name = name
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=60)
        self.experiment = self._post(f"{M}/experiments/create", {"name": "small"})["experiment_id"]
        self.run_id = self._post(f"{M}/runs/create", {"experiment_id": self.experiment})["run"]["info"]["run_id"]
        self.counter = 0

    def _post(self, path: str, payload: object) -> dict:  # type: ignore[type-arg]
        response = self.http.post(path, content=orjson.dumps(payload), headers=JSON_HEADERS)
        response.raise_for_status()
        return orjson.loads(response.content)  # type: ignore[no-any-return]

    def requests(self, workload: str, count: int) -> list[Callable[[], httpx.Response]]:
        """``count`` requests of a workload, serialized, each a call that sends it."""
        out: list[Callable[[], httpx.Response]] = []
        for _ in range(count):
            self.counter += 1
            i = self.counter
            if workload == "log_metric":
                body = orjson.dumps(
                    {"run_id": self.run_id, "key": "m", "value": i / 3, "timestamp": 1_700_000_000_000 + i, "step": i}
                )
                out.append(lambda b=body: self.http.post(f"{M}/runs/log-metric", content=b, headers=JSON_HEADERS))
            elif workload == "create_run":
                body = orjson.dumps({"experiment_id": self.experiment, "start_time": 1_700_000_000_000 + i})
                out.append(lambda b=body: self.http.post(f"{M}/runs/create", content=b, headers=JSON_HEADERS))
            else:
                path = f"/api/2.0/mlflow-artifacts/artifacts/{self.experiment}/{self.run_id}/artifacts/f{i}.bin"
                content = os.urandom(1024)
                out.append(lambda p=path, c=content: self.http.put(p, content=c))
        return out

    def block(self, workload: str, count: int) -> tuple[float, float]:
        """Median seconds per request of one block, and this server's CPU seconds per request."""
        calls = self.requests(workload, count)
        cpu = cpu_seconds(self.server.process.pid)
        samples = []
        for call in calls:
            started = time.perf_counter()
            response = call()
            samples.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"{self.name} {workload}: HTTP {response.status_code}: {response.text[:300]}")
        return statistics.median(samples), (cpu_seconds(self.server.process.pid) - cpu) / count


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (its own; MLflow's workers are not counted)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The aims of issue 15 for these requests, as runstone vs MLflow.
AIMS = {"log_metric": 20.0, "create_run": 8.0, "upload": 2.0}

WORKLOADS = {
    "log_metric": "single `log-metric`",
    "create_run": "`runs/create`",
    "upload": "1 KiB artifact upload (MLflow's proxied PUT)",
}


def mlflow_with_proxy(venv: Path) -> Launcher:
    base = mlflow_launcher(venv)

    def argv(folder: Path, port: int) -> list[str]:
        return [*base.argv(folder, port), "--artifacts-destination", str(folder / "proxied")]

    return Launcher(base.name, base.target, argv, base.env)


def measure(rounds: int, count: int, folder: Path) -> dict[str, dict[str, list[float]]]:
    servers = [
        runstone_launcher().start(folder / "runstone"),
        mlflow_with_proxy(Path(sys.prefix)).start(folder / "mlflow"),
    ]
    try:
        driven = [Driven("runstone", servers[0]), Driven("MLflow", servers[1])]
        results: dict[str, dict[str, list[float]]] = {}
        for workload in WORKLOADS:
            for d in driven:  # warm-up block
                d.block(workload, max(10, count // 10))
        for r in range(rounds):
            for workload in WORKLOADS:
                for d in driven if r % 2 == 0 else reversed(driven):
                    seconds, cpu = d.block(workload, count)
                    results.setdefault(workload, {}).setdefault(d.name, []).append(seconds)
                    if d.name == "runstone":
                        results[workload].setdefault("runstone cpu", []).append(cpu)
            print(f"round {r + 1} of {rounds} done", file=sys.stderr)
        return results
    finally:
        for server in servers:
            server.stop()


def section(results: dict[str, dict[str, list[float]]], load: tuple[float, float], rounds: int, count: int) -> str:
    rows = []
    for workload, label in WORKLOADS.items():
        ours = statistics.median(results[workload]["runstone"]) * 1000
        theirs = statistics.median(results[workload]["MLflow"]) * 1000
        cpu = statistics.median(results[workload]["runstone cpu"]) * 1000
        ratio = theirs / ours
        verdict = "met" if ratio >= AIMS[workload] else "not met"
        rows.append(
            f"| {label} | {ours:.2f} ms | {cpu:.2f} ms | {theirs:.2f} ms | {ratio:.1f}x | "
            f"≥ {AIMS[workload]:g}x | {verdict} |"
        )
    table = "\n".join(rows)
    return f"""{SECTION}

Written by `python -m bench.small` ({os.cpu_count()} cores, Python {sys.version.split()[0]},
{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; 1-minute load average {load[0]:.1f} at the start and
{load[1]:.1f} at the end). These numbers come from a shared 2-core machine on which other
processes were running tests at the same time: wall times move with their load, which is why
the servers take turns block by block and the figures are medians.

One request at a time on one kept-alive connection, through MLflow's REST routes on both
servers; {rounds} rounds of {count} requests per workload and server. "runstone CPU" is the
runstone server's own CPU time per request.

| request | runstone | runstone CPU | MLflow 3.17.2 | runstone vs MLflow | aim | verdict |
|---|--:|--:|--:|--:|:-:|---|
{table}

Where the time goes: each of these requests commits durably before it is answered (SQLite in
WAL mode with `synchronous=FULL`), and on a loaded disk that flush costs milliseconds. MLflow's
server writes an uploaded file without any fsync; runstone answers a file of 64 KiB or less once
its bytes are committed with its manifest row (one flush; the file itself is fsynced in the
background, see docs/reliability.md), a larger one after fsyncing the file and its folder as
well. The statements every small write runs (run lookup, audit row, metric keys, points, block
summaries, latest values, manifest rows, schema check) go straight to the database driver; what
is left of the server's CPU is the HTTP stack (middleware, routing, dependency injection, the
thread-pool hand-off), the transaction scope, and on run creation the ORM load of the new run.
Wall times at load averages far above the 2 cores mostly measure waiting for a core and the disk.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.small", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 30 requests; writes no docs")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md")
    args = parser.parse_args(argv)
    rounds, count = (2, 30) if args.quick else (args.rounds, args.requests)
    before = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="runstone-bench-small-"))
    try:
        results = measure(rounds, count, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    text = section(results, (before, os.getloadavg()[0]), rounds, count)
    print(text)
    if not args.quick:
        write_section(args.output, SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
