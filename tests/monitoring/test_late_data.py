"""Labels for single rows of multi-row requests (<request id>:<row>), and windows computed again
when labels or prediction logs arrive after them: quality updated, rules checked again, a rule
firing once per window, one process computing each window. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import threading

import pyarrow.parquet as pq
import pytest

from runstone.errors import InvalidInput
from runstone.governance.context import Principal
from runstone.monitoring import logs
from runstone.monitoring.profile import build_profile
from tests.monitoring.conftest import records, reference_frame

T0 = 1_699_999_200_000  # on the hour
HOUR = 3_600_000


def _ingest(monitoring, recs) -> dict:
    (table,) = logs.records_to_tables(recs).values()
    return monitoring.ingest("fraud", "1", logs.to_parquet(table))


def _window(monitoring, start: int):
    (found,) = [w for w in monitoring.windows("fraud", "1") if w.start_time == start]
    return found


def test_each_row_of_a_request_takes_its_own_label(monitoring, version):
    version()
    recs = records(20, start=T0, rows=3)
    _ingest(monitoring, recs)
    # Row 2 of every request is labelled with the model's answer, rows 0 and 1 with the opposite.
    keys = [f"r{i}:{j}" for i in range(20) for j in range(3)]
    truth = [r["outputs"][j] if j == 2 else 1 - r["outputs"][j] for r in recs for j in range(3)]
    assert monitoring.log_labels(keys, truth)["labelled"] == 60
    result = monitoring.compute("fraud", "1", T0, T0 + HOUR)
    assert result["labelled"] == 60 and result["quality"]["accuracy"] == pytest.approx(1 / 3)
    # The retraining data carries each row's own label.
    table = pq.read_table(io.BytesIO(monitoring.export("fraud", "1", T0, T0 + HOUR)))
    first = table.filter(table.column("request_id").to_numpy(zero_copy_only=False) == "r0").to_pydict()
    assert first["label"] == [1 - recs[0]["outputs"][0], 1 - recs[0]["outputs"][1], recs[0]["outputs"][2]]
    # Labelled again: the new label counts.
    monitoring.log_labels([f"r{i}:0" for i in range(20)], [r["outputs"][0] for r in recs])
    assert monitoring.compute("fraud", "1", T0, T0 + HOUR)["quality"]["accuracy"] == pytest.approx(2 / 3)


def test_row_keys_that_name_no_row_are_refused_and_nothing_is_recorded(monitoring, version):
    version()
    _ingest(monitoring, [*records(5, start=T0, rows=3), *records(5, start=T0, rows=1, prefix="one")])
    with pytest.raises(InvalidInput, match=r"Request 'r1' scored 3 rows, so a label names one of them: r1:0 to r1:2"):
        monitoring.log_labels(["r0:0", "r1"], [1, 1])
    with pytest.raises(InvalidInput, match=r"'r1:3' names a row its request does not have: it scored 3 rows"):
        monitoring.log_labels(["r0:0", "r1:3"], [1, 1])
    with pytest.raises(InvalidInput, match="no logged prediction has: ghost:0"):
        monitoring.log_labels(["r0:0", "ghost:0"], [1, 1])
    assert "labelled" not in monitoring.compute("fraud", "1", T0, T0 + HOUR)
    # A one-row request also takes its bare id, or its row key.
    assert monitoring.log_labels(["one0", "one1:0"], [1, 0])["labelled"] == 2


def test_late_labels_and_logs_compute_a_window_again_and_its_rules_fire_once(monitoring, version, clock):
    version()
    monitoring.set_profile("fraud", "1", build_profile(reference_frame()))
    monitoring.create_rule(
        "fraud", {"name": "quality", "metric": "accuracy", "op": "<", "threshold": 0.8, "actions": [{"type": "log"}]}
    )
    recs = records(50, start=T0, step=10_000, rows=2)
    _ingest(monitoring, recs)
    clock.now = T0 + HOUR + 1
    assert monitoring.evaluate_due(HOUR, owner="one") == 1
    first = _window(monitoring, T0)
    assert first.result["requests"] == 50 and "quality" not in first.result
    assert monitoring.alerts("fraud") == []
    assert monitoring.evaluate_due(HOUR, owner="one") == 0  # nothing new

    # Wrong labels arrive an hour later: the window is computed again, the rule fires.
    clock.advance(HOUR)
    monitoring.log_labels([f"r{i}:{j}" for i in range(50) for j in (0, 1)],
                          [1 - r["outputs"][j] for r in recs for j in (0, 1)])  # fmt: skip
    clock.advance(1)
    assert monitoring.evaluate_due(HOUR, owner="one") == 1
    again = _window(monitoring, T0)
    assert again.id == first.id and again.result["quality"]["accuracy"] == 0.0 and again.result["labelled"] == 100
    (alert,) = monitoring.alerts("fraud")
    assert alert.window_id == first.id

    # Late prediction logs reach the same window: counted, and the rule does not fire twice.
    clock.advance(1)
    _ingest(monitoring, records(30, start=T0 + 1000, step=10_000, rows=2, prefix="late"))
    clock.advance(1)
    assert monitoring.evaluate_due(HOUR, owner="two") == 1
    assert _window(monitoring, T0).result["requests"] == 80
    assert len(monitoring.alerts("fraud")) == 1
    assert monitoring.evaluate_due(HOUR, owner="two") == 0


def test_late_labels_that_complete_a_streak_fire_the_rule_on_the_streaks_last_window(monitoring, version, clock):
    """Three windows, a rule needing two in a row: the second and third windows are wrong from the
    start, the first only once its late labels arrive. The streak first-second completes then, so
    the rule fires on the second window (the third already fired on second-third)."""
    version()
    monitoring.create_rule(
        "fraud",
        {"name": "quality", "metric": "accuracy", "op": "<", "threshold": 0.8, "consecutive": 2,
         "cooldown": 0, "actions": [{"type": "log"}]},
    )  # fmt: skip
    batches = [records(20, start=T0 + k * HOUR, step=10_000, prefix=f"w{k}-") for k in range(3)]
    for recs in batches:
        _ingest(monitoring, recs)
    # Windows 1 and 2 are labelled wrong before they are computed; window 0 right.
    for k, recs in enumerate(batches):
        truth = [r["outputs"][0] if k == 0 else 1 - r["outputs"][0] for r in recs]
        monitoring.log_labels([r["request_id"] for r in recs], truth)
    clock.now = T0 + 3 * HOUR + 1
    assert monitoring.evaluate_due(HOUR, owner="one") == 3
    # Only windows 1 and 2 are wrong so far: the rule fired once, on window 2.
    (alert,) = monitoring.alerts("fraud")
    assert alert.window_id == _window(monitoring, T0 + 2 * HOUR).id

    # Window 0 is relabelled wrong: it is computed again, and the streak 0-1 now holds.
    clock.advance(1000)
    monitoring.log_labels([r["request_id"] for r in batches[0]], [1 - r["outputs"][0] for r in batches[0]])
    clock.advance(1000)
    assert monitoring.evaluate_due(HOUR, owner="one") == 1
    fired = sorted(a.window_id for a in monitoring.alerts("fraud"))
    assert fired == sorted([_window(monitoring, T0 + HOUR).id, _window(monitoring, T0 + 2 * HOUR).id])


def test_a_window_reached_by_late_labels_is_computed_again_by_one_process(backend, version, clock):
    """Four processes' services evaluate at once: the window is computed again exactly once."""
    services = [backend.monitoring(backend.context(Principal(f"p{i}"), clock=clock)) for i in range(4)]
    version()
    recs = records(40, start=T0, step=10_000)
    _ingest(services[0], recs)
    clock.now = T0 + HOUR + 1
    assert services[0].evaluate_due(HOUR, owner="p0") == 1
    clock.advance(1000)
    services[0].log_labels([r["request_id"] for r in recs], [r["outputs"][0] for r in recs])
    clock.advance(1000)
    barrier = threading.Barrier(4)
    done: list[int] = []

    def evaluate(i: int) -> None:
        barrier.wait()
        done.append(services[i].evaluate_due(HOUR, owner=f"p{i}"))

    threads = [threading.Thread(target=evaluate, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(done) == [0, 0, 0, 1]
    assert _window(services[0], T0).result["quality"]["accuracy"] == 1.0
