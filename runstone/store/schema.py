"""Schema versions: Alembic upgrades, and the refusal to run on an out-of-date database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from runstone.errors import SchemaOutOfDate
from runstone.store.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"


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


def prepare(db: Database) -> None:
    """Create the schema in an empty database; refuse one whose schema is out of date."""
    if is_empty(db):
        upgrade(db)
        return
    current, head = current_revision(db), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"The database schema is at revision {current or 'none'} but this runstone needs "
            f"{head}. Back up the database, then run: runstone db upgrade",
            {"current": current, "head": head},
        )
