"""Web UI benchmark: the runs table, a run page and compare, at the sizes issue 3 names.

    .venv/bin/python -m bench.ui                         # full sizes, with MLflow if found
    .venv/bin/python -m bench.ui --quick --no-mlflow     # small sizes, to check the harness

Measures, on one machine in one run:

- the runs-table page of an experiment of 10,000 runs with 200 metric keys each, answered by a
  ``runstone server`` (server-side time: wall time of the request on a kept-alive loopback
  connection, median of several), in its common variants;
- a run page whose metric has 1,000,000 steps: time until its chart has data on screen in
  headless Chromium, with an empty browser cache and with a warm one;
- compare of 100 of those runs: time until the parallel-coordinates plot, the scatter and the
  first metric chart are drawn;
- like for like, the time until the runs table shows its first rows, in the same Chromium, for
  runstone's UI and for MLflow's UI (``mlflow server`` on the same data, written through
  MLflow's own client into its SQLite store).

It prints a table and writes it as the "Web UI" section of docs/performance.md, leaving the
rest of that file as it is.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.page import write_section
from bench.servers import Server, clean_environment, free_port

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SECTION = "## Web UI"


@dataclass
class Sizes:
    runs: int
    metric_keys: int
    params: int
    long_steps: int
    compared: int


FULL = Sizes(runs=10_000, metric_keys=200, params=10, long_steps=1_000_000, compared=100)
QUICK = Sizes(runs=300, metric_keys=20, params=5, long_steps=20_000, compared=20)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data
def populate_runstone(home: Path, sizes: Sizes) -> dict[str, Any]:
    """The experiment through runstone's own services (in-process, same SQLite file the server reads)."""
    from runstone.backend import open_backend
    from runstone.config import Settings
    from runstone.entities import Metric
    from runstone.governance.context import Principal

    backend = open_backend(Settings(home=home))
    tracking = backend.tracking(backend.context(Principal("bench")))
    rng = random.Random(7)
    exp_id = tracking.create_experiment("ui-bench")
    keys = [f"metric_{i:03d}" for i in range(sizes.metric_keys)]
    run_ids = []
    for i in range(sizes.runs):
        run = tracking.create_run(
            exp_id,
            run_name=f"run-{i:05d}",
            start_time=1_700_000_000_000 + i * 1000,
            tags={"runstone.source.name": "train.py", "runstone.source.git.commit": f"{rng.getrandbits(160):040x}"},
        )
        run_id = run.info.run_id
        tracking.log_batch(
            run_id,
            metrics=[Metric(k, rng.random(), 1_700_000_000_000 + i * 1000, 0) for k in keys],
            params={f"param_{j}": str(rng.randint(1, 50)) for j in range(sizes.params)},
            tags={"team": rng.choice(["vision", "nlp", "speech"])},
        )
        run_ids.append(run_id)
        if (i + 1) % 1000 == 0:
            log(f"runstone: {i + 1:,} runs written")
    long_exp = tracking.create_experiment("ui-bench-long")
    long_run = tracking.create_run(long_exp, run_name="long").info.run_id
    batch = 10_000
    for start in range(0, sizes.long_steps, batch):
        tracking.log_batch(
            long_run,
            metrics=[
                Metric(
                    "loss", 1 / (1 + s / 1000) + (5.0 if s == sizes.long_steps // 3 else 0.0), 1_700_000_000_000 + s, s
                )
                for s in range(start, min(start + batch, sizes.long_steps))
            ],
        )
    backend.close()
    return {"experiment_id": exp_id, "run_ids": run_ids, "long_run": long_run}


def reuse_runstone(home: Path) -> dict[str, Any]:
    """The ids of an experiment that an earlier run wrote (``--keep``), to measure again."""
    import sqlite3

    db = sqlite3.connect(str(home / "runstone.db"))
    try:
        exp_id = db.execute("SELECT id FROM experiments WHERE name = 'ui-bench'").fetchone()[0]
        run_ids = [r[0] for r in db.execute("SELECT uuid FROM runs WHERE experiment_id = ? ORDER BY id", (exp_id,))]
        long_run = db.execute(
            "SELECT r.uuid FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE e.name = 'ui-bench-long'"
        ).fetchone()[0]
    finally:
        db.close()
    return {"experiment_id": str(exp_id), "run_ids": run_ids, "long_run": long_run}


def mlflow_experiment_id(path: Path) -> str:
    import sqlite3

    db = sqlite3.connect(str(path))
    try:
        return str(db.execute("SELECT experiment_id FROM experiments WHERE name = 'ui-bench'").fetchone()[0])
    finally:
        db.close()


MLFLOW_POPULATE = textwrap.dedent(
    """
    import random, sys, time
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient
    uri, runs, metric_keys, params = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    client = MlflowClient(tracking_uri=uri)
    rng = random.Random(7)
    exp_id = client.create_experiment("ui-bench")
    keys = [f"metric_{i:03d}" for i in range(metric_keys)]
    for i in range(runs):
        run = client.create_run(exp_id, start_time=1_700_000_000_000 + i * 1000, run_name=f"run-{i:05d}",
                                tags={"mlflow.source.name": "train.py", "mlflow.source.git.commit": f"{rng.getrandbits(160):040x}"})
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, rng.random(), 1_700_000_000_000 + i * 1000, 0) for k in keys],
            params=[Param(f"param_{j}", str(rng.randint(1, 50))) for j in range(params)],
            tags=[RunTag("team", rng.choice(["vision", "nlp", "speech"]))],
        )
        if (i + 1) % 1000 == 0:
            print(f"mlflow: {i + 1:,} runs written", file=sys.stderr, flush=True)
    print(exp_id)
    """
)


# -------------------------------------------------------------------------- measures
def median_ms(client: httpx.Client, url: str, repeat: int) -> float:
    for _ in range(2):
        assert client.get(url).status_code == 200, url
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, url
    return statistics.median(times)


def table_timings(server: Server, data: dict[str, Any], repeat: int) -> dict[str, float]:
    exp = data["experiment_id"]
    base = f"/ui/experiments/{exp}"
    chosen = "&".join(f"col=metrics.metric_{i:03d}" for i in range(0, 200, 10))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        first = client.get(base).text
        token_start = first.find("page_token=")
        next_link = first[token_start : first.find('"', token_start)].replace("&amp;", "&") if token_start > 0 else ""
        variants = {
            "runs table, default columns": base,
            "runs table, sorted by a metric": f"{base}?cols=1&col=metrics.metric_007&col=params.param_1&order=metrics.metric_007+DESC",
            "runs table, 20 metric columns": f"{base}?cols=1&{chosen}",
            "runs table, filtered on a metric and a param": f"{base}?filter=metrics.metric_001+%3C+0.5+and+params.param_1+%3D+%2717%27",
            "runs table, second page (page token)": f"{base}?{next_link}",
            "column picker (every key of the experiment)": f"{base}/columns",
            f"metric history, {data['long_steps']:,} steps downsampled to 1,000": f"/ui/data/histories?key=loss&run={data['long_run']}&max_points=1000",
        }
        return {name: median_ms(client, url, repeat) for name, url in variants.items()}


def _wait_drawn(page: Any, selector: str, timeout: float = 60_000) -> float:
    page.wait_for_selector(f"{selector}[data-drawn-at]", timeout=timeout)
    return float(page.get_attribute(selector, "data-drawn-at"))


def browser_timings(server: Server, data: dict[str, Any], profile: Path, sizes: Sizes) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    out: dict[str, float] = {}
    run_url = f"{server.url}/ui/runs/{data['long_run']}"
    compared = data["run_ids"][: sizes.compared]
    compare_url = f"{server.url}/ui/compare?" + "&".join(f"run={r}" for r in compared)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            page = context.new_page()
            page.goto(run_url)
            out["run page, 1,000,000-step chart drawn (empty browser cache)"] = _wait_drawn(
                page, 'figure[data-key="loss"]'
            )
            for _ in range(2):  # Chromium keeps compiled plotly.js from the third load on
                page.goto(run_url)
                _wait_drawn(page, 'figure[data-key="loss"]')
            times = []
            for _ in range(3):
                page.goto(run_url)
                times.append(_wait_drawn(page, 'figure[data-key="loss"]'))
            out["run page, 1,000,000-step chart drawn (warm browser cache)"] = statistics.median(times)
            times = []
            for _ in range(3):
                page.goto(compare_url, wait_until="domcontentloaded")
                # Metric charts draw when scrolled into view: scroll to the first one at once.
                page.locator("figure[data-chart]").first.scroll_into_view_if_needed()
                drawn = [
                    _wait_drawn(page, "#parallel"),
                    _wait_drawn(page, "#scatter"),
                    _wait_drawn(page, "figure[data-chart]"),
                ]
                times.append(max(drawn))
            out[f"compare {len(compared)} runs: parallel coordinates, scatter and first chart drawn"] = (
                statistics.median(times)
            )
            times = []
            for _ in range(3):
                start = time.perf_counter()
                page.goto(f"{server.url}/ui/experiments/{data['experiment_id']}", wait_until="commit")
                page.wait_for_selector("table.runs tbody tr td.name a")
                times.append((time.perf_counter() - start) * 1000)
            out["runstone UI: runs table shows its first rows"] = statistics.median(times)
        finally:
            context.close()
    return out


def mlflow_first_rows(url: str, experiment_id: str, profile: Path, newest: str) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            page = context.new_page()
            page.goto(f"{url}/#/experiments/{experiment_id}/runs")  # warm the browser cache first
            page.get_by_text(newest, exact=True).first.wait_for(timeout=120_000)
            times = []
            for _ in range(3):
                page.goto("about:blank")
                start = time.perf_counter()
                page.goto(f"{url}/#/experiments/{experiment_id}/runs", wait_until="commit")
                page.get_by_text(newest, exact=True).first.wait_for(timeout=120_000)
                times.append((time.perf_counter() - start) * 1000)
            return statistics.median(times)
        finally:
            context.close()


# ----------------------------------------------------------------------------- report
def markdown(results: dict[str, float], mlflow_ms: float | None, sizes: Sizes, machine: str) -> str:
    targets = {
        "runs table, default columns": 300,
        "run page, 1,000,000-step chart drawn (warm browser cache)": 1000,
    }
    lines = [
        SECTION,
        "",
        f"Written by `python -m bench.ui` ({machine}).",
        "",
        f"An experiment of {sizes.runs:,} runs, each with {sizes.metric_keys} metric keys, {sizes.params} params",
        "and 3 tags, on the embedded SQLite store; one",
        "`runstone server` process. Server times are the median wall time of a request on a kept-alive",
        "loopback connection; browser times are measured in headless Chromium (Debian's `chromium`,",
        "driven by Playwright) from the start of navigation until the chart has data on screen or the",
        "table shows rows.",
        "",
        "| measure | time | target |",
        "|---|---:|---:|",
    ]
    for name, ms in results.items():
        target = targets.get(name)
        if name.startswith("compare"):
            target = 2000
        lines.append(f"| {name} | {ms:,.0f} ms | {f'< {target:,} ms' if target else ''} |")
    if mlflow_ms is not None:
        ours = results["runstone UI: runs table shows its first rows"]
        lines += [
            "",
            "Like for like, the time until the runs table shows its first rows in the same Chromium",
            "(warm browser cache, same data written through each project's own client):",
            "",
            "| UI | time to first rows |",
            "|---|---:|",
            f"| runstone | {ours:,.0f} ms |",
            f"| MLflow | {mlflow_ms:,.0f} ms |",
            f"| runstone vs MLflow | {mlflow_ms / ours:,.1f}x |",
        ]
    lines += [
        "",
        "Reading the figures:",
        "",
        "- The first visit of a chart page also downloads plotly.js (4.8 MB, 1.4 MB gzipped) and compiles",
        "  it; the browser keeps it (its URL carries plotly's version), and from the third visit on",
        "  Chromium reuses the compiled code, which the warm figures show.",
        "- A chart of a 1,000,000-step metric does not read its million points: the store keeps a",
        "  summary of every block of 256 steps as points are written (count, and the points holding",
        "  the minimum and the maximum), and the downsampled history is built from those, so a spike",
        "  still shows.",
        "- The compare figure includes plotly's parallel coordinates, which draw with WebGL; this",
        "  GPU-less headless Chromium runs WebGL in software, and that one plot takes about 0.8 s of",
        "  the figure on every visit, whatever the number of runs. It is drawn last, after the",
        "  tables, the scatter and the first metric chart.",
        "- The compare page keeps its table of latest metric values folded when there are more than",
        "  20 metrics (here 200 metrics of 100 runs, 20,000 cells); the browser lays it out only when",
        "  opened.",
        "- The machine is shared: the load average above says how busy it was, and every figure",
        "  moves with it.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ui", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; writes no docs")
    parser.add_argument(
        "--mlflow-venv", type=Path, default=REPO / "bench" / ".venv-mlflow", help="virtualenv with mlflow"
    )
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow's UI")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stores and logs")
    parser.add_argument("--reuse", type=Path, help="a folder kept (--keep) by an earlier full run: measure again")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    load_at_start = os.getloadavg()[0]  # other work on the machine slows every figure
    folder = Path(tempfile.mkdtemp(prefix="runstone-ui-bench-"))
    mlflow_python = args.mlflow_venv / "bin" / "python"
    use_mlflow = not args.no_mlflow and mlflow_python.exists()
    if not args.no_mlflow and not use_mlflow:
        log(f"no MLflow at {args.mlflow_venv} (create it with bash bench/run, or pass --mlflow-venv); skipping it")
    log(f"stores and logs in {folder}")
    try:
        mlflow_job = None
        kept_mlflow = args.reuse / "mlflow" / "mlflow.db" if args.reuse else None
        if kept_mlflow is not None and use_mlflow and kept_mlflow.exists():
            (folder / "mlflow").mkdir()
            shutil.copy(kept_mlflow, folder / "mlflow" / "mlflow.db")
        elif use_mlflow:
            (folder / "mlflow").mkdir()
            log("writing the same experiment into MLflow's store (in the background)")
            mlflow_job = subprocess.Popen(
                [str(mlflow_python), "-c", MLFLOW_POPULATE, f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}",
                 str(sizes.runs), str(sizes.metric_keys), str(sizes.params)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_environment("MLFLOW_", "RUNSTONE_"),
            )  # fmt: skip
        if args.reuse:
            data = reuse_runstone(args.reuse / "runstone")
            shutil.copytree(args.reuse / "runstone", folder / "runstone")
        else:
            log(f"writing {sizes.runs:,} runs x {sizes.metric_keys} metric keys into runstone")
            data = populate_runstone(folder / "runstone", sizes)
        data["long_steps"] = sizes.long_steps
        mlflow_exp = None
        if mlflow_job is not None:
            # Measure on a quiet machine: MLflow's store is still being written in the background.
            log("waiting for MLflow's store to be written before measuring")
            out, err = mlflow_job.communicate()
            if mlflow_job.returncode != 0:
                raise RuntimeError(f"populating MLflow failed:\n{err[-3000:]}")
            mlflow_exp = out.strip().splitlines()[-1]
        port = free_port()
        server = Server.start(
            "runstone",
            [
                str(Path(sys.executable).parent / "runstone"),
                "server",
                "--home",
                str(folder / "runstone"),
                "--port",
                str(port),
            ],
            port=port,
            log_path=folder / "runstone.log",
            env=clean_environment("RUNSTONE_", RUNSTONE_LOG_REQUESTS="false"),
        )
        try:
            results = table_timings(server, data, repeat=5 if args.quick else 15)
            results.update(browser_timings(server, data, folder / "chromium-runstone", sizes))
            for name, ms in results.items():
                log(f"{name}: {ms:,.0f} ms")
        finally:
            server.stop()
        mlflow_ms = None
        if use_mlflow:
            if mlflow_exp is None:
                mlflow_exp = mlflow_experiment_id(folder / "mlflow" / "mlflow.db")
            port = free_port()
            mlflow = Server.start(
                "mlflow",
                [str(mlflow_python), "-m", "mlflow", "server", "--backend-store-uri",
                 f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}", "--default-artifact-root",
                 str(folder / "mlflow" / "artifacts"), "--host", "127.0.0.1", "--port", str(port)],
                port=port,
                log_path=folder / "mlflow.log",
                env=clean_environment("MLFLOW_", "RUNSTONE_"),
            )  # fmt: skip
            try:
                mlflow_ms = mlflow_first_rows(
                    mlflow.url, mlflow_exp, folder / "chromium-mlflow", f"run-{sizes.runs - 1:05d}"
                )
                log(f"MLflow UI: runs table shows its first rows: {mlflow_ms:,.0f} ms")
            except Exception as exc:  # the runstone figures stand on their own
                log(f"measuring MLflow's UI failed: {exc}")
            finally:
                mlflow.stop()
    finally:
        if args.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    machine = (
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}; "
        f"1-minute load average {load_at_start:.1f} at the start and {os.getloadavg()[0]:.1f} at the end"
    )
    section = markdown(results, mlflow_ms, sizes, machine)
    print(section)
    if not args.quick and not args.no_write:
        write_section(args.output, SECTION, section)
        log(f"wrote the Web UI section of {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
