"""Plain SQL straight to the database driver, for the statements every small write runs.

Building, caching and executing a SQLAlchemy statement costs 100 to 250 µs of CPU; the same
statement handed to the driver costs a few. The statements here are written once, with ``?``
placeholders (turned into ``%s`` for PostgreSQL's driver), and run on the connection of the
session's transaction, so they commit or roll back with everything else in it. A driver error is
raised as SQLAlchemy's own (``IntegrityError``, ``OperationalError``, ...), which the
transaction scope translates as it does for every other statement.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


@functools.lru_cache(maxsize=512)
def _for(sql: str, paramstyle: str) -> str:
    if paramstyle == "qmark":
        return sql
    return sql.replace("%", "%%").replace("?", "%s")


_CONNECTION = "runstone.connection"


def hold(session: Session, connection: Connection) -> None:
    """Run this module's statements for ``session`` on ``connection``, the one its transaction
    is bound to, without asking the session for it (the session's first ``connection()`` builds
    its transaction state: some 15 µs that a request whose statements all come here never needs)."""
    session.info[_CONNECTION] = connection


def _connection(session: Session | Connection) -> Connection:
    if isinstance(session, Session):
        held: Connection | None = session.info.get(_CONNECTION)
        return held if held is not None else session.connection()
    return session


def dialect_name(session: Session | Connection) -> str:
    """The database's kind: "sqlite" or "postgresql"."""
    return str(_connection(session).dialect.name)


def _cursor(session: Session | Connection, sql: str, params: Sequence[Any]) -> tuple[Any, Any]:
    connection = _connection(session)
    dialect = connection.dialect
    statement = _for(sql, dialect.paramstyle)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement, tuple(params))
    except dialect.loaded_dbapi.Error as exc:
        cursor.close()
        raise DBAPIError.instance(statement, params, exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc
    except BaseException:
        cursor.close()
        raise
    return cursor, dialect


def rows(session: Session, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Every row the statement answers, as tuples."""
    cursor, _ = _cursor(session, sql, params)
    try:
        return list(cursor.fetchall())
    finally:
        cursor.close()


def first(session: Session | Connection, sql: str, params: Sequence[Any] = ()) -> Any | None:
    """The first row the statement answers (a tuple), or None."""
    cursor, _ = _cursor(session, sql, params)
    try:
        return cursor.fetchone()
    finally:
        cursor.close()


# Values of one IN list per statement: well under SQLite's limit of 32,766 bound values.
IN_CHUNK = 10_000


def rows_in(session: Session, sql: str, values: Sequence[Any], params: Sequence[Any] = ()) -> list[Any]:
    """Every row of ``sql`` for ``values`` in its one ``IN ({values})`` list (as many statements
    as chunks of ``IN_CHUNK`` values take), with ``params`` bound after them."""
    found: list[Any] = []
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        found += rows(session, sql.format(values=", ".join("?" * len(chunk))), (*chunk, *params))
    return found


def execute(session: Session, sql: str, params: Sequence[Any] = ()) -> int:
    """Run a statement that answers no rows; the number of rows it changed."""
    cursor, _ = _cursor(session, sql, params)
    try:
        return int(cursor.rowcount)
    finally:
        cursor.close()


def execute_many(session: Session, sql: str, params: Sequence[Sequence[Any]]) -> None:
    """Run a statement once per parameter tuple (the driver's executemany)."""
    if not params:
        return
    connection = _connection(session)
    dialect = connection.dialect
    statement = _for(sql, dialect.paramstyle)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(statement, params)
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(statement, params, exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc
    finally:
        cursor.close()


# Rows of one multi-row INSERT: a statement binds a few hundred values, well under the limits of
# both databases, and the power-of-two sizes of the remainder keep the statements a driver caches
# few (at most nine per statement shape).
INSERT_CHUNK = 128


@functools.lru_cache(maxsize=64)
def _values(sql: str, width: int, count: int) -> str:
    group = "(" + ", ".join("?" * width) + ")"
    return sql.format(values=", ".join([group] * count))


def insert_rows(session: Session, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run ``sql``, an INSERT whose ``VALUES {values}`` takes the rows, with many rows a
    statement. For a thousand rows this is less than half the time of the driver's executemany,
    which binds and steps the statement once per row."""
    if not rows:
        return
    width, total, start = len(rows[0]), len(rows), 0
    while start < total:
        left = total - start
        count = INSERT_CHUNK if left >= INSERT_CHUNK else 1 << (left.bit_length() - 1)
        execute(session, _values(sql, width, count), [v for row in rows[start : start + count] for v in row])
        start += count
