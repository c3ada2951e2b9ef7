"""Fixtures of the SDK tests: a clean fluent state per test, and the places the SDK logs to.

``target`` runs a fluent test twice: on the embedded store under RUNSTONE_HOME (SQLite, no
configuration at all) and through the real HTTP stack in-process to a server on PostgreSQL.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from inprocess import forward

from runstone.backend import open_backend
from runstone.config import Settings
from runstone.sdk import client as client_module
from runstone.sdk import fluent
from runstone.sdk.client import RunstoneClient


@pytest.fixture(autouse=True)
def fluent_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """No active experiment, run, tracking URI or cached embedded store leaks between tests.

    The test process's entry point lives in this project's checkout; without GIT_DIR every
    run would record this checkout's git state and diff (test_system_tags covers git).
    """
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "not-a-git-dir"))
    client_module.close_local_backends()
    yield fluent.reset()
    # A failing test may leave runs active and senders running: drop them, ending no run.
    fluent.reset()
    client_module.close_local_backends()


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
            # Stop the background sender (heartbeats of runs a test left active) while the
            # in-process server still answers: a request in flight as the test client's event
            # loop stops would never finish.
            fluent.reset()
    finally:
        backend.close()


def _empty_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def free_port() -> Callable[[], int]:
    """``free_port()``: a loopback port nothing listens on (bound and released at once)."""
    return _free_port


@pytest.fixture(params=["local", "remote"])
def make_client(request: pytest.FixtureRequest, settings: Settings) -> Any:
    """``make_client(**settings)``: a RunstoneClient on the embedded backend of the test's
    database (local) or through the real HTTP stack in-process (remote)."""

    def make(*, http_client: Any = None, **overrides: Any) -> RunstoneClient:
        client_settings = settings.model_copy(update={"http_retries": 0, **overrides})
        if request.param == "local":
            return RunstoneClient(settings.database_uri, settings=client_settings)
        http = http_client or request.getfixturevalue("http")
        return RunstoneClient("http://testserver", http_client=http, settings=client_settings)

    make.kind = request.param  # type: ignore[attr-defined]
    return make


class Faulty(httpx.BaseTransport):
    """Forwards requests to the in-process server; ``fault(request, response)`` may raise
    (``response`` is None before the request is forwarded) to stand in for a broken network."""

    def __init__(self, inner: httpx.BaseTransport, fault: Callable[[httpx.Request, httpx.Response | None], None]):
        self.inner = inner
        self.fault = fault

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.fault(request, None)
        response = forward(self.inner, request)
        self.fault(request, response)
        return response


@pytest.fixture
def faulty_http(http: Any) -> Iterator[Callable[..., httpx.Client]]:
    """``faulty_http(fault)``: an httpx.Client to the in-process server with injected faults."""
    made: list[httpx.Client] = []

    def make(fault: Callable[[httpx.Request, httpx.Response | None], None]) -> httpx.Client:
        made.append(httpx.Client(base_url="http://testserver", transport=Faulty(http._transport, fault)))
        return made[-1]

    yield make
    for client in made:
        client.close()
