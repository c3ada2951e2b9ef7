"""Workspace benchmark: the experiment page's panel grid and grouping, at the sizes issue 17 names.

    .venv/bin/python -m bench.workspace             # 100 runs x 50 metrics x 10,000 steps
    .venv/bin/python -m bench.workspace --quick     # small sizes, to check the harness

Measures, on one machine in one run, against one ``runstone server`` on the embedded SQLite store:

- the workspace of 100 visible runs x 50 metric keys of 10,000 steps each, in headless Chromium:
  time from the start of navigation until the first panels have data on screen (the page opened
  at its workspace, 1400 x 900 window), and until all 50 panels have (a window tall enough to show
  them all, so that lazy loading draws every one);
- one batch of panels' histories (12 keys x 100 runs, downsampled) as the server answers it;
- grouping 1,000 runs by a param with aggregates of 5 metrics (server wall time, median).

MLflow's UI has no equivalent of a workspace of every metric or of grouping with bands, so there is
no MLflow figure here. Prints a table and writes it as the "Workspace" section of
docs/performance.md, leaving the rest of that file as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.page import write_section
from bench.servers import Server, clean_environment, free_port
from bench.ui import CHROMIUM, CHROMIUM_ARGS, log, median_ms

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Workspace"


@dataclass
class Sizes:
    runs: int
    keys: int
    steps: int
    grouped_runs: int


FULL = Sizes(runs=100, keys=50, steps=10_000, grouped_runs=1000)
QUICK = Sizes(runs=20, keys=10, steps=1000, grouped_runs=200)
PREFIXES = ("train", "val", "system", "eval", "grad")


def populate(home: Path, sizes: Sizes) -> dict[str, Any]:
    from runstone.backend import open_backend
    from runstone.config import Settings
    from runstone.entities import Metric
    from runstone.governance.context import Principal

    backend = open_backend(Settings(home=home))
    tracking = backend.tracking(backend.context(Principal("bench")))
    exp_id = tracking.create_experiment("workspace-bench")
    keys = [f"{PREFIXES[i % len(PREFIXES)]}/metric_{i:02d}" for i in range(sizes.keys)]
    t0 = 1_700_000_000_000
    for r in range(sizes.runs):
        run_id = tracking.create_run(exp_id, run_name=f"run-{r:03d}", start_time=t0 + r).info.run_id
        tracking.log_batch(run_id, params=[("lr", str(0.001 * (1 + r % 5))), ("optimizer", ("adam", "sgd")[r % 2])])
        points: list[Metric] = []
        for k, key in enumerate(keys):
            for s in range(sizes.steps):
                points.append(Metric(key, 1.0 / (1 + s * (1 + (r + k) % 7) / 1000) + (s % 13) * 0.001, t0 + s * 100, s))
                if len(points) == 10_000:
                    tracking.log_batch(run_id, metrics=points)
                    points = []
        if points:
            tracking.log_batch(run_id, metrics=points)
        if (r + 1) % 10 == 0:
            log(f"workspace runs written: {r + 1}/{sizes.runs}")
    group_exp = tracking.create_experiment("grouping-bench")
    for r in range(sizes.grouped_runs):
        run_id = tracking.create_run(group_exp, run_name=f"g-{r:04d}", start_time=t0 + r).info.run_id
        tracking.log_batch(
            run_id,
            metrics=[Metric(f"m{k}", (r * 7 + k) % 100 / 100, t0, 0) for k in range(5)],
            params=[("optimizer", ("adam", "sgd", "rmsprop")[r % 3]), ("lr", str(r % 5))],
        )
    backend.close()
    return {"experiment_id": exp_id, "keys": keys, "group_experiment_id": group_exp}


def server_timings(server: Server, data: dict[str, Any], sizes: Sizes, repeat: int) -> dict[str, float]:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        runs = client.post(
            "/api/v1/runs/search", json={"experiment_ids": [data["experiment_id"]], "max_results": sizes.runs}
        ).json()["runs"]
        run_query = "&".join(f"run={r['info']['run_id']}" for r in runs)
        key_query = "&".join(f"key={k}" for k in data["keys"][:12])
        metrics = "&".join(f"metric=m{k}" for k in range(5))
        points = max(40, min(500, 4000 // sizes.runs))  # what the workspace asks for (workspace.js maxPoints)
        return {
            f"one panel batch: 12 keys x {sizes.runs} runs of {sizes.steps:,} steps, {points} points a run": median_ms(
                client, f"/ui/data/history-grid?{run_query}&{key_query}&max_points={points}", repeat
            ),
            f"grouping {sizes.grouped_runs:,} runs by a param, aggregates of 5 metrics": median_ms(
                client,
                f"/ui/data/groups?experiment={data['group_experiment_id']}&group=params.optimizer&{metrics}",
                repeat,
            ),
        }


def _panel_times(page: Any, count: int) -> list[float]:
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-panel][data-drawn-at]').length >= {count}", timeout=120_000
    )
    return [
        float(t)
        for t in page.eval_on_selector_all("[data-panel][data-drawn-at]", "els => els.map(e => e.dataset.drawnAt)")
    ]


def browser_timings(server: Server, data: dict[str, Any], profile: Path, sizes: Sizes) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    url = f"{server.url}/ui/experiments/{data['experiment_id']}?max={sizes.runs}"
    settings = json.dumps({"first": sizes.runs})
    out: dict[str, float] = {}
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )  # fmt: skip
        try:
            page = context.new_page()
            page.goto(f"{server.url}/ui/")
            page.evaluate(f"() => localStorage.setItem('runstone.workspace.{data['experiment_id']}', '{settings}')")
            first, every = [], []
            for attempt in range(4):  # the first load fills the browser cache (plotly.js)
                page.set_viewport_size({"width": 1400, "height": 900})
                page.goto(url + "#workspace")
                in_view = page.eval_on_selector_all("[data-panel]", "els => els.length")
                times = _panel_times(page, 1)
                if attempt:
                    first.append(min(times))
                page.goto("about:blank")
                page.set_viewport_size({"width": 1400, "height": 12_000})
                page.goto(url + "#workspace")
                times = _panel_times(page, sizes.keys)
                if attempt:
                    every.append(max(times))
            out[f"workspace, {sizes.runs} runs x {sizes.keys} metrics: first panels drawn"] = statistics.median(first)
            out[f"workspace, {sizes.runs} runs x {sizes.keys} metrics: all {sizes.keys} panels drawn"] = (
                statistics.median(every)
            )
            log(f"panels on the page: {in_view}")
        finally:
            context.close()
    return out


def markdown(results: dict[str, float], sizes: Sizes, machine: str) -> str:
    targets = {"first panels drawn": 1000, "panels drawn": 3000, "grouping": 300}
    lines = [
        SECTION,
        "",
        f"Written by `python -m bench.workspace` ({machine}).",
        "",
        f"An experiment of {sizes.runs} runs, each with {sizes.keys} metric keys of {sizes.steps:,} steps",
        f"({sizes.runs * sizes.keys * sizes.steps:,} points), and one of {sizes.grouped_runs:,} runs with 2 params and",
        "5 metrics, on the embedded SQLite store; one `runstone server` process. Browser times run in",
        "headless Chromium (warm browser cache) from the start of navigation to the experiment page",
        f"showing all {sizes.runs} runs (*Show the first {sizes.runs}*) until the first panel, and every panel, has",
        "its data drawn; for *all panels* the window is tall enough to show every panel at once, so lazy",
        "loading draws them all. Server times are the median wall time of a request on a kept-alive",
        "loopback connection. MLflow's UI has no workspace of every metric nor grouping with bands, so",
        "there is no MLflow figure to set beside these.",
        "",
        "| measure | time | target |",
        "|---|---:|---:|",
    ]
    for name, ms in results.items():
        target = next((t for word, t in targets.items() if word in name), None)
        if "all" in name and "panels drawn" in name:
            target = 3000
        lines.append(f"| {name} | {ms:,.0f} ms | {f'< {target:,} ms' if target else ''} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the harness")
    parser.add_argument("--keep", type=Path, help="keep (or reuse) the populated home in this folder")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    load_at_start = os.getloadavg()[0]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="runstone-bench-workspace-"))
    try:
        marker = folder / "populated.txt"
        if marker.exists():
            data = json.loads(marker.read_text())
        else:
            started = time.perf_counter()
            data = populate(folder / "runstone", sizes)
            marker.write_text(json.dumps(data))
            log(f"populated in {time.perf_counter() - started:,.0f} s")
        port = free_port()
        server = Server.start(
            "runstone",
            [str(Path(sys.executable).parent / "runstone"), "server", "--home", str(folder / "runstone"), "--port", str(port)],
            port=port,
            log_path=folder / "runstone.log",
            env=clean_environment("RUNSTONE_", RUNSTONE_LOG_REQUESTS="false"),
        )  # fmt: skip
        try:
            results = server_timings(server, data, sizes, repeat=5)
            results.update(browser_timings(server, data, folder / "chromium", sizes))
            for name, ms in results.items():
                log(f"{name}: {ms:,.0f} ms")
        finally:
            server.stop()
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    machine = (
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}; "
        f"1-minute load average {load_at_start:.1f} at the start and {os.getloadavg()[0]:.1f} at the end"
    )
    section = markdown(results, sizes, machine)
    print(section)
    if not args.quick and not args.no_write:
        write_section(args.output, SECTION, section)
        log(f"wrote the Workspace section of {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
