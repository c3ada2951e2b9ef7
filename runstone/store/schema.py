"""Schema versions: Alembic upgrades, and the refusal to run on an out-of-date database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text

from runstone.errors import SchemaOutOfDate
from runstone.store.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"
_SCHEMA_LOCK_KEY = 0x72736368  # advisory lock id held while a new PostgreSQL database gets its schema


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_empty(db: Database) -> bool:
    with db.engine.connect() as conn:
        return not inspect(conn).get_table_names()


def upgrade(db: Database, revision: str = "head") -> None:
    cfg = _config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(db: Database, revision: str) -> None:
    cfg = _config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _create_if_empty(db: Database) -> None:
    """Create the schema unless another process got there first.

    Processes that start together on a new database (training jobs, server replicas) take
    turns: the check and the creation run under the database's write lock (BEGIN IMMEDIATE on
    SQLite, an advisory lock on PostgreSQL), so the others wait and then find the schema.
    """
    with db.engine.connect() as conn:
        conn.info["runstone_write"] = True
        with conn.begin():
            if db.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
            if inspect(conn).get_table_names():
                return
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


def is_known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


def newer_schema_message(current: str, head: str) -> str:
    return (
        f"The database schema is at revision {current}, which this runstone does not know (it needs "
        f"{head}): the database was upgraded by a newer runstone. Install that version of runstone."
    )


def prepare(db: Database) -> None:
    """Create the schema in an empty database; refuse one whose schema is out of date."""
    if is_empty(db):
        _create_if_empty(db)
    current, head = current_revision(db), head_revision()
    if current is not None and current != head and not is_known(current):
        raise SchemaOutOfDate(newer_schema_message(current, head), {"current": current, "head": head})
    if current != head:
        raise SchemaOutOfDate(
            f"The database schema is at revision {current or 'none'} but this runstone needs "
            f"{head}. Back up the database, then run: runstone db upgrade",
            {"current": current, "head": head},
        )
