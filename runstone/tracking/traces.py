"""Traces of GenAI and other instrumented code: what ran, in spans, linked to runs and models.

A trace arrives in two ways. MLflow 3's client sends its info (``start``) and then its spans
as one JSON document (``upload``); OpenTelemetry exporters send spans over OTLP, possibly in
several batches (``add_otel_spans``), and the trace's info is made from its root span. Spans
are kept as MLflow's span dictionaries (ids in base64, attribute values as JSON text) in
compressed chunks; search reads only the info, tag and metadata rows.

Each experiment may keep its traces for a number of days (``set_retention``, or the experiment
tag ``runstone.traces.retentionDays`` set by any client): older ones are deleted as new traces
arrive in it, by the server's retention rounds (``RetentionSweeper``) for every experiment, and
by ``prune`` (``runstone traces prune``), which may also delete traces older than a given age.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runstone.entities import PagedList, TraceInfo
from runstone.errors import InvalidInput
from runstone.governance.context import Context
from runstone.periodic import Periodic
from runstone.store import experiments as experiment_store
from runstone.store import traces as store
from runstone.tracking import search as grammar
from runstone.tracking import validation as check

log = logging.getLogger("runstone.server")
TRACE_ID = re.compile(r"^tr-[0-9a-f]{32}$")
STATES = ("OK", "ERROR", "IN_PROGRESS", "STATE_UNSPECIFIED")
SOURCE_RUN = "mlflow.sourceRun"
MODEL_ID = "mlflow.modelId"
RETENTION_TAG = "runstone.traces.retentionDays"
MAX_TAG_VALUE = 8000
MAX_PREVIEW = 10_000
MAX_SPANS = 50_000  # in one upload
DAY_MS = 86_400_000
EXPIRE_BATCH = 1000  # traces deleted for retention by one arriving trace
PRUNE_BATCH = 2000  # traces deleted by one transaction of a prune


@dataclass
class NewTrace:
    """A trace's info as a client reports it."""

    trace_id: str
    experiment_id: str
    request_time: int
    execution_time: int | None = None
    state: str = "OK"
    client_request_id: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


def check_trace_id(trace_id: object) -> str:
    if not isinstance(trace_id, str) or not TRACE_ID.match(trace_id):
        raise InvalidInput(f"Trace id {trace_id!r} must be 'tr-' followed by 32 lowercase hex digits.")
    return trace_id


def _check_pairs(pairs: Mapping[str, str], what: str) -> dict[str, str]:
    for key, value in pairs.items():
        check.key(key, what)
        check.text(value, f"{what} {key!r} value", MAX_TAG_VALUE)
    return dict(pairs)


def _check_span(span: object, i: int) -> dict[str, object]:
    if not isinstance(span, dict):
        raise InvalidInput(f"spans[{i}] must be an object.")
    if not isinstance(span.get("span_id"), str) or not span["span_id"]:
        raise InvalidInput(f"spans[{i}].span_id must be a non-empty string.")
    if not isinstance(span.get("name"), str):
        raise InvalidInput(f"spans[{i}].name must be a string.")
    for key in ("start_time_unix_nano", "end_time_unix_nano"):
        value = span.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidInput(f"spans[{i}].{key} must be a non-negative integer (nanoseconds).")
    if span.get("attributes") is not None and not isinstance(span["attributes"], dict):
        raise InvalidInput(f"spans[{i}].attributes must be an object.")
    return span


def check_spans(spans: object) -> list[dict[str, Any]]:
    if not isinstance(spans, list):
        raise InvalidInput('Trace data must be an object with a list of spans: {"spans": [...]}.')
    if len(spans) > MAX_SPANS:
        raise InvalidInput(f"A trace upload holds at most {MAX_SPANS} spans; got {len(spans)}.")
    return [_check_span(s, i) for i, s in enumerate(spans)]


class TraceService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _experiment(self, s: Any, experiment_id: str) -> int:
        ref = experiment_store.get_row(s, experiment_store.parse_id(experiment_id))
        if ref.lifecycle_stage != "active":
            raise InvalidInput(f"Experiment {experiment_id} is deleted; restore it before logging traces into it.")
        return ref.id

    def _expire(self, s: Any, exp_pk: int) -> int:
        """Apply the experiment's retention as its traces arrive: delete (a bounded batch of)
        those older than it keeps."""
        days = store.experiment_tag(s, exp_pk, RETENTION_TAG)
        if days is None or not days.isdigit() or int(days) < 1:
            return 0
        cutoff = self.ctx.clock() - int(days) * DAY_MS - 1
        return store.delete_traces(s, exp_pk, max_time=cutoff, max_traces=EXPIRE_BATCH)

    def _audit(self, s: Any, action: str, target: str, after: Mapping[str, Any] | None) -> None:
        self.ctx.audit.write(s, action, "trace", target, None, after)

    # ------------------------------------------------------------------ writes
    def start(self, new: NewTrace) -> TraceInfo:
        """Record a trace's info (again: a second report of the same trace updates it)."""
        check_trace_id(new.trace_id)
        if new.state not in STATES:
            raise InvalidInput(f"Trace state {new.state!r} must be one of {', '.join(STATES)}.")
        tags = _check_pairs(new.tags, "Trace tag")
        metadata = _check_pairs(new.metadata, "Trace metadata")
        values: dict[str, object] = {
            "request_time": check.integer(new.request_time, "request_time"),
            "execution_time": None if new.execution_time is None else check.integer(new.execution_time, "execution"),
            "state": new.state,
            "client_request_id": new.client_request_id,
            "request_preview": (new.request_preview or None) and new.request_preview[:MAX_PREVIEW],
            "response_preview": (new.response_preview or None) and new.response_preview[:MAX_PREVIEW],
            "run_uuid": metadata.get(SOURCE_RUN) or None,
            "logged_model": metadata.get(MODEL_ID) or None,
        }
        with self.ctx.transaction(write=True) as s:
            exp_pk = self._experiment(s, new.experiment_id)
            pk = store.find_pk(s, new.trace_id)
            if pk is None:
                pk = store.create(s, new.trace_id, exp_pk, values)
            else:
                if store.experiment_of(s, pk) != exp_pk:
                    raise InvalidInput(f"Trace {new.trace_id} belongs to another experiment.")
                store.update_trace(s, pk, {k: v for k, v in values.items() if v is not None or k == "execution_time"})
            store.set_tags(s, pk, tags)
            store.set_metadata(s, pk, metadata)
            expired = self._expire(s, exp_pk)
            self._audit(
                s,
                "trace.start",
                new.trace_id,
                {"experiment_id": new.experiment_id, "state": new.state, "expired": expired},
            )
            return store.load(s, [pk])[0]

    def upload(self, trace_id: str, spans: object) -> int:
        """Store the trace's spans as its client reports them at its end (MLflow's span
        dictionaries): they replace the copies sent before (over OTLP, as each span ended), and
        spans only sent before stay (those of other processes in a distributed trace). How many
        were uploaded."""
        checked = check_spans(spans)
        packed = store.pack(checked)
        with self.ctx.transaction(write=True) as s:
            pk = store.get_pk(s, check_trace_id(trace_id))
            if store.has_spans(s, pk):
                uploaded = {sp["span_id"] for sp in checked}
                kept = [sp for sp in store.spans(s, pk) if sp.get("span_id") not in uploaded]
                if kept:
                    packed = store.pack([*checked, *kept])
                store.add_spans(s, pk, packed, len(checked) + len(kept), replace=True)
            else:
                store.add_spans(s, pk, packed, len(checked), replace=True)
            self._audit(s, "trace.upload_spans", trace_id, {"spans": len(checked)})
        return len(checked)

    def add_otel_spans(self, experiment_id: str, traces: Mapping[str, Sequence[dict[str, Any]]]) -> int:
        """Spans of OpenTelemetry exporters, by trace id; traces are created as their spans arrive
        and finished by their root span."""
        total = 0
        checked_by_trace = {check_trace_id(t): check_spans(list(spans)) for t, spans in traces.items()}
        packed = {t: store.pack(spans) for t, spans in checked_by_trace.items()}
        with self.ctx.transaction(write=True) as s:
            exp_pk = self._experiment(s, experiment_id)
            for trace_id, checked in checked_by_trace.items():
                pk = store.find_pk(s, trace_id)
                if pk is None:
                    first = min((sp.get("start_time_unix_nano") or 0) for sp in checked)
                    pk = store.create(s, trace_id, exp_pk, {"request_time": first // 1_000_000, "state": "IN_PROGRESS"})
                elif store.experiment_of(s, pk) != exp_pk:
                    raise InvalidInput(f"Trace {trace_id} belongs to another experiment.")
                store.add_spans(s, pk, packed[trace_id], len(checked))
                for root in (sp for sp in checked if not sp.get("parent_span_id")):
                    start, end = root.get("start_time_unix_nano") or 0, root.get("end_time_unix_nano")
                    code = (root.get("status") or {}).get("code")
                    store.update_trace(
                        s,
                        pk,
                        {
                            "request_time": start // 1_000_000,
                            "execution_time": None if end is None else max(0, end - start) // 1_000_000,
                            "state": "ERROR" if code == "STATUS_CODE_ERROR" else "OK",
                        },
                    )
                    store.set_tags(s, pk, {store.TRACE_NAME_TAG: root["name"][:MAX_TAG_VALUE]})
                total += len(checked)
            expired = self._expire(s, exp_pk)
            self._audit(
                s, "trace.otlp_spans", experiment_id, {"traces": len(traces), "spans": total, "expired": expired}
            )
        return total

    def set_tag(self, trace_id: str, key: str, value: str) -> None:
        tags = _check_pairs({key: value}, "Trace tag")
        with self.ctx.transaction(write=True) as s:
            pk = store.get_pk(s, trace_id)
            store.set_tags(s, pk, tags)
            self._audit(s, "trace.set_tag", trace_id, {"key": key, "value": value})

    def delete_tag(self, trace_id: str, key: str) -> None:
        with self.ctx.transaction(write=True) as s:
            store.delete_tag(s, store.get_pk(s, trace_id), trace_id, key)
            self._audit(s, "trace.delete_tag", trace_id, {"key": key})

    def link_to_run(self, trace_ids: Sequence[str], run_id: str) -> None:
        from runstone.store import runs as run_store

        with self.ctx.transaction(write=True) as s:
            run_store.get_row(s, run_id)
            for trace_id in trace_ids:
                pk = store.get_pk(s, trace_id)
                store.update_trace(s, pk, {"run_uuid": run_id})
                store.set_metadata(s, pk, {SOURCE_RUN: run_id})
            self._audit(s, "trace.link_to_run", run_id, {"traces": list(trace_ids)})

    def delete(
        self,
        experiment_id: str,
        *,
        max_time: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        if max_time is None and not trace_ids:
            raise InvalidInput("Name the traces to delete (request_ids) or a max_timestamp_millis.")
        if trace_ids and max_time is not None:
            raise InvalidInput("Delete traces either by request_ids or by max_timestamp_millis, not both.")
        if max_traces is not None and max_traces < 1:
            raise InvalidInput("max_traces must be at least 1.")
        with self.ctx.transaction(write=True) as s:
            exp_pk = experiment_store.get_row(s, experiment_store.parse_id(experiment_id)).id
            count = store.delete_traces(s, exp_pk, max_time=max_time, max_traces=max_traces, trace_ids=trace_ids)
            self._audit(s, "trace.delete", experiment_id, {"deleted": count})
            return count

    # ------------------------------------------------------------------ retention
    def set_retention(self, experiment_id: str, days: int | None) -> None:
        """Keep the experiment's traces ``days`` days (None: for good)."""
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
            raise InvalidInput(f"Trace retention must be a whole number of days, at least 1; got {days!r}.")
        exp_id = experiment_store.parse_id(experiment_id)
        with self.ctx.transaction(write=True) as s:
            experiment_store.get_row(s, exp_id)
            if days is None:
                if any(e == exp_id for e, _ in store.experiments_tagged(s, RETENTION_TAG)):
                    experiment_store.delete_tag(s, exp_id, RETENTION_TAG)
            else:
                experiment_store.set_tag(s, exp_id, RETENTION_TAG, str(days))
            self.ctx.audit.write(s, "trace.set_retention", "experiment", str(exp_id), None, {"days": days})

    def prune(
        self,
        *,
        older_than_ms: int | None = None,
        experiment_ids: Sequence[str] | None = None,
        dry_run: bool = False,
    ) -> dict[str, int]:
        """Delete old traces; how many were deleted (or, with ``dry_run``, would be) by experiment.

        With ``older_than_ms``, the traces that started at least that long ago; without it, those
        older than their experiment's retention (``runstone.traces.retentionDays``). Only in the
        experiments named, else in every one. A large prune is deleted in batches, each in its
        own transaction, so that it never holds the database's write lock for long.
        """
        if older_than_ms is not None and (isinstance(older_than_ms, bool) or older_than_ms < 1):
            raise InvalidInput(f"older_than_ms must be a positive number of milliseconds; got {older_than_ms!r}.")
        now = self.ctx.clock()
        with self.ctx.transaction() as s:
            retention = dict(store.experiments_tagged(s, RETENTION_TAG))
            if experiment_ids is not None:
                scope = [experiment_store.get_row(s, experiment_store.parse_id(e)).id for e in experiment_ids]
            elif older_than_ms is None:
                scope = sorted(retention)
            else:
                scope = store.experiments_with_traces(s)
        deleted: dict[str, int] = {}
        for exp_pk in dict.fromkeys(scope):
            if older_than_ms is not None:
                cutoff = now - older_than_ms
            else:
                days = retention.get(exp_pk, "")
                if not days.isdigit() or int(days) < 1:
                    continue
                cutoff = now - int(days) * DAY_MS - 1
            count = self._prune_experiment(exp_pk, cutoff, dry_run)
            if count:
                deleted[str(exp_pk)] = count
        return deleted

    def _prune_experiment(self, exp_pk: int, cutoff: int, dry_run: bool) -> int:
        if dry_run:
            with self.ctx.transaction() as s:
                return store.count_traces(s, exp_pk, max_time=cutoff)
        total = 0
        while True:
            with self.ctx.transaction(write=True) as s:
                count = store.delete_traces(s, exp_pk, max_time=cutoff, max_traces=PRUNE_BATCH)
                if count:
                    after = {"deleted": count, "started_before": cutoff + 1}
                    self.ctx.audit.write(s, "trace.prune", "experiment", str(exp_pk), None, after)
            total += count
            if count < PRUNE_BATCH:
                return total

    # ------------------------------------------------------------------ reads
    def get(self, trace_id: str) -> TraceInfo:
        with self.ctx.transaction() as s:
            return store.load(s, [store.get_pk(s, trace_id)])[0]

    def spans(self, trace_id: str) -> list[dict[str, Any]]:
        with self.ctx.transaction() as s:
            return store.spans(s, store.get_pk(s, trace_id))

    def search(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        if not experiment_ids:
            raise InvalidInput("Search traces in at least one experiment.")
        comparisons = grammar.parse_filter(filter_string, grammar.TRACES)
        limit = check.max_results(max_results, default=100, limit=1000)
        with self.ctx.transaction() as s:
            pks = [experiment_store.parse_id(e) for e in experiment_ids]
            found, token = store.search(
                s,
                experiment_pks=pks,
                comparisons=comparisons,
                order_by=[o for o in order_by or [] if o.strip()],
                max_results=limit,
                page_token=page_token,
            )
            return PagedList(store.load(s, found), token)

    def for_run(self, run_id: str, limit: int = 100) -> list[TraceInfo]:
        with self.ctx.transaction() as s:
            return store.load(s, store.for_run(s, run_id, limit))


class RetentionSweeper(Periodic):
    """A server process's background retention round: every ``interval`` seconds, delete the
    traces older than their experiment's retention, also in experiments no new trace arrives in
    (replicas may run it at the same moment: a trace is deleted once)."""

    name = "runstone-trace-retention"

    def __init__(self, context: Callable[[], Context], interval: float) -> None:
        super().__init__(interval)
        self._context = context

    def round(self) -> dict[str, int]:
        deleted = TraceService(self._context()).prune()
        for experiment_id, count in deleted.items():
            log.info("deleted %d trace(s) of experiment %s past its retention", count, experiment_id)
        return deleted
