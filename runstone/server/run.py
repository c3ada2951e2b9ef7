"""Running the server under uvicorn, with TCP_NODELAY on every connection.

With several workers, uvicorn hands each worker a shared listening socket, and asyncio then
leaves Nagle's algorithm on for the connections it accepts: each small reply on a kept-alive
connection waits for the client's delayed ACK (~40 ms). Setting TCP_NODELAY ourselves makes
small requests answer in milliseconds whatever the worker count.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from runstone.config import Settings

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


_PROTOCOL = f"{__name__}:NoDelayProtocol"


def export(settings: Settings) -> None:
    """Hand the settings to worker processes through the environment they inherit."""
    for name, value in settings.model_dump().items():
        if value is not None:
            os.environ[f"RUNSTONE_{name.upper()}"] = str(value)


def serve(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if settings.workers > 1:
        export(settings)
        uvicorn.run(
            "runstone.server.app:create_app_from_environment",
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
    uvicorn.run(app, host=settings.host, port=settings.port, http=_PROTOCOL, access_log=False, log_level="info")
