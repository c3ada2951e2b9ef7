"""ASGI middleware: request ids, body size limits, one log line and counters per request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections import defaultdict
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("runstone.access")

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestStats:
    """Prometheus counters for this process."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], list[int]] = {}
        self.latency_sum: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, status)] += 1
        counts = self.latency.setdefault((method, route), [0] * (len(_BUCKETS) + 1))
        for i, bound in enumerate(_BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        counts[-1] += 1
        self.latency_sum[(method, route)] += seconds

    def render(self) -> str:
        lines = [
            "# HELP runstone_http_requests_total HTTP requests answered.",
            "# TYPE runstone_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(f'runstone_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
        lines += [
            "# HELP runstone_http_request_duration_seconds Time to answer HTTP requests.",
            "# TYPE runstone_http_request_duration_seconds histogram",
        ]
        for (method, route), counts in sorted(self.latency.items()):
            labels = f'method="{method}",route="{route}"'
            for bound, n in zip(_BUCKETS, counts, strict=False):
                lines.append(f'runstone_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {int(n)}')
            lines.append(f'runstone_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {int(counts[-1])}')
            lines.append(
                f"runstone_http_request_duration_seconds_sum{{{labels}}} {self.latency_sum[(method, route)]:.6f}"
            )
            lines.append(f"runstone_http_request_duration_seconds_count{{{labels}}} {int(counts[-1])}")
        return "\n".join(lines) + "\n"


def _too_large(limit: int, request_id: str, mlflow: bool) -> dict[str, Any]:
    message = f"Request body is larger than the limit of {limit} bytes."
    if mlflow:  # MLflow's clients read errors in MLflow's envelope on MLflow's routes
        return {"error_code": "INVALID_PARAMETER_VALUE", "message": message}
    return {
        "error": {
            "code": "payload_too_large",
            "message": message,
            "details": {"limit": limit},
            "request_id": request_id,
        }
    }


class _BodyTooLarge(Exception):
    pass


class RequestMiddleware:
    """Request id in and out, body limit, access log and counters."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        streamed_uploads: re.Pattern[str],
        mlflow_paths: re.Pattern[str],
        stats: RequestStats,
        log_requests: bool,
    ) -> None:
        self.app = app
        self.max_body = max_body
        # Artifact uploads stream to storage and have their own limit.
        self.streamed_uploads = streamed_uploads
        self.mlflow_paths = mlflow_paths
        self.stats = stats
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = incoming if incoming.replace("-", "").isalnum() and incoming else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        path: str = scope["path"]
        status_holder = [500]
        limit = None if self.streamed_uploads.match(path) else self.max_body

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        if limit is not None:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await self._reject(send_wrapper, limit, request_id, path)
                self._finish(scope, 413, start, request_id)
                return
            received = 0
            exceeded = rejected = False

            async def receive_limited() -> Message:
                nonlocal received, exceeded
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        exceeded = True
                        raise _BodyTooLarge
                return message

            async def send_limited(message: Message) -> None:
                # A body without Content-Length (chunked) is only found too large while the app
                # reads it, and the app may turn that failed read into an error of its own
                # ("error parsing the body", 400): answer 413 in its place.
                nonlocal rejected
                if not exceeded:
                    await send_wrapper(message)
                elif not rejected:
                    rejected = True
                    await self._reject(send_wrapper, limit, request_id, path)

            try:
                await self.app(scope, receive_limited, send_limited)
            except _BodyTooLarge:
                pass
            if exceeded and not rejected:
                await self._reject(send_wrapper, limit, request_id, path)
        else:
            await self.app(scope, receive, send_wrapper)
        self._finish(scope, status_holder[0], start, request_id)

    async def _reject(self, send: Send, limit: int, request_id: str, path: str) -> None:
        body = orjson.dumps(_too_large(limit, request_id, self.mlflow_paths.match(path) is not None))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _finish(self, scope: Scope, status: int, start: float, request_id: str) -> None:
        seconds = time.perf_counter() - start
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self.stats.observe(scope["method"], template, status, seconds)
        if self.log_requests:
            log.info(
                orjson.dumps(
                    {
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round(seconds * 1000, 2),
                    }
                ).decode()
            )
