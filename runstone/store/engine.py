"""Engine and unit-of-work scope.

Services open one transaction per request with :meth:`Database.transaction`; repositories
never commit. On SQLite, writers take the write lock up front (``BEGIN IMMEDIATE``) and,
inside one process, queue on a lock, so concurrent writers wait their turn instead of
failing with "database is locked"; across processes a long busy timeout does the waiting.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError, InternalError, OperationalError
from sqlalchemy.orm import Session

from runstone.errors import InvalidInput, InvalidState, SchemaOutOfDate, Unavailable
from runstone.store import raw

log = logging.getLogger("runstone.store")
SQLITE_BUSY_TIMEOUT_MS = 60_000
SQLITE_CACHE_KIB = 32 * 1024
SCHEMA_LOCK_KEY = 0x72736368  # advisory lock id: held by migrations, shared by writes (PostgreSQL)
_AUDIT_LOCK_KEY = 0x72756E73  # advisory lock id that serializes audit-chain appends on PostgreSQL


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched. ``Session.execute`` is typed as answering a
    ``Result``; for those statements it is a ``CursorResult``, which counts them."""
    return cast("CursorResult[Any]", result).rowcount


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below, not the driver, decide when transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit that returned is on disk, even after a power cut.
        cursor.execute("PRAGMA synchronous = FULL")
        # SQLite's default page cache is 2 MiB per connection: a search over a few thousand runs
        # then re-reads some 700 pages from the operating system on every call. The cache grows
        # only as pages are read, up to this size.
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cursor.execute("PRAGMA foreign_keys = ON")
        # LIKE is case-sensitive in the search grammar, as on PostgreSQL; ILIKE is not.
        cursor.execute("PRAGMA case_sensitive_like = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight to the driver: through ``exec_driver_sql`` the BEGIN of every transaction
        # cost some 35 µs of statement machinery for a statement that answers nothing.
        raw.first(conn, "BEGIN IMMEDIATE" if conn.info.get("runstone_write") else "BEGIN")


class Database:
    """One metadata database: engine plus the transaction scope every service uses."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs: dict[str, object] = {"echo": echo}
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 60}
            # The connection used last is taken again: SQLite keeps a connection's page cache
            # while no other connection has written since, so a process writing one transaction
            # after another reads no page twice (round-robin, each connection would re-read the
            # pages every other one changed).
            kwargs["pool_use_lifo"] = True
            if not database or database == ":memory:":
                raise InvalidInput("An in-memory SQLite database cannot be shared; use a file.")
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine = create_engine(parsed, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        # The schema revision this process was built for, once checked (schema.prepare): every
        # write transaction then confirms the database is still at it.
        self.schema_revision: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Session]:
        """Yield a session inside one transaction; commit on success, roll back on error."""
        lock = self._write_lock if (write and self._write_lock is not None) else nullcontext()
        with lock:
            attempt = 0
            while True:
                try:
                    with self._session(write) as session:
                        yield session
                    return
                except DataError as exc:
                    # A value the database cannot store or compare (a NUL byte in PostgreSQL
                    # text, a number out of range) came from the caller: bad input, not a fault.
                    raise InvalidInput(f"The database cannot accept a value of this request: {exc.orig}") from exc
                except IntegrityError as exc:
                    # Every insert-if-absent path lets the database's keys decide and names the
                    # conflict itself; one that does not (a row removed by a concurrent request
                    # that this one refers to) still answers what happened, not a 500.
                    log.warning("A write conflicted with a concurrent one: %s", exc.orig)
                    raise InvalidState(
                        "This request conflicts with a change another request made at the same moment; "
                        "read the current state and retry."
                    ) from exc
                except OverflowError as exc:
                    # SQLite's driver refuses integers beyond 64 bits before the database sees them.
                    raise InvalidInput(f"A number in this request is too large to store: {exc}") from exc
                except InternalError as exc:
                    # PostgreSQL in read-only mode (a standby, default_transaction_read_only)
                    # refuses writes with an "invalid transaction state" error.
                    raise Unavailable(f"The metadata database cannot take writes: {exc.orig}") from exc
                except OperationalError as exc:
                    # Only failures to *start* are retried (a busy database across processes);
                    # the body of the transaction has not run when we get here.
                    if not getattr(exc, "_runstone_begin", False) or attempt >= 5:
                        raise self._unavailable(exc) from exc
                    attempt += 1
                    time.sleep(0.05 * attempt + random.random() * 0.05)

    @contextmanager
    def _session(self, write: bool) -> Iterator[Session]:
        with self.engine.connect() as conn:
            conn.info["runstone_write"] = write
            try:
                trans = conn.begin()
            except OperationalError as exc:
                exc._runstone_begin = True  # type: ignore[attr-defined]
                raise
            session = Session(bind=conn, expire_on_commit=False, autoflush=False)
            raw.hold(session, conn)
            try:
                if write and self.schema_revision is not None:
                    self._check_revision(conn)
                yield session
                session.flush()
                trans.commit()
            except BaseException:
                trans.rollback()
                raise
            finally:
                session.close()

    def _check_revision(self, conn: Any) -> None:
        """Refuse to write into a schema that a migration changed after this process started.

        On PostgreSQL each write holds the schema lock shared (in memory, no row is touched) and a
        migration takes it exclusively, so a write either commits before the migration starts or
        waits for it and then reads its revision. On SQLite the write lock (BEGIN IMMEDIATE)
        already orders the two.
        """
        # Straight to the driver: every write transaction runs this.
        if self.dialect == "postgresql":
            raw.first(conn, f"SELECT pg_advisory_xact_lock_shared({SCHEMA_LOCK_KEY})")
        row = raw.first(conn, "SELECT version_num FROM alembic_version")
        found = row[0] if row else None
        if found != self.schema_revision:
            raise SchemaOutOfDate(
                f"The database schema was changed to revision {found} while this process runs revision "
                f"{self.schema_revision}; it takes no more writes. Restart it with a runstone that matches "
                "the database.",
                {"current": found, "expected": self.schema_revision},
            )

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            raise self._unavailable(exc) from exc

    def check_writable(self) -> None:
        """Commit a write (a probe row added and removed); Unavailable when the database refuses it."""
        probe = f"ready-probe-{uuid.uuid4().hex}"
        with self.transaction(write=True) as session:
            session.execute(text("INSERT INTO applied_requests (request_id, time) VALUES (:id, 0)"), {"id": probe})
            session.execute(text("DELETE FROM applied_requests WHERE request_id = :id"), {"id": probe})

    def lock_audit_chain(self, session: Session) -> None:
        """Serialize appends to the audit chain across processes and replicas."""
        if self.dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK_KEY})
        # SQLite: BEGIN IMMEDIATE already made this transaction the only writer.

    @staticmethod
    def _unavailable(exc: OperationalError) -> Unavailable:
        return Unavailable(f"The metadata database is unavailable: {exc.orig}")

    def dispose(self) -> None:
        self.engine.dispose()
