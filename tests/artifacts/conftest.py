"""Fixtures of the artifact tests: a SeaweedFS S3 server for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from s3server import S3Server, weed_mini


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server (``weed mini``) on free loopback ports, with one bucket."""
    with weed_mini(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server
