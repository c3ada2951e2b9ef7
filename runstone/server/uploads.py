"""Upload bodies, received on the event loop before any worker thread is involved.

A body is read as it arrives into a spool (memory up to ``IN_MEMORY`` bytes, a temporary file
beyond), and only once it is whole does a worker thread hash it and write it to the artifact
store. A client trickling a body therefore holds no thread: two hundred slow uploads leave the
thread pool, and with it the API, the UI and /health, to everyone else. The HTTP layer
(runstone.http_protocol) ends uploads that stay too slow.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

from starlette.requests import Request

from runstone.artifacts.base import CHUNK
from runstone.errors import PayloadTooLarge

IN_MEMORY = 1024 * 1024
# A body declared at most this long is read before the route looks anything up.
SMALL_BODY = 64 * 1024


class Spool:
    """A received body; read it with chunks(), then close() it."""

    def __init__(self) -> None:
        # Closed by close(): the spool outlives the function that receives the body.
        self.file = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY, prefix="runstone-upload-")  # noqa: SIM115
        self.size = 0

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self.file.close()


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Artifact is larger than the limit of {limit} bytes per file (RUNSTONE_MAX_ARTIFACT_BYTES).",
        {"limit": limit, "setting": "max_artifact_bytes"},
    )


def check_declared(request: Request, limit: int) -> None:
    """413 before reading anything when the declared length is over ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)


def at_most(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """``chunks``, raising 413 inside the consumer (a store's write, which then discards what it
    wrote) once they add up to more than ``limit`` bytes."""
    received = 0
    for chunk in chunks:
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        yield chunk


async def receive(request: Request, limit: int) -> Spool:
    """The whole body of ``request`` (at most ``limit`` bytes, else 413)."""
    check_declared(request, limit)
    spool = Spool()
    try:
        async for chunk in request.stream():
            spool.size += len(chunk)
            if spool.size > limit:
                raise _too_large(limit)
            spool.file.write(chunk)
    except BaseException:
        spool.close()
        raise
    return spool
