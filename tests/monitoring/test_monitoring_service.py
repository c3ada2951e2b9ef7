"""The monitoring service on SQLite and PostgreSQL: profiles, logs, labels, windows, rules."""

from __future__ import annotations

import pytest

from runstone.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from runstone.monitoring import logs
from runstone.monitoring.profile import build_profile
from tests.monitoring.conftest import records, reference_frame

T0 = 1_699_999_200_000  # on the hour
HOUR = 3_600_000


def _ingest(monitoring, recs) -> dict:
    (table,) = logs.records_to_tables(recs).values()
    return monitoring.ingest("fraud", "1", logs.to_parquet(table))


def test_profile_is_stored_with_the_version_and_checked_against_the_signature(monitoring, version):
    version()
    frame = reference_frame()
    profile = build_profile(frame, outputs=(frame["amount"] > 110).astype(int).tolist())
    stored = monitoring.set_profile("fraud", "1", profile, source="train.csv", dataset_digest="d" * 64)
    again = monitoring.get_profile("fraud", "1")
    assert again.digest == stored.digest and again.dataset_digest == "d" * 64
    assert again.profile["features"]["country"]["top"]["FR"] == pytest.approx(0.9, abs=0.03)
    assert again.profile["task"] == "classification"
    assert len(str(again.profile)) < 20_000  # kilobytes, never the rows

    other = build_profile(frame.rename(columns={"items": "quantity"}))
    with pytest.raises(InvalidInput, match=r"signature has \['amount', 'country', 'items'\]"):
        monitoring.set_profile("fraud", "1", other)


def test_a_version_without_profile_or_dataset_says_so(monitoring, version):
    version()
    with pytest.raises(NotFound, match="no reference profile yet"):
        monitoring.get_profile("fraud", "1")
    with pytest.raises(InvalidState, match="has no recorded dataset"):
        monitoring.training_dataset("fraud", "1")


def test_drift_is_flagged_on_the_shifted_features_only(monitoring, version):
    version()
    frame = reference_frame()
    monitoring.set_profile("fraud", "1", build_profile(frame, outputs=(frame["amount"] > 110).astype(int).tolist()))
    _ingest(monitoring, records(300, start=T0, step=1000, rows=5))
    shifted = records(300, start=T0 + HOUR, step=1000, rows=5, shift=30, country="DE", prefix="s", seed=2)
    assert _ingest(monitoring, shifted)["requests"] == 300
    assert _ingest(monitoring, shifted) == {"rows": 0, "requests": 0, "skipped": 300}  # a retried upload

    calm = monitoring.compute("fraud", "1", T0, T0 + HOUR)
    moved = monitoring.compute("fraud", "1", T0 + HOUR, T0 + 2 * HOUR)
    assert calm["rows"] == 1500 and calm["drifted"] == []
    assert moved["drifted"] == ["amount", "country"]
    assert moved["features"]["amount"]["psi"] > 1 and moved["features"]["items"]["psi"] < 0.1


def test_labels_join_by_request_id_and_unknown_ids_are_refused_whole(monitoring, version):
    version()
    _ingest(monitoring, records(100, start=T0))
    result = monitoring.compute("fraud", "1", T0, T0 + HOUR)
    assert "quality" not in result and result["reference"] is None
    with pytest.raises(InvalidInput, match="no logged prediction has: nope"):
        monitoring.log_labels(["r1", "nope"], [1, 0])
    assert "quality" not in monitoring.compute("fraud", "1", T0, T0 + HOUR)  # nothing was recorded
    ids = [f"r{i}" for i in range(100)]
    monitoring.log_labels(ids, [0] * 100)
    quality = monitoring.compute("fraud", "1", T0, T0 + HOUR)["quality"]
    assert 0.5 < quality["accuracy"] < 1.0


def test_windows_are_claimed_once_and_rules_fire_after_consecutive_windows(monitoring, version, clock):
    version()
    frame = reference_frame()
    monitoring.set_profile("fraud", "1", build_profile(frame))
    with pytest.raises(InvalidInput, match="names the feature 'colour'"):
        monitoring.create_rule("fraud", {"name": "x", "metric": "psi", "feature": "colour", "threshold": 0.2})
    rule = {"name": "psi", "metric": "psi", "feature": "*", "op": ">", "threshold": 0.2, "consecutive": 2,
            "actions": [{"type": "log"}, {"type": "webhook"}]}  # fmt: skip
    monitoring.create_rule("fraud", rule)
    with pytest.raises(AlreadyExists):
        monitoring.create_rule("fraud", rule)
    _ingest(monitoring, records(200, start=T0, step=10_000, rows=5))
    _ingest(monitoring, records(200, start=T0 + HOUR, step=10_000, rows=5, shift=30, prefix="a"))
    _ingest(monitoring, records(200, start=T0 + 2 * HOUR, step=10_000, rows=5, shift=30, prefix="b"))
    clock.now = T0 + 3 * HOUR + 1
    assert monitoring.evaluate_due(HOUR, owner="one") == 3
    assert monitoring.evaluate_due(HOUR, owner="two") == 0
    windows = monitoring.windows("fraud", "1")
    assert [w.start_time for w in windows] == [T0 + 2 * HOUR, T0 + HOUR, T0]
    (alert,) = monitoring.alerts("fraud")
    assert alert.window_id == windows[0].id and "amount" in alert.details["hits"]
    assert alert.action_status == "none"


def test_retention_drops_raw_logs_and_requests_but_keeps_window_results(monitoring, version, clock, backend):
    version()
    _ingest(monitoring, records(50, start=T0, step=1000))
    _ingest(monitoring, records(50, start=T0 + 2 * HOUR, step=1000, prefix="late"))
    clock.now = T0 + HOUR + 1
    assert monitoring.evaluate_due(HOUR, owner="one") == 1
    (key,) = [k for k in _keys(backend) if "/1/1/" + str(T0) in k]
    assert monitoring.purge(T0 + HOUR) == {"files": 1, "requests": 50}
    assert not backend.store.exists(key)
    assert monitoring.compute("fraud", "1", T0, T0 + HOUR)["rows"] == 0  # the raw rows are gone ...
    assert monitoring.windows("fraud")[0].result["rows"] == 50  # ... the window's result stays
    with pytest.raises(InvalidInput, match="no logged prediction has: r1"):
        monitoring.log_labels(["r1"], [1])
    assert monitoring.compute("fraud", "1", T0 + 2 * HOUR, T0 + 3 * HOUR)["rows"] == 50


def _keys(backend) -> list[str]:
    from pathlib import Path

    root = Path(backend.settings.artifact_root)
    return [p.relative_to(root).as_posix() for p in root.rglob("*.parquet")]
