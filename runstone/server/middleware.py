"""ASGI middleware: request ids, body size limits, one log line and counters per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

import orjson
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runstone.errors import PayloadTooLarge
from runstone.prometheus import Exporter
from runstone.server.mlflow_compat.protocol import refusal_body

log = logging.getLogger("runstone.access")

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestStats:
    """Request counts and latencies of this server, by route template (runstone.prometheus)."""

    def __init__(self, exporter: Exporter | None = None) -> None:
        self.exporter = exporter or Exporter()
        self._requests = self.exporter.counter(
            "runstone_http_requests", "HTTP requests answered.", ("method", "route", "status")
        )
        self._latency = self.exporter.histogram(
            "runstone_http_request_duration_seconds", "Time to answer HTTP requests.", ("method", "route"), _BUCKETS
        )
        # Label lookups take a lock in prometheus_client: each request reuses its route's children.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self._requests.labels(method, route, str(status)), self._latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return self.exporter.render()


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
        stats: RequestStats,
        log_requests: bool,
    ) -> None:
        self.app = app
        self.max_body = max_body
        # Artifact uploads stream to storage and have their own limit.
        self.streamed_uploads = streamed_uploads
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
        too_large = PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes.", {"limit": limit})
        body = refusal_body(too_large, request_id, path)
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
