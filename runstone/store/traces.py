"""Traces: info rows, tags and request metadata, and spans kept as compressed JSON chunks."""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from runstone.entities import TraceInfo
from runstone.errors import InvalidInput, NotFound
from runstone.store import paging
from runstone.store.engine import rowcount
from runstone.store.search import number_condition, string_condition
from runstone.store.tables import ExperimentTagRow
from runstone.store.trace_tables import TraceMetadataRow, TraceRow, TraceSpanChunkRow, TraceTagRow
from runstone.store.upsert import insert_new, upsert

if TYPE_CHECKING:
    from runstone.tracking.search import Comparison

TRACE_NAME_TAG = "mlflow.traceName"
_ATTRIBUTES: dict[str, Any] = {
    "trace_id": TraceRow.trace_id,
    "timestamp_ms": TraceRow.request_time,
    "execution_time_ms": TraceRow.execution_time,
    "state": TraceRow.state,
    "run_id": TraceRow.run_uuid,
    "client_request_id": TraceRow.client_request_id,
}


def get_pk(session: Session, trace_id: str) -> int:
    pk = session.scalar(select(TraceRow.id).where(TraceRow.trace_id == trace_id))
    if pk is None:
        raise NotFound(f"Trace with ID {trace_id!r} not found.")
    return pk


def find_pk(session: Session, trace_id: str) -> int | None:
    return session.scalar(select(TraceRow.id).where(TraceRow.trace_id == trace_id))


def create(session: Session, trace_id: str, experiment_pk: int, values: Mapping[str, object]) -> int:
    """The trace's primary key, inserting it when absent (a concurrent insert of the same id wins)."""
    row = {"trace_id": trace_id, "experiment_id": experiment_pk, "span_count": 0, "span_bytes": 0, **values}
    insert_new(session, TraceRow.__table__, [row], keys=["trace_id"], returning="id")
    return get_pk(session, trace_id)


def update_trace(session: Session, pk: int, values: Mapping[str, object]) -> None:
    if values:
        session.execute(update(TraceRow).where(TraceRow.id == pk).values(**values))


def experiment_of(session: Session, pk: int) -> int:
    return int(session.scalar(select(TraceRow.experiment_id).where(TraceRow.id == pk)) or 0)


def _set_pairs(session: Session, table: Any, pk: int, pairs: Mapping[str, str]) -> None:
    if pairs:
        rows = [{"trace_pk": pk, "key": k, "value": v} for k, v in pairs.items()]
        upsert(session, table.__table__, rows, keys=["trace_pk", "key"], update=["value"])


def set_tags(session: Session, pk: int, tags: Mapping[str, str]) -> None:
    _set_pairs(session, TraceTagRow, pk, tags)


def set_metadata(session: Session, pk: int, metadata: Mapping[str, str]) -> None:
    _set_pairs(session, TraceMetadataRow, pk, metadata)


def delete_tag(session: Session, pk: int, trace_id: str, key: str) -> None:
    done = session.execute(delete(TraceTagRow).where(TraceTagRow.trace_pk == pk, TraceTagRow.key == key))
    if not rowcount(done):
        raise NotFound(f"Trace {trace_id!r} has no tag {key!r}.")


def pack(spans: Sequence[Mapping[str, Any]]) -> bytes:
    """Spans as one stored chunk. Done before the write transaction: compressing holds no lock."""
    return zlib.compress(orjson.dumps(list(spans)), 6)


def add_spans(session: Session, pk: int, packed: bytes, count: int, *, replace: bool = False) -> None:
    """Store one upload of spans (``pack``-ed) as one chunk (``replace``: instead of all before)."""
    if replace:
        session.execute(delete(TraceSpanChunkRow).where(TraceSpanChunkRow.trace_pk == pk))
    seq = session.scalar(
        select(func.coalesce(func.max(TraceSpanChunkRow.seq), 0)).where(TraceSpanChunkRow.trace_pk == pk)
    )
    session.add(TraceSpanChunkRow(trace_pk=pk, seq=int(seq or 0) + 1, span_count=count, data=packed))
    session.flush()
    totals = session.execute(
        select(func.sum(TraceSpanChunkRow.span_count), func.sum(func.length(TraceSpanChunkRow.data))).where(
            TraceSpanChunkRow.trace_pk == pk
        )
    ).one()
    update_trace(session, pk, {"span_count": int(totals[0] or 0), "span_bytes": int(totals[1] or 0)})


def has_spans(session: Session, pk: int) -> bool:
    return bool(session.scalar(select(exists().where(TraceSpanChunkRow.trace_pk == pk))))


def spans(session: Session, pk: int) -> list[dict[str, Any]]:
    """Every span of the trace, in upload order; a span sent again replaces the earlier copy."""
    chunks = session.scalars(
        select(TraceSpanChunkRow.data).where(TraceSpanChunkRow.trace_pk == pk).order_by(TraceSpanChunkRow.seq)
    )
    by_id: dict[str, dict[str, object]] = {}
    for data in chunks:
        for span in orjson.loads(zlib.decompress(data)):
            by_id[str(span.get("span_id"))] = span
    return list(by_id.values())


def load(session: Session, pks: Sequence[int]) -> list[TraceInfo]:
    if not pks:
        return []
    rows = {r.id: r for r in session.scalars(select(TraceRow).where(TraceRow.id.in_(pks)))}
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    for pk, key, value in session.execute(
        select(TraceTagRow.trace_pk, TraceTagRow.key, TraceTagRow.value).where(TraceTagRow.trace_pk.in_(pks))
    ):
        tags[pk][key] = value
    metadata: dict[int, dict[str, str]] = defaultdict(dict)
    for pk, key, value in session.execute(
        select(TraceMetadataRow.trace_pk, TraceMetadataRow.key, TraceMetadataRow.value).where(
            TraceMetadataRow.trace_pk.in_(pks)
        )
    ):
        metadata[pk][key] = value
    out = []
    for pk in pks:
        r = rows[pk]
        out.append(
            TraceInfo(
                trace_id=r.trace_id,
                experiment_id=str(r.experiment_id),
                request_time=r.request_time,
                execution_time=r.execution_time,
                state=r.state,
                run_id=r.run_uuid,
                model_id=r.logged_model,
                client_request_id=r.client_request_id,
                request_preview=r.request_preview,
                response_preview=r.response_preview,
                span_count=r.span_count,
                tags=tags[pk],
                metadata=metadata[pk],
            )
        )
    return out


def _condition(c: Comparison) -> Any:
    entity, key = ("tag", TRACE_NAME_TAG) if (c.entity, c.key) == ("attribute", "name") else (c.entity, c.key)
    if entity == "attribute":
        column = _ATTRIBUTES[key]
        if key in ("timestamp_ms", "execution_time_ms"):
            return number_condition(column, c.op, c.number())
        return string_condition(column, c.op, c.value)
    table: Any = TraceTagRow if entity == "tag" else TraceMetadataRow
    if c.op in ("IS NULL", "IS NOT NULL"):
        found = exists().where(table.trace_pk == TraceRow.id, table.key == key)
        return found if c.op == "IS NOT NULL" else ~found
    return exists().where(table.trace_pk == TraceRow.id, table.key == key, string_condition(table.value, c.op, c.value))


_ORDER = {
    "timestamp_ms": TraceRow.request_time,
    "timestamp": TraceRow.request_time,
    "request_time": TraceRow.request_time,
    "execution_time_ms": TraceRow.execution_time,
    "execution_time": TraceRow.execution_time,
    "status": TraceRow.state,
    "state": TraceRow.state,
    "trace_id": TraceRow.trace_id,
    "request_id": TraceRow.trace_id,
}


def search(
    session: Session,
    *,
    experiment_pks: Sequence[int],
    comparisons: Sequence[Comparison],
    order_by: Sequence[str],
    max_results: int,
    page_token: str | None,
) -> tuple[list[int], str | None]:
    stmt = select(TraceRow.id).where(TraceRow.experiment_id.in_(experiment_pks))
    for c in comparisons:
        if (
            c.entity == "attribute"
            and c.key in ("timestamp_ms", "execution_time_ms")
            and not isinstance(c.value, float)
        ):
            raise InvalidInput(f"{c.key} compares with a number.")
        stmt = stmt.where(_condition(c))
    sort: list[paging.SortKey] = []
    for clause in order_by:
        words = clause.split()
        field = words[0].removeprefix("attributes.").removeprefix("trace.") if words else ""
        column = _ORDER.get(field)
        if column is None or len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise InvalidInput(
                f"Cannot order traces by {clause!r}; use one of {', '.join(sorted(_ORDER))}, then ASC or DESC."
            )
        sort += paging.nulls_last(column, not (len(words) == 2 and words[1].upper() == "DESC"))
    sort += [(TraceRow.request_time, False), (TraceRow.id, False)]
    query = paging.fingerprint("traces", sorted(experiment_pks), comparisons, order_by)
    pks, token = paging.page(session, stmt, sort, max_results=max_results, page_token=page_token, query=query)
    return pks, token


def delete_traces(
    session: Session,
    experiment_pk: int,
    *,
    max_time: int | None = None,
    max_traces: int | None = None,
    trace_ids: Sequence[str] | None = None,
) -> int:
    """Delete the experiment's traces named by id, or started before ``max_time`` (oldest first,
    at most ``max_traces``); the number deleted."""
    stmt = select(TraceRow.id).where(TraceRow.experiment_id == experiment_pk)
    if trace_ids:
        stmt = stmt.where(TraceRow.trace_id.in_(list(trace_ids)))
    if max_time is not None:
        stmt = stmt.where(TraceRow.request_time <= max_time)
    stmt = stmt.order_by(TraceRow.request_time.asc(), TraceRow.id.asc())
    if max_traces is not None:
        stmt = stmt.limit(max_traces)
    pks = list(session.scalars(stmt))
    for table in (TraceSpanChunkRow, TraceTagRow, TraceMetadataRow):
        session.execute(delete(table).where(table.trace_pk.in_(pks)))
    session.execute(delete(TraceRow).where(TraceRow.id.in_(pks)))
    return len(pks)


def count_traces(session: Session, experiment_pk: int, *, max_time: int) -> int:
    """How many of the experiment's traces started at or before ``max_time``."""
    stmt = select(func.count(TraceRow.id)).where(
        TraceRow.experiment_id == experiment_pk, TraceRow.request_time <= max_time
    )
    return int(session.scalar(stmt) or 0)


def experiments_with_traces(session: Session) -> list[int]:
    """The ids of the experiments that hold traces."""
    return [int(e) for e in session.scalars(select(TraceRow.experiment_id).distinct().order_by(TraceRow.experiment_id))]


def for_run(session: Session, run_uuid: str, limit: int) -> list[int]:
    return list(
        session.scalars(
            select(TraceRow.id).where(TraceRow.run_uuid == run_uuid).order_by(TraceRow.request_time.desc()).limit(limit)
        )
    )


def experiments_tagged(session: Session, key: str) -> list[tuple[int, str]]:
    """(experiment id, value) of every experiment that has the tag ``key``."""
    stmt = select(ExperimentTagRow.experiment_id, ExperimentTagRow.value).where(ExperimentTagRow.key == key)
    return [(int(e), str(v)) for e, v in session.execute(stmt)]


def experiment_tag(session: Session, experiment_pk: int, key: str) -> str | None:
    return session.scalar(
        select(ExperimentTagRow.value).where(
            ExperimentTagRow.experiment_id == experiment_pk, ExperimentTagRow.key == key
        )
    )
