"""INSERT ... ON CONFLICT for the dialects runstone runs on (SQLite and PostgreSQL)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def _insert(session: Session, table: object) -> Any:
    return _insert_for(session.get_bind().dialect.name, table)


def _insert_for(name: str, table: Any) -> Any:
    # Each dialect is imported when first used: a server on SQLite never loads PostgreSQL's.
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise NotImplementedError(f"upsert on {name}")


def insert_ignore(session: Session, table: object, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    if rows:
        session.execute(_insert(session, table).on_conflict_do_nothing(index_elements=list(keys)), rows)


def insert_new(
    session: Session, table: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str], returning: str
) -> list[Any]:
    """Insert the rows whose keys are not taken yet; return the ``returning`` column of those inserted.

    On PostgreSQL a row a concurrent transaction is inserting is waited for: if that one
    commits, this row is skipped, so the database's unique key, not a prior read, decides.
    """
    if not rows:
        return []
    stmt = _insert(session, table).values(list(rows)).on_conflict_do_nothing(index_elements=list(keys))
    return list(session.scalars(stmt.returning(table.c[returning])))


# Statements are immutable, so each is built once: building the ``excluded`` pseudo-table of a
# fresh INSERT costs more than executing it, and this is on the path of every logged batch.
# Bounded, because a caller may pass a new ``where`` function on every call.
@functools.lru_cache(maxsize=256)
def _upsert_statement(dialect: str, table: Any, keys: tuple[str, ...], update: tuple[str, ...], where: Any) -> Any:
    stmt = _insert_for(dialect, table)
    condition: ColumnElement[bool] | None = where(table, stmt.excluded) if where else None
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={column: stmt.excluded[column] for column in update},
        where=condition,
    )


def upsert(
    session: Session,
    table: object,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
    where: object = None,
) -> None:
    """Insert rows; on a key conflict, overwrite ``update`` columns (if ``where`` holds).

    ``where`` is a callable taking (existing table, excluded) and returning a condition.
    """
    if not rows:
        return
    stmt = _upsert_statement(session.get_bind().dialect.name, table, tuple(keys), tuple(update), where)
    session.execute(stmt, rows)
