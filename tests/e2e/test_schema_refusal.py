"""A server refuses a database whose schema is out of date, and names the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import Servers, remote, run_cli
from sqlalchemy import create_engine, text

from runstone.store import schema
from runstone.store.engine import Database

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


def refusal(servers: Servers, url: str) -> str:
    """Start a server on ``url``; it must exit non-zero. Returns its output."""
    process = servers.launch("--backend-store-uri", url).process
    code = process.wait(timeout=60)
    output = servers.started[-1].log()
    assert code != 0, output
    assert "Traceback" not in output
    return output


def test_server_refuses_an_older_schema_until_db_upgrade(servers: Servers, database_url: str) -> None:
    created = run_cli("db", "upgrade", "--backend-store-uri", database_url)
    assert created.returncode == 0, created.stderr
    # Take the database back to the schema of an older runstone.
    db = Database(database_url)
    try:
        schema.downgrade(db, "base")
    finally:
        db.dispose()

    output = refusal(servers, database_url)
    assert "Error: The database schema is at revision none" in output
    assert "runstone db upgrade" in output

    upgraded = run_cli("db", "upgrade", "--backend-store-uri", database_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"Schema at {schema.head_revision()}" in upgraded.stdout

    server = servers.start("--backend-store-uri", database_url)
    with remote(server.url) as client:
        assert client.create_experiment("after-upgrade") == "1"


def test_server_and_db_upgrade_refuse_a_schema_from_a_newer_runstone(servers: Servers, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    assert run_cli("db", "upgrade", "--backend-store-uri", url).returncode == 0
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    engine.dispose()

    output = refusal(servers, url)
    assert "ffffffffffff" in output and "newer runstone" in output

    upgrade = run_cli("db", "upgrade", "--backend-store-uri", url)
    assert upgrade.returncode == 1
    assert upgrade.stderr.startswith("Error: The database schema is at revision ffffffffffff")
    assert "Traceback" not in upgrade.stderr
