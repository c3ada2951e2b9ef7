"""Every mutation is an audit event in a hash chain that detects tampering."""

from __future__ import annotations

from sqlalchemy import text

from runstone.entities import Metric
from runstone.governance.audit import AuditService


def test_mutations_are_audited_with_actor_and_before_after(tracking, clock):
    experiment_id = tracking.create_experiment("e")
    run_id = tracking.create_run(experiment_id).info.run_id
    tracking.log_batch(run_id, [Metric("m", 1.0, 1, i) for i in range(1000)], {"p": "1"}, {"t": "x"})
    tracking.rename_experiment(experiment_id, "renamed")
    tracking.delete_run(run_id)
    events = AuditService(tracking.db).events()
    assert [e.action for e in events] == [
        "experiment.create",
        "run.create",
        "run.log_batch",
        "experiment.rename",
        "run.delete",
    ]
    assert {e.actor for e in events} == {"tester"}
    assert all(e.time == clock.now for e in events)
    batch = events[2]
    assert batch.after == {"metrics": 1000, "params": 1, "tags": 1, "param_keys": ["p"], "tag_keys": ["t"]}
    assert events[3].before == {"name": "e"} and events[3].after == {"name": "renamed"}
    run_events = AuditService(tracking.db).events(target_type="run", target_id=run_id)
    assert [e.action for e in run_events] == ["run.create", "run.log_batch", "run.delete"]


def test_failed_mutation_writes_no_event(tracking):
    run_id = tracking.create_run().info.run_id
    tracking.log_param(run_id, "p", "1")
    before = len(AuditService(tracking.db).events())
    try:
        tracking.log_param(run_id, "p", "2")
    except Exception:
        pass
    assert len(AuditService(tracking.db).events()) == before


def test_verify_detects_edits_insertions_and_removals(tracking):
    for i in range(5):
        tracking.create_experiment(f"e{i}")
    audit = AuditService(tracking.db)
    result = audit.verify()
    assert result.ok and result.events == 5

    with tracking.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))
    result = audit.verify()
    assert not result.ok and result.first_bad_seq == 3 and "altered" in (result.problem or "")

    with tracking.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'tester' WHERE seq = 3"))
        conn.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    result = audit.verify()
    assert not result.ok and "missing" in (result.problem or "")
