"""uvicorn's HTTP protocol with TCP_NODELAY on every connection, for every runstone server.

With several workers, uvicorn hands each worker a shared listening socket, and asyncio then
leaves Nagle's algorithm on for the connections it accepts: each small reply on a kept-alive
connection waits for the client's delayed ACK (~40 ms). Setting TCP_NODELAY ourselves makes
small requests answer in milliseconds whatever the worker count.

The tracking server and the scoring server both use it; it imports neither.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # httptools missing: fall back to the pure-Python parser
    _Base = H11Protocol  # type: ignore[assignment,misc]


def no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class NoDelayProtocol(_Base):  # type: ignore[misc,valid-type]
    """Sets TCP_NODELAY; a request the HTTP parser rejects (say, raw non-ASCII bytes in the
    request line) never reaches the app and is answered with ``bad_request_body`` (JSON)."""

    bad_request_body = b'{"error": {"code": "invalid_input", "message": "%s", "details": {}}}'

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)

    def send_400_response(self, msg: str) -> None:
        import orjson

        message = orjson.dumps(msg)[1:-1]  # a JSON string's inside, quotes escaped
        body = self.bad_request_body.replace(b"%s", message)
        head = (
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        self.transport.write(head + body)
        self.transport.close()
