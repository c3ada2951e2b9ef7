"""Scoring benchmark: runstone's scoring server against ``mlflow models serve`` on the same
scikit-learn model, same machine, one run; and batch scoring of a Parquet file against the
model's own ``predict`` on the same rows in memory.

    python bench/serving.py [--quick] [--workers N] [--mlflow PATH]

Prints a Markdown table (docs/performance.md, "Serving"). Load comes from separate client
processes, each with one kept-alive HTTP/1.1 connection, sending prebuilt request bytes (little
client overhead, as with wrk).
Every server and client process started here is stopped before the script ends.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(folder: Path, rows: int = 5_000) -> tuple[Path, Any]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import runstone.sklearn

    rng = np.random.RandomState(0)
    X = pd.DataFrame({f"f{i}": rng.rand(rows) for i in range(8)})
    y = (X.sum(axis=1) > 4).astype("int64")
    model = LogisticRegression().fit(X, y)
    path = folder / "model"
    runstone.sklearn.save_model(model, path, input_example=X.head(3))
    return path, X


class Process:
    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        self.port = port
        self.log = log
        # mlflow runs `uvicorn` from PATH: the benchmark's own environment first.
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
            )
        deadline = time.monotonic() + 180
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited:\n{log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{argv[0]} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=15)


class RawClient:
    """One kept-alive HTTP/1.1 connection with the request bytes built once, and responses read
    by Content-Length: a load generator that costs little CPU, as wrk would (the servers share
    the machine's cores with it)."""

    def __init__(self, port: int, body: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = (
            f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.request = head.encode() + body
        self.buffer = b""

    def call(self) -> None:
        self.sock.sendall(self.request)
        data = self.buffer
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            rest += chunk
        self.buffer = rest[length:]

    def close(self) -> None:
        self.sock.close()


def _client(port: int, body: bytes, seconds: float, warmup: int, start: Any, out: Any) -> None:
    client = RawClient(port, body)

    def one() -> float:
        began = time.perf_counter()
        client.call()
        return time.perf_counter() - began

    for _ in range(warmup):
        one()
    start.wait()
    latencies = []
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        latencies.append(one())
    client.close()
    out.put(latencies)


def load(port: int, body: bytes, clients: int, seconds: float) -> dict[str, float]:
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    out = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(port, body, seconds, 20, start, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    time.sleep(0.5)  # let every client finish its warm-up before the clock starts
    began = time.perf_counter()
    start.set()
    latencies: list[float] = []
    for _ in procs:
        latencies.extend(out.get(timeout=seconds + 120))
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join(timeout=30)
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def big_request(port: int, body: bytes, repeats: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    times = []
    for _ in range(repeats + 1):
        began = time.perf_counter()
        conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200, answer.status
        times.append(time.perf_counter() - began)
    conn.close()
    return statistics.median(times[1:]) * 1000


def batch(model_path: Path, folder: Path, rows: int) -> dict[str, dict[str, float]]:
    """Rows/s of ``runstone models predict`` on a Parquet file against the model's own predict on
    the same rows in memory: for the served model (cheap: the file's I/O is most of the work)
    and for a random forest (the model is)."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    import runstone.models
    import runstone.sklearn
    from runstone.serving.batch import predict_file

    rng = np.random.RandomState(1)
    frame = pd.DataFrame({f"f{i}": rng.rand(rows) for i in range(8)}).assign(id=np.arange(rows))
    frame.to_parquet(folder / "big.parquet", row_group_size=100_000)
    features = frame.drop(columns=["id"])
    forest = folder / "forest"
    runstone.sklearn.save_model(
        RandomForestClassifier(n_estimators=50, max_depth=10, random_state=0, n_jobs=1).fit(
            features.head(20_000), (features.head(20_000).sum(axis=1) > 4).astype("int64")
        ),
        forest,
        input_example=features.head(3),
    )
    out: dict[str, dict[str, float]] = {}
    for label, path in (("served model", model_path), ("random forest, 50 trees", forest)):
        native = runstone.sklearn.load_model(path)
        began = time.perf_counter()
        native.predict(features)
        in_memory = rows / (time.perf_counter() - began)
        result = predict_file(
            runstone.models.load_model(path), folder / "big.parquet", folder / "out.parquet", chunk_size=100_000
        )
        out[label] = {"in_memory": in_memory, "file": result.rows_per_second}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Short runs (a smoke test of the script).")
    parser.add_argument("--workers", type=int, default=2, help="Worker processes of each server (default 2).")
    parser.add_argument("--mlflow", default=str(Path(sys.executable).parent / "mlflow"), help="The mlflow command.")
    parser.add_argument(
        "--batch-wait-ms", type=float, default=2.0, help="Micro-batching wait of the batched runstone (default 2)."
    )
    args = parser.parse_args()
    seconds = 2.0 if args.quick else 8.0
    rows_batch = 100_000 if args.quick else 1_000_000
    runstone_cli = str(Path(sys.executable).parent / "runstone")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="runstone-bench-serving-") as tmp:
        folder = Path(tmp)
        model_path, X = train(folder)
        one = json.dumps({"dataframe_split": X.head(1).to_dict(orient="split")}).encode()
        big = json.dumps({"dataframe_split": X.sample(10_000, replace=True, random_state=0).to_dict(orient="split")})
        servers = {
            "runstone": [runstone_cli, "models", "serve", "-m", str(model_path), "--host", "127.0.0.1", "--port",
                         "{port}", "--workers", str(args.workers)],
            "batched": [runstone_cli, "models", "serve", "-m", str(model_path), "--host", "127.0.0.1", "--port",
                        "{port}", "--workers", str(args.workers), "--batch-wait-ms", str(args.batch_wait_ms)],
            "mlflow": [args.mlflow, "models", "serve", "-m", str(model_path), "--env-manager", "local", "--host",
                       "127.0.0.1", "--port", "{port}", "--workers", str(args.workers)],
        }  # fmt: skip
        for name, argv in servers.items():
            port = free_port()
            print(f"starting {name} on port {port} ...", file=sys.stderr)
            server = Process([a.replace("{port}", str(port)) for a in argv], port, folder / f"{name}.log")
            try:
                single = load(port, one, 1, seconds)
                eight = load(port, one, 8, seconds)
                results[name] = {"single": single, "eight": eight, "big": big_request(port, big.encode(), 5)}
            finally:
                server.stop()
            print(f"{name}: {results[name]}", file=sys.stderr)
        print("batch scoring ...", file=sys.stderr)
        scored = batch(model_path, folder, rows_batch)
    r, b, m = results["runstone"], results["batched"], results["mlflow"]
    print(f"\nSame scikit-learn model (LogisticRegression, 8 double columns), {args.workers} server workers each, "
          f"{os.cpu_count()} cores, client processes on the same machine.\n")  # fmt: skip
    print(f"| workload | runstone | runstone, `--batch-wait-ms {args.batch_wait_ms:g}` | MLflow `models serve` "
          "| best runstone / MLflow |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for label, key in (("1 client", "single"), ("8 clients", "eight")):
        best = max(r[key]["rps"], b[key]["rps"])
        print(f"| {label}, single-row: requests/s | {r[key]['rps']:,.0f} | {b[key]['rps']:,.0f} | "
              f"{m[key]['rps']:,.0f} | {best / m[key]['rps']:.1f}x |")  # fmt: skip
        print(f"| {label}, single-row: p50 / p99 ms | {r[key]['p50']:.2f} / {r[key]['p99']:.2f} | "
              f"{b[key]['p50']:.2f} / {b[key]['p99']:.2f} | {m[key]['p50']:.2f} / {m[key]['p99']:.2f} | |")  # fmt: skip
    print(f"| one 10,000-row request: ms | {r['big']:.1f} | {b['big']:.1f} | {m['big']:.1f} | "
          f"{m['big'] / r['big']:.1f}x faster |")  # fmt: skip
    print(f"\nBatch scoring of a {rows_batch:,}-row Parquet file (8 double columns and an id; "
          "`runstone models predict`, chunks of 100,000) against the model's own `predict` on the same rows "
          "in memory:\n")  # fmt: skip
    print("| model | file, rows/s | in memory, rows/s | file / in memory |")
    print("|---|---:|---:|---:|")
    for label, figures in scored.items():
        print(f"| {label} | {figures['file']:,.0f} | {figures['in_memory']:,.0f} | "
              f"{figures['file'] / figures['in_memory']:.0%} |")  # fmt: skip


if __name__ == "__main__":
    main()
