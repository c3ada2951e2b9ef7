"""Running the server under uvicorn, with TCP_NODELAY on every connection.

With several workers, uvicorn hands each worker a shared listening socket, and asyncio then
leaves Nagle's algorithm on for the connections it accepts: each small reply on a kept-alive
connection waits for the client's delayed ACK (~40 ms). Setting TCP_NODELAY ourselves makes
small requests answer in milliseconds whatever the worker count.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from typing import TYPE_CHECKING

import orjson
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from runstone.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # httptools missing: fall back to the pure-Python parser
    _Base = H11Protocol  # type: ignore[assignment,misc]


def _no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class NoDelayProtocol(_Base):  # type: ignore[misc,valid-type]
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport)
        super().connection_made(transport)

    def send_400_response(self, msg: str) -> None:
        # A request the HTTP parser rejects (say, raw non-ASCII bytes in the request line) never
        # reaches the app; answer it in the same JSON error shape as every other bad request.
        body = orjson.dumps({"error": {"code": "invalid_input", "message": msg, "details": {}}})
        head = (
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        self.transport.write(head + body)
        self.transport.close()


_PROTOCOL = f"{__name__}:NoDelayProtocol"


def export(settings: Settings) -> None:
    """Hand the settings to worker processes through the environment they inherit."""
    for name, value in settings.model_dump().items():
        if value is not None:
            os.environ[f"RUNSTONE_{name.upper()}"] = str(value)


def tune_gc() -> None:
    """Run the cyclic garbage collector less often in a server process.

    A log-batch request allocates thousands of short-lived containers (validated points, rows,
    entities) that reference counting frees on its own; at the default threshold of 700 the
    collector still runs several times per request and takes about a fifth of its CPU time.
    What was built at startup (routes, schemas, table metadata) lives as long as the process,
    so it is frozen out of collections altogether.
    """
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def worker_app() -> FastAPI:
    """Factory for server worker processes: settings come from RUNSTONE_* variables."""
    from runstone.server.app import create_app_from_environment

    app = create_app_from_environment()
    tune_gc()
    return app


def serve(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if settings.workers > 1:
        export(settings)
        uvicorn.run(
            f"{__name__}:worker_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            http=_PROTOCOL,
            access_log=False,
            log_level="info",
        )
        return
    from runstone.server.app import create_app

    app = create_app(settings)
    tune_gc()
    uvicorn.run(app, host=settings.host, port=settings.port, http=_PROTOCOL, access_log=False, log_level="info")
