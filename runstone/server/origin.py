"""Requests other web pages cannot forge: allowed hosts, same-origin writes, JSON-only API bodies.

A page on any site a user visits can make the browser send "simple" requests to a server on the
user's machine or network: a POST whose body is ``text/plain``, form-encoded or multipart, with no
preflight. And a name that an attacker's DNS points at 127.0.0.1 (DNS rebinding) makes the
browser treat the server as the attacker's own origin. Three rules close that class, with
authentication on or off:

- the ``Host`` header must name this server (``allowed_hosts``; the CLI defaults it to the
  loopback names when the server listens on loopback), else 400;
- a state-changing API request that carries an ``Origin`` must come from this server's own origin
  (or one of ``allowed_origins``), else 403 — browsers send ``Origin`` on every cross-origin POST
  (the UI's form posts check origin and CSRF token themselves, and answer with pages);
- a state-changing API request with a body must say ``application/json``, except on the routes
  that take raw upload bodies, else 415 — a browser cannot send JSON cross-origin without a
  preflight, which this server never grants.

Every response also gets ``X-Content-Type-Options: nosniff``, and one without a
Content-Security-Policy of its own (API answers, downloads) gets a policy that runs nothing and
cannot be framed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runstone.errors import InvalidInput, PermissionDenied, RunstoneError, UnsupportedMediaType
from runstone.server.mlflow_compat.protocol import refusal_body

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PATHS = re.compile(r"^/(?:api|ajax-api)/")
JSON_TYPES = frozenset({"application/json"})
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
NO_CONTENT_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def host_name(value: str) -> str:
    """The host part of a ``Host`` header or URL netloc, lower-cased, without port or brackets."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:5000
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        return value.rsplit(":", 1)[0]
    return value  # a bare name, or an IPv6 address without brackets


def parse_list(value: str | None) -> tuple[str, ...] | None:
    """A comma-separated setting; None or ``*`` means no restriction."""
    if value is None or value.strip() in ("", "*"):
        return None
    return tuple(item.strip().lower().rstrip("/") for item in value.split(",") if item.strip())


class OriginGuard:
    """ASGI middleware applying the three rules of this module and the default security headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str] | None,
        allowed_origins: Iterable[str] | None,
        raw_bodies: re.Pattern[str],
        api_paths: re.Pattern[str] = API_PATHS,
    ) -> None:
        self.app = app
        self.allowed_hosts = None if allowed_hosts is None else frozenset(host_name(h) for h in allowed_hosts)
        self.allowed_origins = frozenset(o.lower().rstrip("/") for o in allowed_origins or ())
        self.raw_bodies = raw_bodies
        self.api_paths = api_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        refusal = self.refusal(scope["method"], path, headers)
        if refusal is not None:
            request_id = scope.get("state", {}).get("request_id", "")
            await _answer(send, refusal, refusal_body(refusal, request_id, path))
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_security_headers(message.get("headers", []))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def refusal(self, method: str, path: str, headers: dict[str, str]) -> RunstoneError | None:
        host = headers.get("host", "")
        if self.allowed_hosts is not None and host_name(host) not in self.allowed_hosts:
            return InvalidInput(
                f"The Host header {host[:100]!r} does not name this server; it answers to "
                f"{', '.join(sorted(self.allowed_hosts))} (setting allowed_hosts).",
                {"host": host[:100]},
            )
        if method in SAFE_METHODS or not self.api_paths.match(path):
            return None  # the UI's forms check their own origin and CSRF token and answer with pages
        origin = headers.get("origin")
        if origin is not None and not self._same_origin(origin, host):
            return PermissionDenied(
                f"Requests that change data must come from this server's own pages, not from {origin[:100]!r}; "
                "allow another origin with the setting allowed_origins.",
                {"origin": origin[:100]},
            )
        if not self.raw_bodies.match(path) and _has_body(headers):
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media not in JSON_TYPES:
                shown = media or "no content type"
                return UnsupportedMediaType(
                    f"This API takes JSON request bodies (Content-Type: application/json), not {shown}.",
                    {"content_type": media[:100]},
                )
        return None

    def _same_origin(self, origin: str, host: str) -> bool:
        origin = origin.strip().lower().rstrip("/")
        if origin in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        # The scheme is left out: behind a TLS-terminating proxy the page is https and the
        # request reaches this server as http, with the same Host.
        return parts.scheme in ("http", "https") and bool(parts.netloc) and parts.netloc == host.strip().lower()


def _has_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers or "content-type" in headers


def _with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    names = {name.lower() for name, _ in headers}
    extra: list[tuple[bytes, bytes]] = []
    if b"x-content-type-options" not in names:
        extra.append((b"x-content-type-options", b"nosniff"))
    if b"content-security-policy" not in names:
        extra.append((b"content-security-policy", NO_CONTENT_CSP))
        if b"x-frame-options" not in names:
            extra.append((b"x-frame-options", b"DENY"))
    if b"referrer-policy" not in names:
        extra.append((b"referrer-policy", b"same-origin"))
    return [*headers, *extra]


async def _answer(send: Send, error: RunstoneError, body: bytes) -> None:
    status = error.status
    headers = _with_security_headers(
        [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    )
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
