"""Run search compiled into one SQL statement, with keyset page tokens.

Every filter comparison becomes a join or an EXISTS on indexed tables; every order key becomes
a (rank, value) pair so that missing values and NaN sort last in either direction, as in
MLflow. The page token carries the sort values of the last row of the page, so a page costs
the same however deep into the results it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, select
from sqlalchemy.orm import Session

from runstone.errors import InvalidInput
from runstone.store import metrics as metric_store
from runstone.store import paging
from runstone.store.tables import DatasetRow, InputRow, LatestMetricRow, ParamRow, RunRow, TagRow

# The statements are built from the tables themselves (SQLAlchemy Core): an ORM alias costs a
# column adaptation per use, and building a search's statement from them took as long as the
# database took to answer it.
_RUNS = RunRow.__table__
_R = _RUNS.c
_LATEST = LatestMetricRow.__table__
_KEY_VALUES = {"param": ParamRow.__table__, "tag": TagRow.__table__}
_D = DatasetRow.__table__.c
_I = InputRow.__table__.c

if TYPE_CHECKING:
    from runstone.tracking.search import Comparison, OrderKey


@dataclass
class RunPage:
    run_ids: list[int]
    next_page_token: str | None


def string_condition(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "LIKE":
        return column.like(value)
    if op == "ILIKE":
        return func.lower(column).like(str(value).lower())
    if op == "IN":
        return column.in_(value)
    if op == "NOT IN":
        return column.not_in(value)
    raise InvalidInput(f"Operator {op} cannot compare strings.")


def number_condition(column: Any, op: str, value: float) -> ColumnElement[bool]:
    conditions = {
        "=": lambda: column == value,
        "!=": lambda: column != value,
        "<": lambda: column < value,
        "<=": lambda: column <= value,
        ">": lambda: column > value,
        ">=": lambda: column >= value,
    }
    if op not in conditions:
        raise InvalidInput(f"Operator {op} cannot compare numbers.")
    return conditions[op]()


_DURATION = _R.end_time - _R.start_time

_ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "run_id": _R.uuid,
    "run_name": _R.name,
    "status": _R.status,
    "user_id": _R.user_id,
    "start_time": _R.start_time,
    "end_time": _R.end_time,
    "experiment_id": _R.experiment_id,
    "duration": _DURATION,
    "artifact_uri": _R.artifact_key,
}


def _key_ids(session: Session, comparisons: list[Comparison], order_by: list[OrderKey]) -> dict[str, int]:
    """The ids of the metric keys a search filters or sorts on, in one statement."""
    keys = {c.key for c in comparisons if c.entity == "metric"} | {o.key for o in order_by if o.entity == "metric"}
    return metric_store.key_ids(session, keys, create=False)


def _conditions(
    experiment_ids: list[int], comparisons: list[Comparison], stages: tuple[str, ...], key_ids: dict[str, int]
) -> list[ColumnElement[bool]] | None:
    """The WHERE terms of a search; None when nothing can match."""
    where: list[ColumnElement[bool]] = [_R.experiment_id.in_(experiment_ids), _R.lifecycle_stage.in_(stages)]
    for c in comparisons:
        condition = _comparison(c, key_ids)
        if condition is None:
            return None
        where.append(condition)
    return where


def _ordered(order_by: list[OrderKey], key_ids: dict[str, int]) -> tuple[Any, list[tuple[Any, bool]]]:
    """The statement selecting run ids with the joins the order needs, and its sort keys."""
    stmt = select(_R.id)
    sort: list[tuple[object, bool]] = []
    for o in order_by:
        if o.entity == "metric":
            key_id = key_ids.get(o.key)
            if key_id is None:
                continue  # nobody has this metric: it cannot change the order
            joined = _LATEST.alias()
            lm = joined.c
            stmt = stmt.outerjoin(joined, and_(lm.run_id == _R.id, lm.key_id == key_id))
            rank = case((lm.run_id.is_(None), 2), (lm.value.is_(None), 1), else_=0)
            sort += [(rank, True), (lm.value, o.ascending)]
        elif o.entity in ("param", "tag"):
            joined = _KEY_VALUES[o.entity].alias()
            kv = joined.c
            stmt = stmt.outerjoin(joined, and_(kv.run_id == _R.id, kv.key == o.key))
            sort += [(case((kv.value.is_(None), 1), else_=0), True), (kv.value, o.ascending)]
        else:
            column = _ATTRIBUTE_COLUMNS[o.key]
            if o.key in ("end_time", "duration"):
                sort.append((case((column.is_(None), 1), else_=0), True))
            sort.append((column, o.ascending))
    if not order_by:
        sort.append((_R.start_time, False))
    sort.append((_R.id, False))
    return stmt, sort


def search_run_ids(
    session: Session,
    *,
    experiment_ids: list[int],
    comparisons: list[Comparison],
    order_by: list[OrderKey],
    stages: tuple[str, ...],
    max_results: int,
    page_token: str | None,
) -> RunPage:
    key_ids = _key_ids(session, comparisons, order_by)
    where = _conditions(experiment_ids, comparisons, stages, key_ids)
    if where is None:
        return RunPage([], None)
    stmt, sort = _ordered(order_by, key_ids)

    fingerprint = _fingerprint(experiment_ids, comparisons, order_by, stages)
    if page_token:
        values = paging.decode(page_token, fingerprint, len(sort))
        where.append(paging.after(sort, values))

    columns = [expr.label(f"k{i}") for i, (expr, _) in enumerate(sort)]
    stmt = stmt.add_columns(*columns).where(*where)
    stmt = stmt.order_by(*[(expr.asc() if asc else expr.desc()) for expr, asc in sort]).limit(max_results + 1)
    rows = session.execute(stmt).all()
    next_token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        next_token = paging.encode(fingerprint, list(rows[-1][1:]))
    return RunPage([row[0] for row in rows], next_token)


def count_runs(
    session: Session, *, experiment_ids: list[int], comparisons: list[Comparison], stages: tuple[str, ...]
) -> int:
    """How many runs a search matches, over all its pages."""
    where = _conditions(experiment_ids, comparisons, stages, _key_ids(session, comparisons, []))
    if where is None:
        return 0
    return int(session.scalar(select(func.count()).select_from(_RUNS).where(*where)) or 0)


def previous_page_token(
    session: Session,
    *,
    experiment_ids: list[int],
    comparisons: list[Comparison],
    order_by: list[OrderKey],
    stages: tuple[str, ...],
    max_results: int,
    page_token: str,
) -> str | None:
    """The token of the page before the one ``page_token`` opens, None when that is the first page.

    ``page_token`` holds the sort values of the row just before its page. The page before ends
    with that row, so its own token is the values of the row ``max_results`` rows further back:
    one statement that walks the order backwards from there.
    """
    key_ids = _key_ids(session, comparisons, order_by)
    where = _conditions(experiment_ids, comparisons, stages, key_ids)
    stmt, sort = _ordered(order_by, key_ids)
    fingerprint = _fingerprint(experiment_ids, comparisons, order_by, stages)
    values = paging.decode(page_token, fingerprint, len(sort))
    if where is None:
        return None
    backwards = [(expr, not ascending) for expr, ascending in sort]
    columns = [expr.label(f"k{i}") for i, (expr, _) in enumerate(sort)]
    stmt = (
        stmt.add_columns(*columns)
        .where(*where, paging.after(backwards, values))
        .order_by(*[(expr.asc() if asc else expr.desc()) for expr, asc in backwards])
        .offset(max_results - 1)
        .limit(1)
    )
    row = session.execute(stmt).first()
    return None if row is None else paging.encode(fingerprint, list(row[1:]))


def _comparison(c: Comparison, key_ids: dict[str, int]) -> ColumnElement[bool] | None:
    """SQL condition for one comparison; None when it can match nothing."""
    if c.entity == "metric":
        key_id = key_ids.get(c.key)
        lm = _LATEST.alias().c
        if c.op in ("IS NULL", "IS NOT NULL"):
            if key_id is None:
                return literal(True) if c.op == "IS NULL" else None
            has = exists().where(lm.run_id == _R.id, lm.key_id == key_id)
            return ~has if c.op == "IS NULL" else has
        if key_id is None:
            return None
        return exists().where(
            lm.run_id == _R.id,
            lm.key_id == key_id,
            number_condition(lm.value, c.op, c.number()),
        )
    if c.entity in ("param", "tag"):
        kv = _KEY_VALUES[c.entity].alias().c
        has_key = [kv.run_id == _R.id, kv.key == c.key]
        if c.op == "IS NULL":
            return ~exists().where(*has_key)
        if c.op == "IS NOT NULL":
            return exists().where(*has_key)
        return exists().where(*has_key, string_condition(kv.value, c.op, c.value))
    if c.entity == "dataset":
        column = {"name": _D.name, "digest": _D.digest, "context": _I.context}[c.key]
        inner = [_I.run_id == _R.id, _D.id == _I.dataset_id]
        if c.op in ("IS NULL", "IS NOT NULL"):
            has = exists().where(*inner, column.is_not(None))
            return ~has if c.op == "IS NULL" else has
        return exists().where(*inner, string_condition(column, c.op, c.value))
    column = _ATTRIBUTE_COLUMNS[c.key]
    if c.op == "IS NULL":
        return column.is_(None)
    if c.op == "IS NOT NULL":
        return column.is_not(None)
    if c.key in ("start_time", "end_time", "duration"):
        return number_condition(column, c.op, c.number())
    if c.key == "experiment_id":
        values = c.value if isinstance(c.value, tuple) else (c.value,)
        try:
            numbers = tuple(int(str(v)) for v in values)
        except ValueError:
            raise InvalidInput("attributes.experiment_id takes decimal experiment ids.") from None
        if c.op in ("IN", "NOT IN"):
            return string_condition(column, c.op, numbers)
        if c.op in ("=", "!="):
            return string_condition(column, c.op, numbers[0])
        raise InvalidInput(f"Operator {c.op} cannot compare experiment ids.")
    return string_condition(column, c.op, c.value)


def _fingerprint(
    experiment_ids: list[int], comparisons: list[Comparison], order_by: list[OrderKey], stages: tuple[str, ...]
) -> str:
    return paging.fingerprint(sorted(experiment_ids), comparisons, order_by, stages)
