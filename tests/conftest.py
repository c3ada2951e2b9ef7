"""Shared fixtures: real SQLite files and a real PostgreSQL server, never mocks of our store.

Store and service tests take the ``backend`` fixture, which runs each test twice: on a fresh
SQLite file and on PostgreSQL (RUNSTONE_TEST_DATABASE_URL; scripts/test starts the server and
sets it). A PostgreSQL that cannot be reached fails the tests; it never skips them.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from runstone.backend import Backend, open_backend
from runstone.config import Settings
from runstone.governance.context import Principal
from runstone.tracking.service import TrackingService

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real ~/.runstone, or inherits a tracking URI."""
    monkeypatch.setenv("RUNSTONE_HOME", str(tmp_path / "home"))
    for name in ("RUNSTONE_TRACKING_URI", "RUNSTONE_BACKEND_STORE_URI", "RUNSTONE_ARTIFACTS_DESTINATION",
                 "RUNSTONE_EXPERIMENT_NAME", "RUNSTONE_EXPERIMENT_ID", "RUNSTONE_RUN_ID", "RUNSTONE_ENV_CACHE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    return os.environ.get("RUNSTONE_TEST_DATABASE_URL", DEFAULT_PG)


def _create_database(server_url: str, prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(server_url: str, name: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_database(pg_server_url: str) -> Iterator[str]:
    """A PostgreSQL database of this test session (no schema promised), dropped at the end."""
    name, url = _create_database(pg_server_url, "runstone_test")
    try:
        yield url
    finally:
        _drop_database(pg_server_url, name)


def fresh_postgres(url: str) -> None:
    """Drop everything in the database's public schema."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def pg_tracking_database(pg_server_url: str) -> Iterator[str]:
    """A PostgreSQL database migrated once for the session; tests empty it instead of rebuilding."""
    from runstone.store import schema
    from runstone.store.engine import Database

    name, url = _create_database(pg_server_url, "runstone_store")
    db = Database(url)
    schema.upgrade(db)
    db.dispose()
    try:
        yield url
    finally:
        _drop_database(pg_server_url, name)


def empty_postgres_tables(url: str) -> None:
    """Remove every row, then put back what a new database starts with (the Default experiment)."""
    from runstone.store.tables import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(
            text(
                "INSERT INTO experiments (id, name, artifact_key, lifecycle_stage, creation_time, last_update_time) "
                "VALUES (0, 'Default', '0', 'active', :now, :now)"
            ),
            {"now": int(time.time() * 1000)},
        )
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with the current schema and no data but the Default experiment."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runstone.db'}"
    url: str = request.getfixturevalue("pg_tracking_database")
    empty_postgres_tables(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema at all (for migration tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    url: str = request.getfixturevalue("pg_database")
    fresh_postgres(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(home=tmp_path / "home", backend_store_uri=db_url, artifacts_destination=str(tmp_path / "artifacts"))


@pytest.fixture
def backend(settings: Settings) -> Iterator[Backend]:
    b = open_backend(settings)
    yield b
    b.close()


class Clock:
    """An injected clock: tests move time explicitly instead of sleeping."""

    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tracking(backend: Backend, clock: Clock) -> TrackingService:
    return backend.tracking(backend.context(Principal("tester"), clock=clock))


@pytest.fixture
def app(backend: Backend, settings: Settings):  # type: ignore[no-untyped-def]
    from runstone.server.app import create_app

    return create_app(settings, backend=backend)


@pytest.fixture
def http(app):  # type: ignore[no-untyped-def]
    """The real HTTP stack in-process (an httpx.Client), no socket."""
    from fastapi.testclient import TestClient

    with TestClient(app, headers={"X-Runstone-User": "tester"}) as c:
        yield c


@pytest.fixture
def remote_client(http, settings: Settings):  # type: ignore[no-untyped-def]
    """A RunstoneClient that talks HTTP to the in-process server."""
    from runstone.sdk.client import RunstoneClient

    return RunstoneClient(
        "http://testserver", http_client=http, settings=settings.model_copy(update={"http_retries": 0})
    )


@pytest.fixture
def local_client(settings: Settings):  # type: ignore[no-untyped-def]
    """A RunstoneClient on the embedded backend of the same stores."""
    from runstone.sdk.client import RunstoneClient

    return RunstoneClient(settings.database_uri, settings=settings)
