"""Keyset page tokens, for every paged list of the store.

A page token carries the sort values of the last row a page showed, and the next page starts
strictly after that row. Rows inserted or deleted between two fetches neither repeat nor go
missing from the pages, and a deep page costs what the first does. The order always ends in a
unique key (an id, or a name), so "after" is exact. The token also carries a fingerprint of the
query: a token handed to a different query is refused instead of paging it from a wrong place.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, or_
from sqlalchemy.orm import Session

from runstone.errors import InvalidInput

# A sort key: an SQL expression and whether it ascends.
SortKey = tuple[Any, bool]


def fingerprint(*query: object) -> str:
    """A short digest of what a query asks for (its filter, order, scope)."""
    return hashlib.sha256(repr(query).encode()).hexdigest()[:16]


def encode(query: str, values: Sequence[object]) -> str:
    payload = json.dumps({"q": query, "after": list(values)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode(token: str, query: str, length: int) -> list[Any]:
    """The sort values a token carries; InvalidInput for a token of another query or no token."""
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        values = payload["after"]
        if payload["q"] != query:
            raise InvalidInput(
                "This page token belongs to a different search; pass the same filter and order as the "
                "request that returned it."
            )
        if not isinstance(values, list) or len(values) != length:
            raise ValueError
        return values
    except InvalidInput:
        raise
    except Exception:
        raise InvalidInput("Invalid page token.") from None


def after(sort: Sequence[SortKey], values: Sequence[object]) -> ColumnElement[bool]:
    """Rows that come strictly after the row whose sort values are ``values``."""
    terms: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for (expr, ascending), value in zip(sort, values, strict=True):
        if value is not None:
            terms.append(and_(*equal_so_far, expr > value if ascending else expr < value))
            equal_so_far.append(expr == value)
        else:
            equal_so_far.append(expr.is_(None))
    return or_(*terms)


def nulls_last(expr: Any, ascending: bool) -> list[SortKey]:
    """The sort keys of a column that may be NULL: its missing values last in either direction,
    on every database (SQLite and PostgreSQL disagree where NULL goes)."""
    return [(case((expr.is_(None), 1), else_=0), True), (expr, ascending)]


def page(
    session: Session,
    stmt: Select[Any],
    sort: Sequence[SortKey],
    *,
    max_results: int,
    page_token: str | None,
    query: str,
) -> tuple[list[Any], str | None]:
    """One page of the first entity ``stmt`` selects, in the order of ``sort`` (whose last key
    is unique), and the token of the next page (None after the last)."""
    if page_token:
        stmt = stmt.where(after(sort, decode(page_token, query, len(sort))))
    keys = [expr.label(f"_page_k{i}") for i, (expr, _) in enumerate(sort)]
    stmt = stmt.add_columns(*keys).order_by(*[(expr.asc() if asc else expr.desc()) for expr, asc in sort])
    rows = session.execute(stmt.limit(max_results + 1)).all()
    token = encode(query, list(rows[max_results - 1][1:])) if len(rows) > max_results else None
    return [row[0] for row in rows[:max_results]], token
