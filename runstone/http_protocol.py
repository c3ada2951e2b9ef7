"""uvicorn's HTTP protocol as every runstone server speaks it: TCP_NODELAY on every connection,
and limits on what a client may make the server wait for or hold before a request reaches the
app.

- TCP_NODELAY: with several workers, uvicorn hands each worker a shared listening socket, and
  asyncio then leaves Nagle's algorithm on for the connections it accepts: each small reply on a
  kept-alive connection waits for the client's delayed ACK (~40 ms).
- Headers: a request's line and headers must arrive within ``header_timeout`` seconds of its
  first byte (or of the connection), and hold at most ``max_headers`` headers and
  ``max_header_bytes`` bytes with the URL; otherwise 408 or 431, and the connection is closed.
  Connections that trickle half a request no longer stay open for as long as the client likes.
- One packet per small answer: uvicorn writes a response's status line and headers, then its
  body, as two writes. The headers are held until the body's first write (or the end of the event
  loop's turn) and go out with it: one send and one TCP segment for a small answer, not two.
- Bodies: after ``body_timeout`` seconds a body must have averaged ``body_min_rate`` bytes per
  second (time while the server itself is not reading does not count); otherwise 408 and the
  connection is closed, which ends the request in the app as a client disconnect.

The tracking server and the scoring server both use it; it imports neither.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from dataclasses import dataclass

# httptools is part of uvicorn[standard]; the limits below hook into its parser's callbacks.
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from runstone.config import Settings

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


@dataclass(frozen=True)
class Limits:
    header_timeout: float
    max_header_bytes: int
    max_headers: int
    body_timeout: float
    body_min_rate: float


@functools.cache
def limits() -> Limits:
    """The limits of this process, read once from its settings."""
    s = Settings()
    return Limits(s.header_timeout, s.max_header_bytes, s.max_headers, s.body_timeout, s.body_min_rate)


class _Coalescing:
    """The connection's transport, holding back one small write (a response's status line and
    headers) until the next write, or the end of the event loop's turn, and sending the two as
    one. At most one write is ever held, so flow control sees every byte as before."""

    HELD = 8192  # a write this small may wait for the next one
    JOINED = 64 * 1024  # a next write this small is copied after it, a larger one follows it

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= self.JOINED:
                self._transport.write(held + data)
                return
            self._transport.write(held)
        elif len(data) <= self.HELD:
            self._held = bytes(data)
            self._loop.call_soon(self._release)
            return
        self._transport.write(data)

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._release()
        self._transport.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that broke a limit."""


class GuardedProtocol(HttpToolsProtocol):
    """See the module's docstring. A request the HTTP parser rejects (say, raw non-ASCII bytes
    in the request line) never reaches the app and is answered with ``bad_request_body``."""

    bad_request_body = b'{"error": {"code": "invalid_input", "message": "%s", "details": {}}}'

    _refusal: tuple[int, str] | None = None
    _in_headers = False  # between a request's first byte and the end of its headers
    _header_deadline: asyncio.TimerHandle | None = None
    _body_check: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(_Coalescing(transport, self.loop))  # type: ignore[arg-type]
        self._limits = limits()
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # the connection is closing; nothing more is read
        super().data_received(data)

    # ------------------------------------------------------------------ headers
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = self._header_count = 0
        self._in_headers = True
        self._arm_header_deadline()

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self._limits.max_headers:
            self._refuse(431, f"A request may carry at most {self._limits.max_headers} headers.")
        self._count_header_bytes(len(name) + len(value))
        super().on_header(name, value)

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self._limits.max_header_bytes:
            self._refuse(431, f"A request's URL and headers may hold at most {self._limits.max_header_bytes} bytes.")

    def on_headers_complete(self) -> None:
        self._in_headers = False
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        super().on_headers_complete()
        if any(name in (b"content-length", b"transfer-encoding") for name, _ in self.headers):
            self._body_received = 0
            self._body_started = self.loop.time()
            self._body_check = self.loop.call_later(self._limits.body_timeout, self._check_body)

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self._limits.header_timeout, self._headers_too_slow)

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self._in_headers:  # a connection that never started a request: closed without a word
            self._refusal = (408, "idle")
            self.transport.close()
            return
        self._send_refusal(408, f"The request's headers did not arrive within {self._limits.header_timeout:g} s.")

    # ------------------------------------------------------------------ bodies
    def on_body(self, body: bytes) -> None:
        self._body_received += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._body_check is not None:
            self._body_check.cancel()
            self._body_check = None
        super().on_message_complete()

    def _check_body(self) -> None:
        self._body_check = None
        now = self.loop.time()
        if self.flow.read_paused:  # the app is not reading: the client is not to blame
            self._body_started += 1.0
            self._body_check = self.loop.call_later(1.0, self._check_body)
            return
        allowed = self._limits.body_timeout + self._body_received / self._limits.body_min_rate
        if now - self._body_started > allowed:
            self._send_refusal(
                408,
                f"The request body arrived slower than {self._limits.body_min_rate:g} bytes per second.",
            )
            return
        self._body_check = self.loop.call_later(self._body_started + allowed - now, self._check_body)

    # ------------------------------------------------------------------ answers
    def _refuse(self, status: int, message: str) -> None:
        """From a parser callback: stop parsing; data_received's handler sends the answer."""
        self._refusal = (status, message)
        raise _Refused(message)

    def send_400_response(self, msg: str) -> None:
        status, message = self._refusal or (400, msg)
        self._send_refusal(status, message)

    def _send_refusal(self, status: int, msg: str) -> None:
        import orjson

        self._refusal = (status, msg)
        self._cancel_timers()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The app sees a client that went away: its reads end, its answer is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        if cycle is None or cycle.response_complete or not cycle.response_started:
            message = orjson.dumps(msg)[1:-1]  # a JSON string's inside, quotes escaped
            body = self.bad_request_body.replace(b"%s", message)
            head = (
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n" % (status, _REASONS[status], len(body))
            )
            self.transport.write(head + body)
        self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._header_deadline, self._body_check):
            if timer is not None:
                timer.cancel()
        self._header_deadline = self._body_check = None
