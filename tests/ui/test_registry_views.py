"""The timeline and evidence that the registry pages draw, computed from plain entities."""

from __future__ import annotations

from runstone.entities import Assignment
from runstone.ui import registry_views as views
from runstone.ui.formatting import excerpt, model_url


def assign(kind, target, version, time, previous=None, *, rollback=False, request_id=None):
    return Assignment(kind, target, version, previous, "alice", "", time, request_id, rollback)


def bars(row):
    return [(b.version, b.start, b.end, b.lane) for b in row.bars]


def test_versions_sharing_a_stage_get_lanes_and_leave_it_when_moved():
    history = [
        assign("stage", "Production", "1", 0),
        assign("stage", "Production", "2", 100),  # no archiving: both serve for a while
        assign("stage", "Archived", "1", 300),
        assign("stage", "Staging", "3", 400),
        assign("stage", "Production", "3", 600),
    ]

    timeline = views.build_timeline(history, now=1000)

    rows = {r.target: r for r in timeline.rows}
    assert [r.target for r in timeline.rows] == ["Production", "Staging", "Archived"]
    assert bars(rows["Production"]) == [("1", 0, 300, 0), ("2", 100, None, 1), ("3", 600, None, 0)]
    assert rows["Production"].lanes == 2
    assert bars(rows["Staging"]) == [("3", 400, 600, 0)]
    assert bars(rows["Archived"]) == [("1", 300, None, 0)]
    first = rows["Production"].bars[0]
    assert (first.left, first.width) == (0.0, 30.0)  # 0..300 of 0..1000
    assert timeline.ticks[0] == (0.0, 0) and timeline.ticks[-1] == (100.0, 1000)


def test_an_alias_moves_is_removed_and_comes_back_by_rollback():
    history = [
        assign("alias", "champion", "1", 0),
        assign("alias", "champion", "2", 500, "1", request_id=7),
        assign("alias", "champion", None, 600, "2"),
        assign("alias", "champion", "1", 800, None, rollback=True),
    ]

    (row,) = views.build_timeline(history, now=1000).rows

    assert (row.kind, row.target, row.lanes) == ("alias", "champion", 1)
    assert bars(row) == [("1", 0, 500, 0), ("2", 500, 600, 0), ("1", 800, None, 0)]
    assert [b.request_id for b in row.bars] == [None, 7, None]
    assert [b.rollback for b in row.bars] == [False, False, True]
    assert row.bars[0].hue == row.bars[2].hue != row.bars[1].hue


def test_a_moment_still_shows_and_an_empty_history_draws_nothing():
    timeline = views.build_timeline([assign("stage", "Staging", "4", 999_999)], now=999_999)

    (bar,) = timeline.rows[0].bars
    assert bar.width >= views.MIN_WIDTH and bar.left + bar.width <= 100
    assert views.build_timeline([], now=1) is None


def test_a_versions_history_is_where_it_went_and_the_aliases_it_lost():
    history = [
        assign("stage", "Production", "1", 0),
        assign("alias", "champion", "1", 1),
        assign("alias", "champion", "2", 2, "1"),
        assign("stage", "Production", "2", 3, "1"),
    ]

    mine = views.version_history(history, "1")

    assert [(e.target, e.version, e.time) for e in mine] == [
        ("champion", "2", 2),
        ("champion", "1", 1),
        ("Production", "1", 0),
    ]
    assert views.since(history, "alias", "champion", "2") == history[2]


def test_evidence_puts_gated_metrics_first_with_the_change():
    evidence = {
        "candidate": {"version": "2", "metrics": {"accuracy": 0.95, "loss": 0.2, "auc": "nan"}},
        "current": {"version": "1", "metrics": {"accuracy": 0.9, "auc": 0.7, "latency": 12.0}},
    }

    rows = views.evidence_rows(evidence, ["loss"])

    assert [(r.metric, r.candidate, r.current, r.gated) for r in rows] == [
        ("loss", 0.2, None, True),
        ("accuracy", 0.95, 0.9, False),
        ("auc", "nan", 0.7, False),
        ("latency", None, 12.0, False),
    ]
    assert round(rows[1].change, 6) == 0.05
    assert rows[2].change is None
    assert views.evidence_rows({"candidate": {"metrics": {"a": 1.0}}, "current": None})[0].current is None


def test_excerpts_and_model_urls():
    assert excerpt("\n# Fraud detector\n\nScores payments.") == "Fraud detector"
    assert excerpt("x" * 200, 10) == "x" * 9 + "…"
    assert excerpt(None) == ""
    assert model_url("a b#?%") == "/ui/models/a%20b%23%3F%25"
