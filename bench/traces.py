"""Trace ingest against the tracking hot path: log-batch latency with no traces arriving, and
while other processes send traces at fixed, realistic rates, as the stock MLflow 3 client sends
them (the spans over OTLP to /v1/traces, then the trace's info, then its spans as traces.json).
On runstone and on MLflow's own server, same machine, one run.

    python bench/traces.py [--quick] [--rates 2,10] [--mlflow-python PATH]

The quiet and the ingesting blocks alternate (``--rounds`` times), so drift in the machine's
load hits both alike. The table shows the trace rate each block reached: a rate below the one
asked for means the server was saturated, and the block measures that rather than the cost of
the rate. Prints a Markdown table (docs/performance.md, "Traces"). Every server and client
process started here is stopped before the script ends.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import Server, clean_environment, free_port

SPANS = 20
INGESTERS = 4


def _attribute(key: str, text: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=text))


def trace_requests(experiment_id: str) -> tuple[bytes, dict[str, Any], bytes]:
    """One trace of SPANS spans as the stock client sends it: the OTLP export of its spans, its
    info, and its spans as MLflow's traces.json."""
    raw_trace = os.urandom(16)
    trace_id = "tr-" + raw_trace.hex()
    now = time.time()
    start = int(now * 1e9)
    prompt = json.dumps({"prompt": "tell me about runs " * 10})
    request = ExportTraceServiceRequest()
    exported = request.resource_spans.add().scope_spans.add()
    spans = []
    for i in range(SPANS):
        span_id, parent = (i + 1).to_bytes(8, "big"), (b"" if i == 0 else (1).to_bytes(8, "big"))
        begin, end = start + i * 1000, start + i * 1000 + 500
        exported.spans.append(
            Span(
                trace_id=raw_trace, span_id=span_id, parent_span_id=parent, name=f"step-{i}",
                start_time_unix_nano=begin, end_time_unix_nano=end, status=Status(code=Status.STATUS_CODE_OK),
                attributes=[_attribute("mlflow.spanInputs", prompt), _attribute("mlflow.spanOutputs", '"ok"')],
            )
        )  # fmt: skip
        spans.append(
            {
                "trace_id": base64.b64encode(raw_trace).decode(),
                "span_id": base64.b64encode(span_id).decode(),
                "parent_span_id": base64.b64encode(parent).decode() if parent else None,
                "name": f"step-{i}",
                "start_time_unix_nano": begin,
                "end_time_unix_nano": end,
                "status": {"code": "STATUS_CODE_OK", "message": ""},
                "attributes": {"mlflow.spanInputs": prompt, "mlflow.spanOutputs": '"ok"'},
                "events": [],
            }
        )
    info = {
        "trace_id": trace_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}},
        "request_time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now)),
        "execution_duration": "0.120s",
        "state": "OK",
        "trace_metadata": {"mlflow.trace_schema.version": "3"},
        "tags": {"mlflow.traceName": "step-0"},
    }
    return request.SerializeToString(), {"trace": {"trace_info": info}}, json.dumps({"spans": spans}).encode()


def send_trace(client: httpx.Client, url: str, experiment_id: str) -> None:
    otlp, start, data = trace_requests(experiment_id)
    headers = {"content-type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id}
    client.post(f"{url}/v1/traces", content=otlp, headers=headers).raise_for_status()
    answer = client.post(f"{url}/api/3.0/mlflow/traces", json=start)
    answer.raise_for_status()
    location = answer.json()["trace"]["trace_info"]["tags"]["mlflow.artifactLocation"]
    key = location.split("mlflow-artifacts:", 1)[-1].lstrip("/")
    client.put(f"{url}/api/2.0/mlflow-artifacts/artifacts/{key}/traces.json", content=data).raise_for_status()


def ingest(url: str, experiment_id: str, rate: Any, stop: Any, counter: Any) -> None:
    """Send traces at ``rate.value`` traces/s (none while it is 0) until ``stop`` is set. Never
    catches up in bursts: a process that falls behind starts its schedule again."""
    with httpx.Client(timeout=60) as client:
        next_at = time.monotonic()
        while not stop.is_set():
            per_second = rate.value
            if per_second <= 0:
                time.sleep(0.05)
                next_at = time.monotonic()
                continue
            send_trace(client, url, experiment_id)
            with counter.get_lock():
                counter.value += 1
            next_at += 1 / per_second
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()


def log_batches(client: httpx.Client, url: str, run_id: str, count: int, first_step: int) -> list[float]:
    """Latencies (s) of ``count`` log-batch requests of 100 metrics on one kept-alive connection."""
    latencies = []
    for step in range(first_step, first_step + count):
        metrics = [{"key": f"m{i}", "value": i * 0.5, "timestamp": 1, "step": step} for i in range(100)]
        started = time.perf_counter()
        client.post(
            f"{url}/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": metrics}
        ).raise_for_status()
        latencies.append(time.perf_counter() - started)
    return latencies


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def measure(server: Server, rates: list[float], batches: int, rounds: int) -> dict[float, dict[str, float]]:
    """For the quiet server (rate 0) and each trace rate: log-batch p50/p95 (ms) and the trace
    rate reached, over ``rounds`` blocks of ``batches`` requests each, blocks interleaved."""
    client = httpx.Client(timeout=60)
    experiment = client.post(f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": "bench-traces"})
    experiment_id = experiment.json()["experiment_id"]
    run = client.post(
        f"{server.url}/api/2.0/mlflow/runs/create", json={"experiment_id": experiment_id, "start_time": 1}
    )
    run_id = run.json()["run"]["info"]["run_id"]
    rate, stop, counter = multiprocessing.Value("d", 0.0), multiprocessing.Event(), multiprocessing.Value("i", 0)
    workers = [
        multiprocessing.Process(target=ingest, args=(server.url, experiment_id, rate, stop, counter))
        for _ in range(INGESTERS)
    ]
    for w in workers:
        w.start()
    latencies: dict[float, list[float]] = {r: [] for r in [0.0, *rates]}
    sent: dict[float, tuple[int, float]] = dict.fromkeys(latencies, (0, 0.0))
    step = 0
    try:
        log_batches(client, server.url, run_id, 30, 0)  # warm-up
        step = 30
        for _ in range(rounds):
            for target in latencies:
                rate.value = target / INGESTERS
                time.sleep(1.0 if target else 0.5)  # the rate settles (or the last traces finish)
                with counter.get_lock():
                    before = counter.value
                started = time.perf_counter()
                latencies[target] += log_batches(client, server.url, run_id, batches, step)
                elapsed = time.perf_counter() - started
                with counter.get_lock():
                    count = counter.value - before
                step += batches
                total, seconds = sent[target]
                sent[target] = (total + count, seconds + elapsed)
    finally:
        stop.set()
        rate.value = 0
        for w in workers:
            w.join(timeout=30)
            if w.is_alive():
                w.terminate()
                w.join()
        client.close()
    return {
        target: {
            "p50": statistics.median(values) * 1000,
            "p95": p95(values) * 1000,
            "reached": sent[target][0] / sent[target][1],
        }
        for target, values in latencies.items()
    }


def start(name: str, argv: list[str], home: Path, env: dict[str, str]) -> Server:
    port = free_port()
    return Server.start(name, [*argv, "--port", str(port)], port=port, log_path=home / f"{name}.log", env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the harness")
    parser.add_argument("--mlflow-python", default=sys.executable, help="a Python that has mlflow installed")
    parser.add_argument("--rates", default="2,10", help="trace rates (traces/s) to send meanwhile, comma-separated")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved blocks of each rate")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    batches = 30 if args.quick else 100
    rounds = 2 if args.quick else args.rounds
    results: dict[str, dict[float, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-traces-") as tmp:
        home = Path(tmp)
        env = clean_environment("RUNSTONE_", "MLFLOW_", RUNSTONE_HOME=str(home / "runstone"))
        server = start("runstone", [sys.executable, "-m", "runstone", "server"], home, env)
        try:
            results["runstone"] = measure(server, rates, batches, rounds)
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
            results["mlflow"] = measure(server, rates, batches, rounds)
        finally:
            server.stop()
    print(
        f"log-batch of 100 metrics: {rounds} interleaved blocks of {batches} requests per row; {SPANS}-span traces "
        f"sent meanwhile by {INGESTERS} processes at the rate shown (OTLP spans, trace info, traces.json)\n"
    )
    print("| server | traces/s asked | reached | log-batch p50 | p95 | p50 vs none | p95 vs none |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        quiet = rows[0.0]
        for target, r in rows.items():
            asked = "none" if not target else f"{target:g}"
            print(
                f"| {name} | {asked} | {r['reached']:.1f} | {r['p50']:.1f} ms | {r['p95']:.1f} ms "
                f"| {r['p50'] / quiet['p50']:.2f} | {r['p95'] / quiet['p95']:.2f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
