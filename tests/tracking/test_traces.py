"""The trace service on SQLite and PostgreSQL: spans kept compactly, retention by age per
experiment, and bad input refused without a partial write."""

from __future__ import annotations

import pytest

from runstone.backend import Backend
from runstone.errors import InvalidInput, NotFound
from runstone.governance.context import Principal
from runstone.tracking.traces import DAY_MS, NewTrace, TraceService

DAY = DAY_MS


@pytest.fixture
def traces(backend: Backend, clock) -> TraceService:  # type: ignore[no-untyped-def]
    return backend.traces(backend.context(Principal("tester"), clock=clock))


def trace_id(n: int) -> str:
    return f"tr-{n:032x}"


def span(n: int, parent: int | None = None, size: int = 0) -> dict[str, object]:
    return {
        "span_id": f"span-{n}",
        "parent_span_id": None if parent is None else f"span-{parent}",
        "name": f"step {n}",
        "start_time_unix_nano": 1_000 * n,
        "end_time_unix_nano": 1_000 * n + 500,
        "attributes": {"mlflow.spanInputs": '{"prompt": "' + "hello " * size + '"}'},
    }


def test_spans_are_stored_compressed_and_read_back_in_order(traces, tracking):
    experiment = tracking.create_experiment("chat")
    traces.start(NewTrace(trace_id(1), experiment, request_time=1))
    spans = [span(0)] + [span(i, parent=0, size=200) for i in range(1, 50)]
    assert traces.upload(trace_id(1), spans) == 50
    assert traces.spans(trace_id(1)) == spans
    info = traces.get(trace_id(1))
    assert info.span_count == 50
    # Repetitive span text compresses: the stored chunk is a small part of the JSON.
    import json

    from runstone.store import traces as store

    with traces.ctx.transaction() as s:
        stored = s.scalar(store.select(store.TraceRow.span_bytes).where(store.TraceRow.trace_id == trace_id(1)))
    assert stored < len(json.dumps(spans)) / 10


def test_retention_by_age_deletes_only_old_traces_of_experiments_that_set_it(traces, tracking, clock):
    kept_forever = tracking.create_experiment("forever")
    pruned = tracking.create_experiment("a-week")
    for n, (experiment, age_days) in enumerate([(pruned, 10), (pruned, 3), (kept_forever, 30)]):
        traces.start(NewTrace(trace_id(n), experiment, request_time=clock.now - age_days * DAY))
        traces.upload(trace_id(n), [span(0)])
    traces.set_retention(pruned, 7)
    assert traces.prune() == {pruned: 1}
    with pytest.raises(NotFound):
        traces.get(trace_id(0))
    assert traces.get(trace_id(1)).span_count == 1
    assert traces.get(trace_id(2)).experiment_id == kept_forever
    # Five days later the 3-day-old trace is 8 days old: the next trace to arrive expires it.
    clock.advance(5 * DAY)
    traces.start(NewTrace(trace_id(3), pruned, request_time=clock.now))
    assert [t.trace_id for t in traces.search([pruned])] == [trace_id(3)]
    assert traces.prune() == {}
    # Lifting retention keeps the rest for good.
    traces.set_retention(pruned, None)
    clock.advance(100 * DAY)
    assert traces.prune() == {}
    assert [t.trace_id for t in traces.search([pruned])] == [trace_id(3)]
    with pytest.raises(InvalidInput, match="whole number of days"):
        traces.set_retention(pruned, 0)


def test_prune_by_age_deletes_in_batches_and_a_dry_run_only_counts(traces, tracking, clock, monkeypatch):
    import runstone.tracking.traces as module

    monkeypatch.setattr(module, "PRUNE_BATCH", 2)  # five old traces: three transactions
    busy, other = tracking.create_experiment("busy"), tracking.create_experiment("other")
    for n in range(5):
        traces.start(NewTrace(trace_id(n), busy, request_time=clock.now - (31 + n) * DAY))
    traces.start(NewTrace(trace_id(10), busy, request_time=clock.now - 29 * DAY))
    traces.start(NewTrace(trace_id(11), other, request_time=clock.now - 40 * DAY))
    assert traces.prune(older_than_ms=30 * DAY, experiment_ids=[busy], dry_run=True) == {busy: 5}
    assert len(traces.search([busy])) == 6
    assert traces.prune(older_than_ms=30 * DAY, experiment_ids=[busy]) == {busy: 5}
    assert [t.trace_id for t in traces.search([busy])] == [trace_id(10)]
    assert [t.trace_id for t in traces.search([other])] == [trace_id(11)]
    # Without experiments named: every experiment that holds traces.
    assert traces.prune(older_than_ms=30 * DAY) == {other: 1}
    with pytest.raises(InvalidInput, match="older_than_ms"):
        traces.prune(older_than_ms=0)
    with pytest.raises(NotFound):
        traces.prune(older_than_ms=DAY, experiment_ids=["424242"])


def test_bad_spans_and_ids_are_refused_without_a_partial_write(traces, tracking):
    experiment = tracking.create_experiment("strict")
    with pytest.raises(InvalidInput, match="32 lowercase hex"):
        traces.start(NewTrace("not-a-trace", experiment, request_time=1))
    traces.start(NewTrace(trace_id(7), experiment, request_time=1))
    traces.upload(trace_id(7), [span(0)])
    with pytest.raises(InvalidInput, match=r"spans\[1\].start_time_unix_nano"):
        traces.upload(trace_id(7), [span(1), {**span(2), "start_time_unix_nano": -5}])
    assert [s["span_id"] for s in traces.spans(trace_id(7))] == ["span-0"]
    with pytest.raises(InvalidInput, match="another experiment"):
        traces.start(NewTrace(trace_id(7), "0", request_time=1))


def test_search_filters_orders_and_pages(traces, tracking):
    experiment = tracking.create_experiment("many")
    for n in range(5):
        state = "ERROR" if n % 2 else "OK"
        traces.start(NewTrace(trace_id(n), experiment, request_time=100 * n, execution_time=n, state=state,
                              tags={"parity": str(n % 2)}))  # fmt: skip
    assert [t.trace_id for t in traces.search([experiment], "trace.status = 'ERROR'")] == [trace_id(3), trace_id(1)]
    found = traces.search([experiment], "tags.parity = '0' AND trace.timestamp_ms >= 100")
    assert [t.trace_id for t in found] == [trace_id(4), trace_id(2)]
    first = traces.search([experiment], order_by=["execution_time_ms ASC"], max_results=2)
    rest = traces.search(
        [experiment], order_by=["execution_time_ms ASC"], max_results=10, page_token=first.next_page_token
    )
    assert [t.trace_id for t in [*first, *rest]] == [trace_id(n) for n in range(5)]
    with pytest.raises(InvalidInput, match="Cannot order traces"):
        traces.search([experiment], order_by=["params.x"])


def test_retention_applies_as_traces_arrive(traces, tracking, clock):
    experiment = tracking.create_experiment("rolling")
    traces.start(NewTrace(trace_id(1), experiment, request_time=clock.now - 40 * DAY))
    # Any client may set the tag (MLflow's set_experiment_tag too); the next trace applies it.
    tracking.set_experiment_tag(experiment, "runstone.traces.retentionDays", "30")
    traces.start(NewTrace(trace_id(2), experiment, request_time=clock.now))
    assert [t.trace_id for t in traces.search([experiment])] == [trace_id(2)]
