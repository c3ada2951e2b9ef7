"""The stock ``mlflow`` client, and runstone's own SDK, against runstone, MLflow and a floor.

    python -m bench.mlflow_client [--mlflow-venv bench/.venv-mlflow] [--quick]

Where ``bash bench/run`` drives each server through its own REST API, this bench runs the
tracking workloads a training script meets through a client: many small artifact files, run
creation, single ``log_metric`` calls, ``log_batch``, metric history, search, 8 writer processes
and one large artifact up and down. Four sides take turns, block by block, so that other work on
the machine weighs on all alike:

- runstone and MLflow, each driven by one ``mlflow.MlflowClient``;
- the client-only floor: the same stock client against bench/client_floor.py, a server that
  answers every route at once with a fixed body, so its time is the client's own cost;
- runstone's SDK (``runstone.RunstoneClient``) against the same runstone server.

It writes the "Through the stock mlflow client" section of docs/performance.md (unless
--quick), leaving the other sections as they are.

The clients run in this process (mlflow must be installed here: it is in runstone's ``test``
extra); the MLflow server runs from --mlflow-venv (default: bench/.venv-mlflow when ``bash
bench/run`` made it, else this environment).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import client_floor, suite, workloads
from bench.servers import HOST, BenchError, Server, clean_environment, free_port
from bench.small import ECHO, commit_floor

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Through the stock mlflow client"
HEADER = """# Performance

runstone is measured against MLflow on the same machine, in the same run, on the same
workloads. Each section below is written by the command it names; rerun that command rather
than editing the numbers.
"""
FLOOR_MARGIN = 1.20  # the target: within 20% of the client-only floor


@dataclass(frozen=True)
class Sizes:
    files: int = 1_000
    runs: int = 500
    runs_block: int = 50
    single_metrics: int = 500
    single_block: int = 50
    log_points: int = 50_000
    batch_size: int = 1_000
    history_calls: int = 2
    search_runs: int = 1_000
    search_calls: int = 10
    writers: int = 8
    points_per_writer: int = 10_000
    big_mb: int = 200
    big_rounds: int = 4


FULL = Sizes()
QUICK = Sizes(
    files=50,
    runs=20,
    runs_block=10,
    single_metrics=40,
    single_block=20,
    log_points=3_000,
    history_calls=1,
    search_runs=100,
    search_calls=2,
    points_per_writer=1_000,
    big_mb=5,
    big_rounds=1,
)
SIDES = ("runstone", "MLflow", "floor", "SDK")


@dataclass
class Sample:
    """One workload on one side: wall seconds, this process's CPU seconds, the server's CPU
    seconds, summed over the side's turns, how many units of work they covered and (on the
    floor's side) how many requests the client made for them."""

    wall: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    units: int = 0
    requests: int = 0  # counted by the floor, on its own side only

    def per_unit(self, what: str = "wall") -> float:
        return float(getattr(self, what)) / max(self.units, 1)


@dataclass
class Workload:
    label: str
    unit: str
    commits: int = 0  # durable commits the server makes per unit (the writes it acknowledges)
    # Work per unit that runstone's SDK does and the stock client does not, measured on its own:
    # what it is, and its seconds.
    sdk_only: tuple[str, float] | None = None
    samples: dict[str, Sample] = field(default_factory=lambda: {side: Sample() for side in SIDES})


def _cpu_seconds(server: Server) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in server.pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _settle(servers: list[Server], limit: float = 90.0) -> float:
    """Wait until the servers have finished starting (MLflow's workers import their code after
    the first one answers): until they use under 5% of a core together for a whole second."""
    began = time.perf_counter()
    while time.perf_counter() - began < limit:
        before = sum(_cpu_seconds(s) for s in servers)
        time.sleep(1.0)
        if sum(_cpu_seconds(s) for s in servers) - before < 0.05:
            break
    return time.perf_counter() - began


class Side:
    """One client pointed at one server, with the operations the workloads need."""

    def __init__(self, name: str, url: str, server: Server, sdk: bool = False) -> None:
        self.name, self.url, self.server, self.sdk = name, url, server, sdk
        if sdk:
            from runstone import RunstoneClient

            self.client: Any = RunstoneClient(url)
        else:
            from mlflow import MlflowClient

            self.client = MlflowClient(tracking_uri=url)
        self.experiment = self.client.create_experiment(f"client-bench-{name}")
        self.searched = ""

    def metrics(self, points: list[workloads.Point]) -> list[Any]:
        if self.sdk:
            from runstone.entities import Metric
        else:
            from mlflow.entities import Metric
        return [Metric(k, v, t, s) for k, v, t, s in points]

    def new_run(self, name: str, tags: dict[str, str] | None = None) -> str:
        return str(self.client.create_run(self.experiment, run_name=name, tags=tags or {}).info.run_id)

    def full_run(self, index: int, metrics: list[Any]) -> None:
        """A run with 10 params, 5 metrics and 3 tags, as a sweep makes it: create (with its
        tags), one log_batch, terminate."""
        params, _, tags = workloads._search_run_data(index)
        run_id = self.new_run(f"run-{index:05d}", tags)
        if self.sdk:
            self.client.log_batch(run_id, metrics=metrics, params=params)
        else:
            from mlflow.entities import Param

            self.client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
        self.client.set_terminated(run_id)

    def history(self, run_id: str) -> int:
        return len(self.client.get_metric_history(run_id, workloads.HISTORY_KEY))

    def search(self) -> list[str]:
        runs = self.client.search_runs(
            [self.searched],
            workloads.SEARCH_FILTER,
            max_results=workloads.SEARCH_LIMIT,
            order_by=[workloads.SEARCH_ORDER],
        )
        return [r.info.run_name for r in runs]

    def measure(self, sample: Sample, units: int, action: Callable[[], object]) -> object:
        requests_before = self.requests()
        server_before = _cpu_seconds(self.server)
        cpu_before = time.process_time()
        started = time.perf_counter()
        result = action()
        sample.wall += time.perf_counter() - started
        sample.client_cpu += time.process_time() - cpu_before
        sample.server_cpu += _cpu_seconds(self.server) - server_before
        sample.units += units
        sample.requests += self.requests() - requests_before
        return result

    def requests(self) -> int:
        """Requests the floor has answered so far (0 for a real server, which does not count)."""
        if self.name != "floor":
            return 0
        with urllib.request.urlopen(f"{self.url}{client_floor.COUNT}", timeout=30) as answer:
            return int(json.loads(answer.read())["requests"])


def _writer(sdk: bool, url: str, run_id: str, sizes: Sizes, barrier: Any, results: Any) -> None:
    """One writer process: its own client, logging batches of 1,000 points into its own run."""
    if sdk:
        from runstone import RunstoneClient
        from runstone.entities import Metric

        client: Any = RunstoneClient(url)
    else:
        from mlflow import MlflowClient
        from mlflow.entities import Metric as Metric  # type: ignore[no-redef]

        client = MlflowClient(tracking_uri=url)
    batches = [
        [Metric(k, v, t, s) for k, v, t, s in workloads.points(workloads.HISTORY_KEY, first, sizes.batch_size)]
        for first in range(0, sizes.points_per_writer, sizes.batch_size)
    ]
    client.get_run(run_id)  # connect before the clock starts
    errors, first_error = 0, ""
    barrier.wait()
    started = time.monotonic()
    for batch in batches:
        try:
            client.log_batch(run_id, metrics=batch)
        except Exception as exc:
            errors += 1
            first_error = first_error or repr(exc)[:300]
    results.put((started, time.monotonic(), errors, first_error))


def writers(side: Side, sizes: Sizes, sample: Sample, log: Callable[[str], None]) -> None:
    runs = [side.new_run(f"writer-{w}") for w in range(sizes.writers)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(sizes.writers)
    results: Any = context.Queue()
    processes = [
        context.Process(target=_writer, args=(side.sdk, side.url, run, sizes, barrier, results)) for run in runs
    ]
    server_before = _cpu_seconds(side.server)
    reports = workloads.run_processes(processes, results, join_seconds=60)
    errors = sum(r[2] for r in reports)
    if errors:
        raise BenchError(f"{side.name}: {errors} writer errors, first: {next(r[3] for r in reports if r[3])}")
    sample.wall += max(r[1] for r in reports) - min(r[0] for r in reports)
    sample.server_cpu += _cpu_seconds(side.server) - server_before
    sample.units += sizes.writers * sizes.points_per_writer // sizes.batch_size
    log(f"{side.name}: {sizes.writers} writers, {sample.units / sample.wall * sizes.batch_size:,.0f} points/s")


def drive(sides: list[Side], sizes: Sizes, folder: Path, log: Callable[[str], None]) -> list[Workload]:
    """Every workload on every side, taking turns block by block."""
    done: list[Workload] = []

    def report(w: Workload) -> None:
        done.append(w)
        log(
            f"{w.label}: "
            + ", ".join(f"{s} {w.samples[s].per_unit() * 1000:,.2f} ms/{w.unit}" for s in SIDES if w.samples[s].units)
        )

    # 1. Many small files through log_artifacts (after a warm-up folder of 200 files).
    def folder_of(name: str, count: int) -> Path:
        made = folder / name
        made.mkdir()
        for i in range(count):
            (made / f"file-{i:04d}.txt").write_bytes(os.urandom(512).hex().encode())
        return made

    warm, small = folder_of("warm-up-files", 200), folder_of("small-files", sizes.files)
    w = Workload(f"{sizes.files:,} files of 1 KiB with `log_artifacts`", "file", 1)
    for files, count, sample_of in ((warm, 200, lambda _: Sample()), (small, sizes.files, w.samples.get)):
        for side in sides:
            run_id = side.new_run(files.name)
            sample = sample_of(side.name) or Sample()
            side.measure(sample, count, lambda s=side, r=run_id, f=files: s.client.log_artifacts(r, str(f), "files"))
    report(w)

    # 2. Run creation: create (with 3 tags), log_batch of 10 params and 5 metrics, terminate.
    w = Workload(
        f"create {sizes.runs:,} runs, each with 10 params, 5 metrics, 3 tags (create, `log_batch`, terminate)",
        "run",
        3,
    )
    prepared = {
        side.name: [side.metrics(workloads._search_run_data(i)[1]) for i in range(sizes.runs)] for side in sides
    }
    for side in sides:
        side.full_run(0, prepared[side.name][0])  # warm-up
    for first in range(0, sizes.runs, sizes.runs_block):
        block = range(first, min(first + sizes.runs_block, sizes.runs))
        for side in sides:
            ready = prepared[side.name]
            side.measure(
                w.samples[side.name], len(block), lambda s=side, m=ready, b=block: [s.full_run(i, m[i]) for i in b]
            )
    report(w)

    # 3. One log_metric call at a time.
    w = Workload("one `log_metric` call at a time", "call", 1)
    metric_runs = {side.name: side.new_run("log-metric") for side in sides}
    for first in range(-sizes.single_block, sizes.single_metrics, sizes.single_block):  # first block warms up
        for side in sides:
            run_id = metric_runs[side.name]

            def calls(side: Side = side, run_id: str = run_id, first: int = first) -> None:
                for step in range(first, first + sizes.single_block):
                    side.client.log_metric(run_id, "single", 1.0 / (abs(step) + 1), step=step)

            side.measure(w.samples[side.name] if first >= 0 else Sample(), sizes.single_block, calls)
    report(w)

    # 4. log_batch of 1,000 points, and then the history of the run they went to.
    w = Workload(f"`log_batch` of {sizes.batch_size:,} points ({sizes.log_points:,} points in all)", "batch", 1)
    batch_runs = {side.name: side.new_run("log-batch") for side in sides}
    for first in range(-2 * sizes.batch_size, sizes.log_points, sizes.batch_size):
        key = workloads.HISTORY_KEY if first >= 0 else "warm-up"
        points = workloads.points(key, max(first, 0), sizes.batch_size)
        for side in sides:
            batch, run_id = side.metrics(points), batch_runs[side.name]
            sample = w.samples[side.name] if first >= 0 else Sample()
            side.measure(sample, 1, lambda s=side, r=run_id, b=batch: s.client.log_batch(r, metrics=b))
    report(w)

    w = Workload(f"`get_metric_history`, {sizes.log_points:,} steps", "call")
    for call in range(sizes.history_calls + 1):
        for side in sides:
            run_id = batch_runs[side.name]
            count = side.measure(w.samples[side.name] if call else Sample(), 1, lambda s=side, r=run_id: s.history(r))
            if count != sizes.log_points:
                raise BenchError(f"{side.name} returned {count} history points; {sizes.log_points} were logged.")
    report(w)

    # 5. Search, filter and order, top 100, over runs written through each server's own API.
    expected = workloads.expected_search_names(workloads.Sizes(search_runs=sizes.search_runs))
    populated: dict[str, str] = {}
    for side in sides:
        if side.name == "floor":
            side.searched = side.experiment
            continue
        if side.server.name not in populated:
            launcher = suite.runstone_launcher() if side.server.name == "runstone" else None
            target = (launcher.target if launcher else suite.mlflow_launcher(Path(".")).target)(side.url)
            began = time.perf_counter()
            populated[side.server.name] = target.create_experiment("client-search")
            workloads.populate_search(
                target, populated[side.server.name], workloads.Sizes(search_runs=sizes.search_runs)
            )
            target.close()
            log(
                f"{side.server.name}: populated {sizes.search_runs:,} runs in {time.perf_counter() - began:.0f} s (not timed)"
            )
        side.searched = populated[side.server.name]
    w = Workload(f"`search_runs`, filter and order, top 100 of {sizes.search_runs:,} runs", "search")
    for call in range(sizes.search_calls + 2):
        for side in sides:
            names = side.measure(w.samples[side.name] if call >= 2 else Sample(), 1, side.search)
            if side.name != "floor" and names != expected:
                raise BenchError(f"{side.name} search returned {names[:5]}...; expected {expected[:5]}...")
    report(w)

    # 6. Eight writer processes, each with its own client and run.
    w = Workload(f"{sizes.writers} writer processes, batches of {sizes.batch_size:,}", "batch", 1)
    for side in sides:
        writers(side, sizes, w.samples[side.name], log)
    report(w)

    # 7. One large file up and down.
    big = folder / "big.bin"
    with big.open("wb") as out:
        for _ in range(sizes.big_mb):
            out.write(os.urandom(1 << 20))
    up = Workload(f"{sizes.big_mb} MB upload (`log_artifact`)", "file", 1)
    down = Workload(
        f"{sizes.big_mb} MB download (`download_artifacts`)",
        "file",
        sdk_only=("checks the file against its recorded SHA-256", _sha256_seconds(big)),
    )
    for round_ in range(sizes.big_rounds):
        for side in sides:
            run_id = side.new_run("big")
            side.measure(up.samples[side.name], 1, lambda s=side, r=run_id: s.client.log_artifact(r, str(big)))
            target = folder / f"down-{side.name}-{round_}"
            target.mkdir()
            got = side.measure(
                down.samples[side.name],
                1,
                lambda s=side, r=run_id, t=target: s.client.download_artifacts(r, "big.bin", str(t)),
            )
            if Path(str(got)).stat().st_size != big.stat().st_size:
                raise BenchError(
                    f"{side.name} downloaded {Path(str(got)).stat().st_size} bytes of {big.stat().st_size}."
                )
            shutil.rmtree(target)
    report(up)
    report(down)
    return done


def _sha256_seconds(path: Path) -> float:
    """Seconds to hash ``path`` with SHA-256 here (best of three, the file in the page cache)."""
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        with path.open("rb") as src:
            hashlib.file_digest(src, "sha256")
        samples.append(time.perf_counter() - started)
    return min(samples)


def _machine(mlflow_python: Path) -> list[str]:
    import importlib.metadata
    import subprocess

    version = subprocess.run(
        [str(mlflow_python), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
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
        f"- **Load average before the run**: {_load()}",
    ]


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:,.0f} ms" if ms >= 100 else f"{ms:,.2f} ms"


@dataclass(frozen=True)
class Floors:
    """What no server answering durably over HTTP can avoid, measured before the workloads:
    seconds of one durable commit on the disk the stores are on, and seconds a request to a bare
    uvicorn + Starlette app (answering at once) takes over the same request to the floor's
    server, through the stock client's own HTTP library."""

    commit: float
    request: float


def verdict(w: Workload, floors: Floors) -> tuple[str, str]:
    """The stock-client and SDK verdicts."""
    rs, ml, fl, sdk = (w.samples[s].per_unit() for s in SIDES)
    own = "met" if sdk <= rs else "not met"
    if own != "met" and w.sdk_only is not None and sdk - rs <= w.sdk_only[1]:
        what, seconds = w.sdk_only
        own = f"not met: the SDK {what} ({_ms(seconds)} here), which the stock client does not; the gap is {_ms(sdk - rs)}"
    if rs <= ml and rs <= fl * FLOOR_MARGIN:
        return "met", own
    allowed = fl * (FLOOR_MARGIN - 1)
    commits = w.commits * floors.commit
    requests = w.samples["floor"].per_unit("requests")
    stack = requests * floors.request
    if rs <= ml and commits + stack > allowed:
        # The floor's server stores nothing and answers from a few lines of code; a server that
        # acknowledges durably, behind an ASGI stack, cannot come within 20% of it when its
        # commits and its stack's cost per request alone take longer than those 20%.
        return (
            f"cannot be met: 20% of the floor is {_ms(allowed)}, under the {w.commits} durable "
            f"commit{'s' if w.commits > 1 else ''} ({_ms(commits)}) and the bare ASGI server's cost over the "
            f"floor's for {requests:.0f} request{'s' if round(requests) != 1 else ''} ({_ms(stack)}) per {w.unit}"
        ), own
    return "not met", own


def table(done: list[Workload], floors: Floors) -> str:
    lines = [
        "| workload (time per unit) | runstone | MLflow | runstone vs MLflow | floor | runstone over floor "
        "| stock client target | runstone SDK | SDK vs stock client | SDK target |",
        "|---|--:|--:|--:|--:|--:|:-:|--:|--:|:-:|",
    ]
    for w in done:
        rs, ml, fl, sdk = (w.samples[s].per_unit() for s in SIDES)
        stock, own = verdict(w, floors)
        lines.append(
            f"| {w.label} (per {w.unit}) | {_ms(rs)} | {_ms(ml)} | {ml / rs:.1f}x | {_ms(fl)} | "
            f"{(rs / fl - 1) * 100:+.0f}% | {stock} | {_ms(sdk)} | {rs / sdk:.2f}x | {own} |"
        )
    return "\n".join(lines)


def cpu_table(done: list[Workload]) -> str:
    lines = [
        "| workload (per unit) | runstone wall | client CPU | runstone server CPU | floor wall | floor client CPU "
        "| floor server CPU | SDK wall | SDK client CPU | server CPU under SDK | MLflow server CPU |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for w in done:
        rs, ml, fl, sdk = (w.samples[s] for s in SIDES)
        writers = w.unit == "batch" and "writer" in w.label

        def cpu(s: Sample, writers: bool = writers) -> str:
            return "n/a" if writers else _ms(s.per_unit("client_cpu"))

        lines.append(
            f"| {w.label} | {_ms(rs.per_unit())} | {cpu(rs)} | {_ms(rs.per_unit('server_cpu'))} "
            f"| {_ms(fl.per_unit())} | {cpu(fl)} | {_ms(fl.per_unit('server_cpu'))} | {_ms(sdk.per_unit())} | {cpu(sdk)} "
            f"| {_ms(sdk.per_unit('server_cpu'))} | {_ms(ml.per_unit('server_cpu'))} |"
        )
    return "\n".join(lines)


def section(done: list[Workload], sizes: Sizes, machine: list[str], floors: Floors) -> str:
    verdicts = [verdict(w, floors) for w in done]
    met = sum(stock == "met" for stock, _ in verdicts)
    impossible = sum(stock.startswith("cannot") for stock, _ in verdicts)
    own = sum(sdk == "met" for _, sdk in verdicts)
    return f"""{SECTION}

Written by `python -m bench.mlflow_client`. The stock `mlflow` client (`MlflowClient`) drives
runstone and MLflow (serving its artifacts, `--artifacts-destination`, so that files go through
the server as they do for a remote client), and a floor: bench/client_floor.py, a server that answers each route at
once with a fixed body and stores nothing, so the time the client spends against it is the
client's own (entities, protobuf and JSON, its HTTP session, reading and writing local files).
runstone's own SDK (`RunstoneClient`) runs the same workloads against the same runstone
server. The four take turns block by block, so that other work on the machine weighs on all
alike; every number is wall time per unit of work, summed over the turns (warm-up turns left out).

{chr(10).join(machine)}

{table(done, floors)}

The targets: through the stock client, no workload slower than MLflow and each within 20% of
the floor ({met} of {len(done)} met, {impossible} out of reach of any server that acknowledges
a write only once it is durable and answers through an ASGI stack: measured by the bench before
it starts, one durable commit takes {_ms(floors.commit)} on this disk, and a request to a bare
uvicorn + Starlette app answering at once takes {_ms(floors.request)} more than the same request to the
floor's server, both through the stock client's HTTP library; the floor counts the requests of
each unit); runstone's SDK at least as fast as the stock client on
runstone ({own} of {len(done)} met). A run is created with its 3 tags, gets its 10 params and 5
metrics in one `log_batch` and is terminated: 3 requests. Sizes are smaller than the issue's
where the full size would not fit a run of about 10 minutes on this machine: {sizes.runs:,} runs
instead of 5,000, a search over {sizes.search_runs:,} runs (populated through each server's own
API, not timed) and {sizes.log_points:,} points through `log_batch`; the 8 writers log
{sizes.points_per_writer:,} points each.

Where the time goes, measured in the same run: "client CPU" is the CPU time of the process
running the client (the bench itself), "server CPU" that of the server's processes, both per
unit. Wall time above the sum of the two is waiting: fsyncs, the scheduler on a loaded machine.
For the writers the clients are 8 other processes, whose CPU is not counted here.

{cpu_table(done)}
"""


def write(path: Path, own: str) -> None:
    """Replace this bench's section of the performance page, keeping the others."""
    existing = path.read_text() if path.exists() else HEADER
    parts = ("\n" + existing).split("\n## ")
    head, sections = parts[0].strip("\n") + "\n", ["## " + p.strip("\n") + "\n" for p in parts[1:]]
    kept = [s for s in sections if not s.startswith(SECTION)]
    path.write_text("\n".join([head, *kept, own.strip("\n") + "\n"]))


def _mlflow_proxied(venv: Path) -> suite.Launcher:
    """MLflow serving its artifacts (``mlflow-artifacts:/``), as a remote server's clients meet
    it: the stock client uploads and downloads through the server rather than writing to the
    server's folder directly, as it would with a local ``--default-artifact-root``."""
    base = suite.mlflow_launcher(venv)

    def argv(folder: Path, port: int) -> list[str]:
        line = base.argv(folder, port)
        at = line.index("--default-artifact-root")
        return [*line[:at], *line[at + 2 :], "--artifacts-destination", str(folder / "mlartifacts")]

    return suite.Launcher(base.name, base.target, argv, base.env)


def bare_request_cost(floor_url: str, folder: Path, rounds: int = 5, count: int = 200) -> float:
    """Seconds a request to a bare uvicorn + Starlette app (bench.small's, answering at once)
    takes over the same small POST to the floor's server, both through ``requests`` (the stock
    client's HTTP library) on a kept-alive connection: medians of blocks taken in turn."""
    import requests

    port = free_port()
    with (folder / "bare.log").open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", ECHO, str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=clean_environment("RUNSTONE_", PYTHONPATH=str(REPO)),
            start_new_session=True,
        )
    try:
        body = json.dumps({"run_id": "0" * 32, "key": "m", "value": 1.0, "timestamp": 1, "step": 1})
        headers = {"Content-Type": "application/json"}
        targets = {"bare": f"http://{HOST}:{port}/echo", "floor": f"{floor_url}/api/2.0/mlflow/runs/log-metric"}
        blocks: dict[str, list[float]] = {name: [] for name in targets}
        with requests.Session() as http:
            deadline = time.monotonic() + 120
            while True:
                try:
                    http.post(targets["bare"], data=body, headers=headers, timeout=30).raise_for_status()
                    break
                except requests.ConnectionError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise BenchError("the bare ASGI server did not start") from None
                    time.sleep(0.02)
            for _ in range(rounds):
                for name, url in targets.items():
                    samples = []
                    for _ in range(count):
                        began = time.perf_counter()
                        http.post(url, data=body, headers=headers, timeout=30).raise_for_status()
                        samples.append(time.perf_counter() - began)
                    blocks[name].append(statistics.median(samples))
        return max(0.0, statistics.median(blocks["bare"]) - statistics.median(blocks["floor"]))
    finally:
        process.terminate()
        process.wait(30)


def _start_floor(folder: Path, sizes: Sizes) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "bench.client_floor", "--port", str(port), "--history-points", str(sizes.log_points)]
    env = clean_environment("MLFLOW_", PYTHONPATH=str(REPO))
    return Server.start("floor", argv, port=port, log_path=folder / "floor" / "server.log", env=env)


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
    os.environ.update(
        MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false"
    )
    # Stopped with SIGTERM, still stop the servers this bench started (in the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = QUICK if args.quick else FULL
    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:7.1f}s] {message}", file=sys.stderr, flush=True)

    machine = _machine(args.mlflow_venv / "bin" / "python")
    folder = Path(tempfile.mkdtemp(prefix="runstone-client-bench-"))
    started: list[Server] = []
    commit = commit_floor(folder / "commit", 300)
    try:
        for launcher in (suite.runstone_launcher(), _mlflow_proxied(args.mlflow_venv)):
            started.append(launcher.start(folder / launcher.name))
            log(f"{launcher.name}: answered /health {started[-1].startup_seconds:.1f} s after start")
        started.append(_start_floor(folder, sizes))
        runstone, mlflow, floor = started
        floors = Floors(commit, bare_request_cost(floor.url, folder))
        log(f"a bare ASGI server's request takes {_ms(floors.request)} more than the floor's")
        log(f"servers idle after {_settle(started):.1f} s")
        sides = [
            Side("runstone", runstone.url, runstone),
            Side("MLflow", mlflow.url, mlflow),
            Side("floor", floor.url, floor),
            Side("SDK", runstone.url, runstone, sdk=True),
        ]
        done = drive(sides, sizes, folder, log)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 2
    finally:
        for server in started:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    # Other work on the machine slows every side: say how busy it was.
    machine.append(f"- **Load average after the run**: {_load()}")
    machine.append(f"- **Bench wall time**: {time.perf_counter() - began:.0f} s")
    print(table(done, floors))
    print()
    print(cpu_table(done))
    if not args.quick:
        write(args.output, section(done, sizes, machine, floors))
        print(f"\nWrote the section {SECTION!r} of {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
