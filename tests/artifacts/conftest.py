"""Fixtures of the artifact tests: a SeaweedFS S3 server for the whole session, a client of
it, and a probe of peak memory growth."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import pytest
from s3server import S3Server, weed_mini


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server (``weed mini``) on free loopback ports, with one bucket."""
    with weed_mini(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def s3_client(s3_server: S3Server) -> Iterator[Any]:
    """A boto3 S3 client with the server's credentials, closed after the test."""
    client = s3_server.client()
    yield client
    client.close()


class PeakMemory:
    """How far Python's allocations grew at most while inside ``with`` (bytes, via tracemalloc).

    Measured from the level on entry, so tracing that was already on (PYTHONTRACEMALLOC) neither
    breaks the measurement nor is switched off.
    """

    growth = 0

    def __enter__(self) -> PeakMemory:
        self._started = not tracemalloc.is_tracing()
        if self._started:
            tracemalloc.start()
        tracemalloc.reset_peak()
        self._base = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.growth = tracemalloc.get_traced_memory()[1] - self._base
        if self._started:
            tracemalloc.stop()


@pytest.fixture
def peak_memory() -> Callable[[], PeakMemory]:
    """``with peak_memory() as peak: ...`` then ``peak.growth``."""
    return PeakMemory
