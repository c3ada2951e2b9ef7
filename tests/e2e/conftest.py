"""Fixtures of the end-to-end tests: real ``runstone server`` subprocesses.

The log of every server a failed test started is printed with the failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from e2e_support import Server, Servers
from sqlalchemy import create_engine, text

_failed = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[_failed] = True
    return report


@pytest.fixture
def servers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Servers]:
    pool = Servers(tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
        if request.node.stash.get(_failed, False):
            for server in pool.started:
                print(f"\n----- log of runstone server {server.url} -----\n{server.log()[-20_000:]}")


@pytest.fixture
def server(servers: Servers) -> Server:
    """One server on the embedded default (SQLite and an artifact folder in its home)."""
    return servers.start()


@pytest.fixture
def pg_schema_url(pg_database: str) -> Iterator[str]:
    """A fresh, empty schema of the session's PostgreSQL database, chosen through search_path."""
    schema = f"e2e_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg_database}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
