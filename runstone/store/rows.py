"""Plain driver rows for large result sets.

SQLAlchemy wraps every fetched row in a ``Row`` object; for the hundred thousand points of a
metric history, or the params of a page of runs, that wrapping costs more than the query. The
statements that use :func:`plain_rows` select integer, float and text columns, which need no
result processing on SQLite or PostgreSQL, so the driver's tuples are the answer as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.orm import Session


def plain_rows(session: Session, statement: Executable) -> Sequence[Sequence[Any]]:
    result = session.connection().execute(statement)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()
