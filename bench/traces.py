"""Trace ingest against the tracking hot path: log-batch latency on a quiet server, then while
other processes send traces as the stock MLflow 3 client does (trace info, then its spans as
traces.json), on runstone and on MLflow's own server, same machine, one run.

    python bench/traces.py [--quick] [--mlflow-python PATH]

Prints a Markdown table (docs/performance.md, "Traces"). Every server and client process
started here is stopped before the script ends.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import Server, clean_environment, free_port

SPANS = 20


def trace_body(experiment_id: str) -> tuple[str, dict[str, Any], bytes]:
    trace_id = "tr-" + uuid.uuid4().hex
    now = time.time()
    info = {
        "trace_id": trace_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}},
        "request_time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now)),
        "execution_duration": "0.120s",
        "state": "OK",
        "trace_metadata": {"mlflow.trace_schema.version": "3"},
        "tags": {"mlflow.traceName": "answer"},
    }
    start = int(now * 1e9)
    spans = [
        {
            "trace_id": "AAAAAAAAAAAAAAAAAAAAAA==",
            "span_id": f"{i:012d}",
            "parent_span_id": None if i == 0 else f"{0:012d}",
            "name": f"step-{i}",
            "start_time_unix_nano": start + i * 1000,
            "end_time_unix_nano": start + i * 1000 + 500,
            "status": {"code": "STATUS_CODE_OK", "message": ""},
            "attributes": {
                "mlflow.spanInputs": json.dumps({"prompt": "tell me about runs " * 10}),
                "mlflow.spanOutputs": '"ok"',
            },
            "events": [],
        }
        for i in range(SPANS)
    ]
    return trace_id, {"trace": {"trace_info": info}}, json.dumps({"spans": spans}).encode()


def ingest(url: str, experiment_id: str, stop_at: float, counter: Any) -> None:
    """Send traces until ``stop_at``, counting those stored."""
    with httpx.Client(timeout=30) as client:
        while time.time() < stop_at:
            _, start, data = trace_body(experiment_id)
            answer = client.post(f"{url}/api/3.0/mlflow/traces", json=start).json()
            location = answer["trace"]["trace_info"]["tags"]["mlflow.artifactLocation"]
            key = location.removeprefix("mlflow-artifacts:").lstrip("/")
            client.put(f"{url}/api/2.0/mlflow-artifacts/artifacts/{key}/traces.json", content=data).raise_for_status()
            with counter.get_lock():
                counter.value += 1


def log_batches(url: str, run_id: str, count: int) -> list[float]:
    """Latencies (s) of ``count`` log-batch requests of 100 metrics on one kept-alive connection."""
    latencies = []
    with httpx.Client(timeout=30) as client:
        for step in range(count):
            metrics = [{"key": f"m{i}", "value": i * 0.5, "timestamp": 1, "step": step} for i in range(100)]
            started = time.perf_counter()
            client.post(
                f"{url}/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": metrics}
            ).raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


def measure(server: Server, batches: int, ingesters: int) -> dict[str, float]:
    with httpx.Client(timeout=30) as client:
        experiment = client.post(
            f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": "bench-traces"}
        ).json()
        experiment_id = experiment["experiment_id"]
        run = client.post(
            f"{server.url}/api/2.0/mlflow/runs/create", json={"experiment_id": experiment_id, "start_time": 1}
        )
        run_id = run.json()["run"]["info"]["run_id"]
    quiet = log_batches(server.url, run_id, batches)
    counter = multiprocessing.Value("i", 0)
    stop_at = time.time() + 3600
    workers = [
        multiprocessing.Process(target=ingest, args=(server.url, experiment_id, stop_at, counter))
        for _ in range(ingesters)
    ]
    for w in workers:
        w.start()
    try:
        time.sleep(1)  # ingest under way
        with counter.get_lock():
            before = counter.value
        started = time.perf_counter()
        busy = log_batches(server.url, run_id, batches)
        elapsed = time.perf_counter() - started
        with counter.get_lock():
            during = counter.value - before
    finally:
        for w in workers:
            w.terminate()
            w.join()
    return {
        "quiet_p50": statistics.median(quiet) * 1000,
        "quiet_p95": statistics.quantiles(quiet, n=20)[18] * 1000,
        "busy_p50": statistics.median(busy) * 1000,
        "busy_p95": statistics.quantiles(busy, n=20)[18] * 1000,
        "traces_per_s": during / elapsed,
    }


def start(name: str, argv: list[str], home: Path, env: dict[str, str]) -> Server:
    port = free_port()
    return Server.start(name, [*argv, "--port", str(port)], port=port, log_path=home / f"{name}.log", env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the harness")
    parser.add_argument("--mlflow-python", default=sys.executable, help="a Python that has mlflow installed")
    parser.add_argument("--ingesters", type=int, default=2, help="processes sending traces meanwhile")
    args = parser.parse_args(argv)
    batches = 60 if args.quick else 300
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-traces-") as tmp:
        home = Path(tmp)
        env = clean_environment("RUNSTONE_", "MLFLOW_", RUNSTONE_HOME=str(home / "runstone"))
        server = start("runstone", [sys.executable, "-m", "runstone", "server"], home, env)
        try:
            results["runstone"] = measure(server, batches, args.ingesters)
        finally:
            server.stop()
        os.makedirs(home / "mlflow", exist_ok=True)
        mlflow_argv = [
            args.mlflow_python, "-m", "mlflow", "server", "--host", "127.0.0.1",
            "--backend-store-uri", f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
            "--artifacts-destination", str(home / "mlflow" / "artifacts"),
        ]  # fmt: skip
        env = clean_environment("RUNSTONE_", "MLFLOW_", MLFLOW_DISABLE_TELEMETRY="true")
        server = start("mlflow", mlflow_argv, home, env)
        try:
            results["mlflow"] = measure(server, batches, args.ingesters)
        finally:
            server.stop()
    print(
        f"log-batch of 100 metrics, {batches} requests; {args.ingesters} processes sending {SPANS}-span traces meanwhile\n"
    )
    print(
        "| server | log-batch p50 quiet | p95 quiet | p50 during ingest | p95 during ingest | traces stored/s during |"
    )
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['quiet_p50']:.1f} ms | {r['quiet_p95']:.1f} ms | {r['busy_p50']:.1f} ms "
            f"| {r['busy_p95']:.1f} ms | {r['traces_per_s']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
