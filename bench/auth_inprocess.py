"""What auth costs a tracking request in the server's own CPU, measured in-process.

Two apps as ``runstone server`` builds them, each on its own SQLite store, one with auth on: the
same log-batch requests are handed to each app's ASGI callable directly (no sockets, no client),
in alternating blocks, and the process's CPU time per request is compared. The auth app's
requests carry a non-admin user's bearer token, so each is authenticated and its permission on
the run's experiment checked. Measured this way, neither the network, the client nor the other
servers of the end-to-end bench (bench.auth) share the figure; the machine's other work still
does, which the alternating blocks and the median spread over both apps alike.
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

M = "/api/2.0/mlflow"
ADMIN_PASSWORD = "bench admin password, long enough"


def _scope(method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:5000"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()), *headers],
        "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 5000), "state": {},
    }  # fmt: skip


async def _call(app: Any, method: str, path: str, payload: object, headers: list[tuple[bytes, bytes]]) -> Any:
    body = orjson.dumps(payload)
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status: list[int] = []
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        else:
            chunks.append(message.get("body", b""))

    await app(_scope(method, path, body, headers), receive, send)
    answer = b"".join(chunks)
    if not status or status[0] not in (200, 201):
        raise RuntimeError(f"{method} {path}: {status} {answer[:300]!r}")
    return orjson.loads(answer) if answer else None


def measure(rounds: int = 20, per_block: int = 50) -> dict[str, tuple[float, float]]:
    """Median CPU microseconds per request (without auth, with auth) of log-batch to one run and
    to a different run each time, and of a search of 100 of the experiment's runs."""
    from runstone.backend import open_backend
    from runstone.config import Settings
    from runstone.governance.identity import IdentityService
    from runstone.server.app import create_app

    async def run() -> dict[str, tuple[float, float]]:
        sides, exp_ids = [], []
        for auth in (False, True):
            home = Path(tempfile.mkdtemp(prefix="runstone-bench-auth-inprocess-"))
            settings = Settings(home=home, auth=auth, admin_password=ADMIN_PASSWORD if auth else None)
            backend = open_backend(settings)
            if auth:  # as `runstone server --auth` does at its first start
                IdentityService(backend.context()).ensure_admin(password=ADMIN_PASSWORD)
            app = create_app(settings, backend=backend)
            context = app.router.lifespan_context(app)
            await context.__aenter__()
            headers: list[tuple[bytes, bytes]] = []
            if auth:
                basic = [(b"authorization", b"Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()))]
                await _call(app, "POST", "/api/v1/users", {"name": "bench", "password": "bench user password"}, basic)
                token = await _call(app, "POST", "/api/v1/tokens", {"name": "bench", "user": "bench"}, basic)
                headers = [(b"authorization", f"Bearer {token['secret']}".encode())]
            exp = (await _call(app, "POST", f"{M}/experiments/create", {"name": "bench"}, headers))["experiment_id"]
            exp_ids.append(exp)
            runs = []
            for _ in range(rounds * per_block + 1):
                made = await _call(app, "POST", f"{M}/runs/create", {"experiment_id": exp}, headers)
                runs.append(made["run"]["info"]["run_id"])
            sides.append((app, context, headers, runs))
        kinds = (
            "log-batch, 100 metrics, to one run",
            "log-batch, 100 metrics, to a different run each time",
            f"search, 100 of {rounds * per_block + 1} runs",
        )
        blocks: dict[str, list[list[float]]] = {kind: [[], []] for kind in kinds}
        step = 0
        try:
            for round_ in range(rounds):
                for side in (0, 1) if round_ % 2 == 0 else (1, 0):
                    app, _, headers, runs = sides[side]
                    for kind in kinds:
                        if kind.startswith("search"):
                            query = {"experiment_ids": [exp_ids[side]], "max_results": 100,
                                     "order_by": ["attributes.start_time DESC"]}  # fmt: skip
                            began = time.process_time()
                            for _ in range(per_block):
                                await _call(app, "POST", f"{M}/runs/search", query, headers)
                            blocks[kind][side].append((time.process_time() - began) / per_block * 1e6)
                            continue
                        bodies = []
                        for i in range(per_block):
                            step += 1
                            run_id = runs[0] if kind == kinds[0] else runs[1 + round_ * per_block + i]
                            metrics = [{"key": f"m{k}", "value": k * 0.5, "timestamp": step, "step": step}
                                       for k in range(100)]  # fmt: skip
                            bodies.append({"run_id": run_id, "metrics": metrics})
                        began = time.process_time()
                        for body in bodies:
                            await _call(app, "POST", f"{M}/runs/log-batch", body, headers)
                        blocks[kind][side].append((time.process_time() - began) / per_block * 1e6)
        finally:
            for _app, context, _, _ in sides:
                await context.__aexit__(None, None, None)
        return {kind: (statistics.median(b[0]), statistics.median(b[1])) for kind, b in blocks.items()}

    return asyncio.run(run())


if __name__ == "__main__":
    for name, (off, on) in measure().items():
        print(f"{name}: {off:.0f} µs without auth, {on:.0f} µs with auth, ratio {on / off:.3f}")
