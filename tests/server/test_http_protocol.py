"""runstone's HTTP protocol (runstone.http_protocol) on a real event loop, fed bytes directly."""

from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.server import ServerState

from runstone.http_protocol import GuardedProtocol


class Wire:
    """The socket side of a connection: what the protocol wrote, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: object) -> None:
        pass


async def _exchange(app: object, request: bytes) -> Wire:
    config = uvicorn.Config(app, lifespan="off", log_level="warning")  # type: ignore[arg-type]
    protocol = GuardedProtocol(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    wire = Wire()
    protocol.connection_made(wire)  # type: ignore[arg-type]
    protocol.data_received(request)
    for _ in range(50):  # let the app answer and the held write go out
        await asyncio.sleep(0)
    protocol.connection_lost(None)
    return wire


async def _small(scope: dict[str, object], receive: object, send: object) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"{}"})  # type: ignore[operator]


async def _streamed(scope: dict[str, object], receive: object, send: object) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    for part in (b"a" * 100, b"b" * 200_000, b"c"):
        await send({"type": "http.response.body", "body": part, "more_body": True})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]


def test_a_small_answer_leaves_in_one_write() -> None:
    wire = asyncio.run(_exchange(_small, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"))
    assert len(wire.writes) == 1, wire.writes
    assert wire.writes[0].startswith(b"HTTP/1.1 200") and wire.writes[0].endswith(b"\r\n\r\n{}")


def test_a_streamed_answer_keeps_every_byte_in_order_and_holds_back_no_large_write() -> None:
    wire = asyncio.run(_exchange(_streamed, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"))
    sent = b"".join(wire.writes)
    assert sent.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in sent
    body = sent.partition(b"\r\n\r\n")[2]
    assert body == b"64\r\n" + b"a" * 100 + b"\r\n30d40\r\n" + b"b" * 200_000 + b"\r\n1\r\nc\r\n0\r\n\r\n"
    # The headers went out with the first small chunk; the large chunk went out on its own.
    assert wire.writes[0].endswith(b"\r\n\r\n64\r\n" + b"a" * 100 + b"\r\n")
    assert wire.writes[1].startswith(b"30d40\r\n") and len(wire.writes[1]) == 200_009


def test_a_held_write_goes_out_before_the_connection_closes() -> None:
    async def refuse(scope: dict[str, object], receive: object, send: object) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"0"), (b"connection", b"close")],
            }  # type: ignore[operator]
        )
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    wire = asyncio.run(_exchange(refuse, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"))
    assert wire.closed
    assert b"".join(wire.writes).startswith(b"HTTP/1.1 200")
