"""Fixtures of the SDK tests: a clean fluent state per test, and the places the SDK logs to.

``target`` runs a fluent test twice: on the embedded store under RUNSTONE_HOME (SQLite, no
configuration at all) and through the real HTTP stack in-process to a server on PostgreSQL.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runstone.backend import open_backend
from runstone.config import Settings
from runstone.sdk import client as client_module
from runstone.sdk import fluent
from runstone.sdk.client import RunstoneClient


@pytest.fixture(autouse=True)
def fluent_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """No active experiment, run, tracking URI or cached embedded store leaks between tests."""
    state = fluent._State()
    monkeypatch.setattr(fluent, "_state", state)
    backends: dict[str, Any] = {}
    monkeypatch.setattr(client_module, "_local_backends", backends)
    yield state
    # A failing test may leave runs active and worker threads running: end them quietly.
    while state.stack:
        state.stack.pop()
    for batcher in state.batchers.values():
        try:
            batcher.close()
        except Exception:
            pass
    for backend in backends.values():
        backend.close()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh current directory, as a training script would have."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture(params=["embedded", "server"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunstoneClient]:
    """Where the fluent API logs; yields a RunstoneClient that reads the same store."""
    if request.param == "embedded":
        yield RunstoneClient()
        return
    from fastapi.testclient import TestClient

    from runstone.server.app import create_app

    url: str = request.getfixturevalue("pg_database")
    _empty_postgres(url)
    server_settings = Settings(
        home=tmp_path / "server", backend_store_uri=url, artifacts_destination=str(tmp_path / "server" / "artifacts")
    )
    backend = open_backend(server_settings)
    try:
        with TestClient(create_app(server_settings, backend=backend)) as http:
            client = RunstoneClient("http://testserver", http_client=http, settings=Settings(http_retries=0))
            fluent.set_tracking_uri(client)
            yield client
            fluent.flush()
    finally:
        backend.close()


def _empty_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (bound and released at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
