"""Monitoring benchmark: what prediction logging costs the scoring server, and how long one
window's drift takes over 1,000,000 logged predictions.

    python bench/monitoring.py [--quick] [--workers N] [--rounds N]

Prints Markdown tables (docs/performance.md, "Monitoring"). The serving part starts
``runstone models serve`` on the same scikit-learn model with and without
``--log-predictions``, and a second server without it as a control (its distance from the first
is the harness's noise), side by side; it alternates the load between them in short rounds
(medians kept), from separate client processes, as bench/serving.py does. The drift part stores 1,000,000 logged rows (10 features:
8 numbers, 2 categories) in an embedded store on this machine and times the window's analysis
through the monitoring service: reading the Parquet logs, drift of every feature and of the
predictions, and quality on the labelled requests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import Process, free_port, load, train


def _scrape_totals(port: int) -> tuple[float, float | None]:
    """Requests answered and prediction-log records handled (written, dropped or failed)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    requests, records = 0.0, None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "runstone_serving_requests_total":
                requests += sample.value
            elif sample.name == "runstone_serving_prediction_log_records_total":
                records = (records or 0.0) + sample.value
    return requests, records


def settle(port: int, timeout: float = 120.0) -> None:
    """Wait until the server's prediction logger has handled every request (a server without
    one has nothing to wait for)."""
    deadline = time.monotonic() + timeout
    while True:
        requests, records = _scrape_totals(port)
        if records is None or records >= requests or time.monotonic() > deadline:
            return
        time.sleep(0.1)


def tree_cpu(pid: int) -> float:
    """CPU seconds (user and system) of a process and all its children: every worker and thread."""
    import psutil

    found = psutil.Process(pid)
    total = 0.0
    for proc in [found, *found.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def logging_cost(folder: Path, workers: int, seconds: float, rounds: int) -> dict[str, dict[str, float]]:
    import json

    model_path, X = train(folder)
    one = json.dumps({"dataframe_split": X.head(1).to_dict(orient="split")}).encode()
    runstone_cli = str(Path(sys.executable).parent / "runstone")
    base = [runstone_cli, "models", "serve", "-m", str(model_path), "--host", "127.0.0.1", "--port", "{port}",
            "--workers", str(workers)]  # fmt: skip
    # A third server, without logging like the first, is the control: how far it lands from the
    # first is what the harness shows when nothing differs.
    variants = {"off": base, "on": [*base, "--log-predictions", str(folder / "predictions")], "control": base}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    # The servers run side by side and the loads alternate in short rounds, so a change in the
    # machine's other work weighs on every variant alike.
    servers = {}
    try:
        for name, argv in variants.items():
            port = free_port()
            servers[name] = (
                port,
                Process([a.replace("{port}", str(port)) for a in argv], port, folder / f"{name}.log"),
            )
        for i in range(rounds):
            # Each round starts with the other variant, and no load starts while the logging
            # server is still writing the records of the previous one: that backlog would be
            # measured against whichever server ran next.
            names = list(servers)
            for name in names[i % len(names) :] + names[: i % len(names)]:
                port, server = servers[name]
                cpu, answered = tree_cpu(server.process.pid), _scrape_totals(port)[0]
                runs[name].append({"single": load(port, one, 1, seconds), "eight": load(port, one, 8, seconds)})
                settle(port)
                # The server's CPU per request, the writer's work included: what the machine's other
                # load does to latency and throughput does not change it.
                requests = _scrape_totals(port)[0] - answered
                runs[name][-1]["cpu_us"] = (tree_cpu(server.process.pid) - cpu) / requests * 1e6
                print(f"logging {name}: {runs[name][-1]}", file=sys.stderr)
    finally:
        for _port, server in servers.values():
            server.stop()
    out: dict[str, dict[str, float]] = {}
    for name, found in runs.items():
        out[name] = {
            "p50_1": statistics.median(r["single"]["p50"] for r in found),
            "p50_8": statistics.median(r["eight"]["p50"] for r in found),
            "rps_8": statistics.median(r["eight"]["rps"] for r in found),
            "cpu_us": statistics.median(r["cpu_us"] for r in found),
            "rps_8_spread": max(r["eight"]["rps"] for r in found) / min(r["eight"]["rps"] for r in found),
        }
    logged = sum(1 for _ in (folder / "predictions").glob("*.jsonl"))
    out["files"] = {"count": float(logged)}
    return out


def window_drift(folder: Path, rows: int) -> dict[str, float]:
    import numpy as np
    import pyarrow as pa

    from runstone.backend import open_backend
    from runstone.config import Settings
    from runstone.monitoring import logs
    from runstone.monitoring.profile import build_profile

    settings = Settings(home=folder / "home")
    backend = open_backend(settings)
    try:
        tracking, artifacts, registry = backend.tracking(), backend.artifacts(), backend.registry()
        run_id = tracking.create_run().info.run_id
        artifacts.log_artifact(run_id, "model/MLmodel", [b"flavors: {}\n"])
        registry.create_registered_model("bench")
        registry.create_model_version("bench", f"runs:/{run_id}/model", run_id)
        monitoring = backend.monitoring()
        rng = np.random.default_rng(0)

        def frame(n: int, shift: float) -> dict[str, Any]:
            columns: dict[str, Any] = {f"n{i}": rng.normal(shift * (i % 2), 1.0, n) for i in range(8)}
            columns["c0"] = rng.choice(np.array(["a", "b", "c", "d"]), n)
            columns["c1"] = rng.choice(np.array([f"k{i}" for i in range(30)]), n)
            return columns

        import pandas as pd

        reference = pd.DataFrame(frame(100_000, 0.0))
        monitoring.set_profile(
            "bench", "1", build_profile(reference, outputs=(reference["n0"] > 0).astype(int).tolist())
        )
        start = 1_767_225_600_000
        per_request = 10
        stored = 0
        while stored < rows:
            n = min(500_000, rows - stored)
            columns = frame(n, 0.5)
            index = np.arange(stored, stored + n)
            table = pa.table(
                {
                    "request_id": pa.array([f"r{i // per_request}" for i in index]),
                    "row": pa.array(index % per_request, pa.int32()),
                    "timestamp": pa.array(start + index // per_request, pa.int64()),
                    "status": pa.array(np.full(n, 200), pa.int32()),
                    "latency_ms": pa.array(np.full(n, 0.5)),
                    **{logs.INPUT_PREFIX + k: pa.array(v) for k, v in columns.items()},
                    "prediction": pa.array((columns["n0"] > 0).astype(np.float64)),
                }
            )
            monitoring.ingest("bench", "1", logs.to_parquet(table))
            stored += n
        requests = rows // per_request
        monitoring.log_labels([f"r{i}:0" for i in range(0, requests, 10)], [1] * len(range(0, requests, 10)))
        times = []
        for _ in range(3):
            began = time.perf_counter()
            result = monitoring.compute("bench", "1", start, start + 3_600_000)
            times.append(time.perf_counter() - began)
        assert result["rows"] == rows, result["rows"]
        return {"seconds": min(times), "median": statistics.median(times), "drifted": float(len(result["drifted"]))}
    finally:
        backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Short runs (a smoke test of the script).")
    parser.add_argument("--workers", type=int, default=2, help="Worker processes of each server (default 2).")
    parser.add_argument("--rounds", type=int, default=9, help="Rounds of load per server (default 9).")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else 3.0
    rounds = 3 if args.quick else args.rounds
    rows = 100_000 if args.quick else 1_000_000
    with tempfile.TemporaryDirectory(prefix="runstone-bench-monitoring-") as tmp:
        folder = Path(tmp)
        cost = logging_cost(folder, args.workers, seconds, rounds)
        drift = window_drift(folder, rows)
    off, on, control = cost["off"], cost["on"], cost["control"]
    print(f"\nSame scikit-learn model as the serving benchmark, {args.workers} server workers, {os.cpu_count()} cores, "
          "every request logged (sample 1.0).\n")  # fmt: skip
    print("| workload | logging off | logging on | cost | control (logging off) | control vs off |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, label, form in (
        ("p50_1", "1 client, single-row: p50 ms", "{:.2f}"),
        ("p50_8", "8 clients, single-row: p50 ms", "{:.2f}"),
        ("rps_8", "8 clients, single-row: requests/s", "{:,.0f}"),
        ("cpu_us", "server CPU per request (all loads, writer included): us", "{:.0f}"),
    ):
        print(f"| {label} | {form.format(off[key])} | {form.format(on[key])} | {on[key] / off[key] - 1:+.1%} | "
              f"{form.format(control[key])} | {control[key] / off[key] - 1:+.1%} |")  # fmt: skip
    print(f"\n8-client throughput, highest round over lowest: logging off {off['rps_8_spread']:.2f}x, "
          f"on {on['rps_8_spread']:.2f}x, control {control['rps_8_spread']:.2f}x.")  # fmt: skip
    print(f"\nOne window of {rows:,} logged rows (10 features, {rows // 10:,} requests, a tenth of them labelled): "
          f"{drift['seconds']:.2f} s (best of 3; median {drift['median']:.2f} s), {drift['drifted']:.0f} features "
          "drifted.")  # fmt: skip


if __name__ == "__main__":
    main()
