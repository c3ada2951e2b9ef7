"""Schema versions: Alembic upgrades, and the refusal to run on an out-of-date database.

The head revision comes from Alembic's API (``head_revision``, asked once per process). Alembic
is imported only when it has work to do, though: every training job on the embedded store and
every server start opens the database, and asking Alembic costs about 140 ms of CPU there
(importing alembic about 125 ms, ScriptDirectory loading the scripts and finding the head about
13 ms), against under 1 ms to read the ``revision``/``down_revision`` lines of the scripts'
text (``_scripted_head``), about a fifth of a training job's start on the embedded store.
So a database already at the head is recognised from the text, and a new database gets the head
schema straight from the table definitions. Whenever the text is not a plain single chain, the
answer comes from Alembic; tests/store/test_schema.py checks that both read the same head.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from runstone.errors import SchemaOutOfDate
from runstone.store.engine import SCHEMA_LOCK_KEY, Database
from runstone.store.seed import seed_default_experiment
from runstone.store.tables import Base

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"
_SCHEMA_LOCK_KEY = SCHEMA_LOCK_KEY  # held while a new PostgreSQL database gets its schema, and by migrations
_REVISION_LINE = re.compile(
    r"""^(revision|down_revision)(?:: *[\w \[\],|]+)? *= *(?:"([^"]*)"|'([^']*)'|None) *$""", re.M
)


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@functools.cache
def _scripts() -> ScriptDirectory:
    """Alembic's view of the migration scripts, loaded once per process."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


@functools.cache
def head_revision() -> str:
    """The revision the migrations end at, as Alembic reports it."""
    head = _scripts().get_current_head()
    assert head is not None
    return head


def _scripted_head() -> str | None:
    """The head revision read from the migration scripts' text, the shortcut of a start (see the
    module's docstring); None unless every script names its revision and one parent plainly and
    together they form a single chain, and then Alembic answers."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = {name: double or single or None for name, double, single in _REVISION_LINE.findall(path.read_text())}
        if "revision" not in found and "down_revision" not in found:
            continue  # not a migration script
        revision, parent = found.get("revision"), found.get("down_revision")
        if revision is None or "down_revision" not in found:
            return None
        revisions.add(revision)
        if parent is not None:
            parents.add(parent)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revision(db: Database) -> str | None:
    """The revision recorded in the database, read without Alembic; None when unclear."""
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError:
        return None
    return rows[0] if len(rows) == 1 else None


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_empty(db: Database) -> bool:
    with db.engine.connect() as conn:
        return not inspect(conn).get_table_names()


@contextmanager
def _migrating(db: Database) -> Iterator[Connection]:
    """One transaction for a migration, holding the database's schema lock.

    PostgreSQL: the schema advisory lock, taken exclusively, serializes concurrent ``db upgrade``
    runs, waits for the writes in flight (each holds it shared) and holds back new ones until
    the migration commits; they then see the new revision and refuse (Database._check_revision).
    SQLite: BEGIN IMMEDIATE, the one write lock.
    """
    with db.engine.connect() as conn:
        conn.info["runstone_write"] = True
        with conn.begin():
            if db.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
            yield conn


def upgrade(db: Database, revision: str = "head") -> None:
    from alembic import command

    cfg = _config()
    with _migrating(db) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(db: Database, revision: str) -> None:
    from alembic import command

    cfg = _config()
    with _migrating(db) as conn:
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
            head = _scripted_head()
            if head is not None:
                _create_at_head(conn, head)
                return
            from alembic import command

            cfg = _config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


def _create_at_head(conn: Connection, head: str) -> None:
    """The schema the migrations build, created in one go from the table definitions and stamped
    at the head revision: a tenth of the time of running every migration, with no Alembic to
    import. tests/store/test_schema.py checks that both give the same tables, columns, keys and
    indexes, and that the tables match the migrations."""
    Base.metadata.create_all(conn)
    conn.execute(
        text(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    )
    conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head})
    seed_default_experiment(conn)  # as the first migration does


def is_known(revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return _scripts().get_revision(revision) is not None
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
    if (stored := _stored_revision(db)) is not None and stored == _scripted_head():
        db.schema_revision = stored
        return
    current, head = current_revision(db), head_revision()
    if current is not None and current != head and not is_known(current):
        raise SchemaOutOfDate(newer_schema_message(current, head), {"current": current, "head": head})
    if current != head:
        raise SchemaOutOfDate(
            f"The database schema is at revision {current or 'none'} but this runstone needs "
            f"{head}. Back up the database, then run: runstone db upgrade",
            {"current": current, "head": head},
        )
    db.schema_revision = head
