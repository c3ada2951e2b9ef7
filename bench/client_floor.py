"""A server that answers the stock ``mlflow`` client instantly: the client-only floor.

    python -m bench.client_floor --port PORT [--history-points N]

It answers each MLflow REST route that bench/mlflow_client.py drives with a fixed, minimal,
valid body and stores nothing (an artifact upload is read and dropped; a download streams
zeros of the size last uploaded under that path), so the time the stock client spends against
it is the client's own cost: building entities, serializing, its HTTP session, reading and
writing local files. It counts the requests it answers (``GET /__requests``), which tells how
many requests the client makes for a unit of work. Any route it does not know answers 404 and is printed, so that a client
that starts calling a new route shows up as an error rather than as a faster floor.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

API = "/api/2.0/mlflow/"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
RUN_ID = "0" * 31 + "1"
# How many requests the floor has answered: what a workload's unit costs in requests.
COUNT = "/__requests"
_CHUNK = b"\0" * (1 << 20)


def _searched(index: int) -> dict[str, object]:
    """A run as a search answers it: 10 params, 5 metrics and 3 tags, as the bench's runs have,
    so that the client parses as much as it does from a real server."""
    run = _run(f"{index:032x}", f"run-{index:05d}")
    run["data"] = {
        "params": [{"key": "optimizer", "value": "adam"}, *({"key": f"p{j}", "value": "1234"} for j in range(1, 10))],
        "metrics": [{"key": f"m{j}", "value": 0.5, "timestamp": 1_700_000_000_000, "step": 0} for j in range(5)],
        "tags": [
            {"key": "team", "value": "vision"},
            {"key": "dataset", "value": "d1"},
            {"key": "stage", "value": "sweep"},
            {"key": "mlflow.runName", "value": f"run-{index:05d}"},
        ],
    }
    return run


def _run(run_id: str = RUN_ID, name: str = "run") -> dict[str, object]:
    info = {
        "run_id": run_id,
        "run_uuid": run_id,
        "run_name": name,
        "experiment_id": "1",
        "user_id": "bench",
        "status": "RUNNING",
        "start_time": 1_700_000_000_000,
        "artifact_uri": f"mlflow-artifacts:/1/{run_id}/artifacts",
        "lifecycle_stage": "active",
    }
    return {"info": info, "data": {}}


class Floor:
    def __init__(self, history_points: int) -> None:
        run = json.dumps({"run": _run()}).encode()
        points = [
            {"key": "loss", "value": 1.0 / (s + 1), "timestamp": 1_700_000_000_000 + s, "step": s}
            for s in range(history_points)
        ]
        self.fixed = {
            ("POST", "experiments/create"): b'{"experiment_id": "1"}',
            ("POST", "runs/create"): run,
            ("GET", "runs/get"): run,
            ("POST", "runs/update"): json.dumps({"run_info": _run()["info"]}).encode(),
            ("POST", "runs/log-batch"): b"{}",
            ("POST", "runs/log-metric"): b"{}",
            ("POST", "runs/log-parameter"): b"{}",
            ("POST", "runs/set-tag"): b"{}",
            ("POST", "runs/search"): json.dumps({"runs": [_searched(i) for i in range(100)]}).encode(),
            ("GET", "metrics/get-history"): json.dumps({"metrics": points}).encode(),
        }
        self.sizes: dict[str, int] = {}
        self.requests = 0  # every request answered but those to COUNT
        self.lock = threading.Lock()


def handler(floor: Floor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _answer(self, body: bytes, status: int = 200) -> None:
            # Status line, headers and body in one write: split writes meet the client's
            # delayed acknowledgement (tens of milliseconds) and would make the floor slow.
            reason = b"OK" if status == 200 else b"Not Found"
            head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            self.wfile.write(head % (status, reason, len(body)) + body)

        def _drain(self) -> int:
            left = total = int(self.headers.get("Content-Length") or 0)
            while left:
                left -= len(self.rfile.read(min(left, 1 << 20)))
            return total

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            received = self._drain()
            if url.path == COUNT:
                self._answer(json.dumps({"requests": floor.requests}).encode())
                return
            with floor.lock:
                floor.requests += 1
            if url.path == "/health":
                self._answer(b"OK")
            elif url.path.startswith(API) and (method, url.path[len(API) :]) in floor.fixed:
                self._answer(floor.fixed[method, url.path[len(API) :]])
            elif url.path.startswith(ARTIFACTS + "/") and method == "PUT":
                floor.sizes[url.path[len(ARTIFACTS) + 1 :]] = received
                self._answer(b"{}")
            elif url.path == ARTIFACTS and method == "GET":
                # Listing a file's own path answers nothing (it is not a folder), as MLflow does.
                self._answer(b'{"files": []}')
            elif url.path.startswith(ARTIFACTS + "/") and method == "GET":
                size = floor.sizes.get(url.path[len(ARTIFACTS) + 1 :], 0)
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                self.wfile.write(head % size)
                while size:
                    size -= self.wfile.write(memoryview(_CHUNK)[: min(size, len(_CHUNK))]) or 0
            else:
                print(f"client floor: no answer for {method} {self.path}", file=sys.stderr, flush=True)
                self._answer(b'{"error_code": "ENDPOINT_NOT_FOUND"}', 404)

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_PATCH(self) -> None:
            self._route("PATCH")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client_floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--history-points", type=int, default=100_000)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(Floor(args.history_points)))
    server.daemon_threads = True
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
