"""Upload bodies, received on the event loop before any worker thread is involved.

A body is read as it arrives into a spool (memory up to ``IN_MEMORY`` bytes, a temporary file
beyond), and only once it is whole does a worker thread store it. On a local artifact store the
temporary file is the store's own, hashed as it is written, so that storing a large body puts
that file in place (fsync, rename) instead of writing its bytes a second time. A client
trickling a body therefore holds no thread: two hundred slow uploads leave the thread pool, and
with it the API, the UI and /health, to everyone else. The HTTP layer (runstone.http_protocol)
ends uploads that stay too slow.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from typing import IO

from starlette.requests import Request

from runstone.artifacts.base import CHUNK
from runstone.artifacts.local import Staged
from runstone.errors import PayloadTooLarge

IN_MEMORY = 1024 * 1024
# A body declared at most this long is read before the route looks anything up.
SMALL_BODY = 64 * 1024


class Spool:
    """A received body; read it with chunks(), then close() it.

    Up to ``IN_MEMORY`` bytes stay in memory. A larger body goes on into a temporary file: one
    of the artifact store's own when ``stage`` gives one (the store then puts that file in place
    without copying it, see ``staged``), else one in the system's temporary folder."""

    def __init__(self, stage: Callable[[], Staged] | None = None) -> None:
        self._stage = stage
        self._memory: list[bytes] = []
        self._file: IO[bytes] | None = None
        self.staged: Staged | None = None
        self._sink: Callable[[bytes], object] | None = None  # where bytes go past IN_MEMORY
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._sink is None:
            if self.size <= IN_MEMORY:
                self._memory.append(chunk)
                return
            if self._stage is not None:
                self.staged = self._stage()
                self._sink = self.staged.write
            else:
                self._file = tempfile.TemporaryFile(prefix="runstone-upload-")  # noqa: SIM115 - closed by close()
                self._sink = self._file.write
            for held in self._memory:
                self._sink(held)
            self._memory = []
        self._sink(chunk)

    def chunks(self) -> Iterator[bytes]:
        if self.staged is not None:
            yield from self.staged.chunks()
        elif self._file is not None:
            self._file.seek(0)
            while chunk := self._file.read(CHUNK):
                yield chunk
        else:
            yield from self._memory

    def close(self) -> None:
        if self.staged is not None:
            self.staged.discard()
        if self._file is not None:
            self._file.close()
        self._memory = []


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


async def receive(request: Request, limit: int, stage: Callable[[], Staged] | None = None) -> Spool:
    """The whole body of ``request`` (at most ``limit`` bytes, else 413); a large one in a file
    of the artifact store's when ``stage`` (the store's own) is given."""
    check_declared(request, limit)
    spool = Spool(stage)
    try:
        async for chunk in request.stream():
            if spool.size + len(chunk) > limit:
                raise _too_large(limit)
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    return spool
