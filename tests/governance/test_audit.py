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
    events = AuditService(tracking.ctx.db).events()
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
    run_events = AuditService(tracking.ctx.db).events(target_type="run", target_id=run_id)
    assert [e.action for e in run_events] == ["run.create", "run.log_batch", "run.delete"]


def test_failed_mutation_writes_no_event(tracking):
    run_id = tracking.create_run().info.run_id
    tracking.log_param(run_id, "p", "1")
    before = len(AuditService(tracking.ctx.db).events())
    try:
        tracking.log_param(run_id, "p", "2")
    except Exception:
        pass
    assert len(AuditService(tracking.ctx.db).events()) == before


def test_verify_detects_edits_insertions_and_removals(tracking):
    for i in range(5):
        tracking.create_experiment(f"e{i}")
    audit = AuditService(tracking.ctx.db)
    result = audit.verify()
    assert result.ok and result.events == 5

    with tracking.ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))
    result = audit.verify()
    assert not result.ok and result.first_bad_seq == 3 and "altered" in (result.problem or "")

    with tracking.ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'tester' WHERE seq = 3"))
        conn.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    result = audit.verify()
    assert not result.ok and "missing" in (result.problem or "")


def test_every_tracking_mutation_is_one_event_with_its_target(tracking, backend):
    from runstone.entities import Dataset
    from runstone.tracking import tags as T
    from runstone.tracking.artifacts import ArtifactService
    from runstone.tracking.gc import collect

    audit = AuditService(tracking.ctx.db)

    def events_of(call) -> list[tuple[str, str, str]]:
        seen = len(audit.events())
        call()
        return [(e.action, e.target_type, e.target_id) for e in audit.events()[seen:]]

    exp = tracking.create_experiment("audited")
    other = tracking.create_experiment("other")
    run_id = tracking.create_run(exp).info.run_id
    artifacts = ArtifactService(tracking.ctx, backend.store)
    dataset = Dataset("iris", "a" * 64, "memory", "")
    calls = [
        (lambda: tracking.rename_experiment(exp, "renamed"), ("experiment.rename", "experiment", exp)),
        (lambda: tracking.set_experiment_tag(exp, "k", "v"), ("experiment.set_tag", "experiment", exp)),
        (lambda: tracking.delete_experiment_tag(exp, "k"), ("experiment.delete_tag", "experiment", exp)),
        (lambda: tracking.log_metric(run_id, "m", 1.0), ("run.log_batch", "run", run_id)),
        (lambda: tracking.log_param(run_id, "p", "1"), ("run.log_batch", "run", run_id)),
        (lambda: tracking.set_tag(run_id, "t", "1"), ("run.log_batch", "run", run_id)),
        (lambda: tracking.delete_tag(run_id, "t"), ("run.delete_tag", "run", run_id)),
        (
            lambda: tracking.log_inputs(run_id, [(dataset, {T.DATASET_CONTEXT: "training"})]),
            ("run.log_inputs", "run", run_id),
        ),
        (lambda: artifacts.log_artifact(run_id, "a.txt", [b"a"]), ("run.log_artifact", "run", run_id)),
        (lambda: tracking.update_run(run_id, run_name="renamed"), ("run.update", "run", run_id)),
        (lambda: tracking.set_terminated(run_id), ("run.update", "run", run_id)),
        (lambda: tracking.move_run(run_id, other), ("run.move", "run", run_id)),
        (lambda: tracking.delete_run(run_id), ("run.delete", "run", run_id)),
        (lambda: tracking.restore_run(run_id), ("run.restore", "run", run_id)),
        (lambda: tracking.delete_experiment(exp), ("experiment.delete", "experiment", exp)),
        (lambda: tracking.restore_experiment(exp), ("experiment.restore", "experiment", exp)),
        (lambda: tracking.delete_experiment(exp), ("experiment.delete", "experiment", exp)),
        (lambda: collect(tracking.ctx, backend.store, experiment_ids=[exp]), ("gc.purge", "store", "tracking")),
    ]
    for call, expected in calls:
        assert events_of(call) == [expected]
    moved = next(e for e in audit.events(target_type="run", target_id=run_id) if e.action == "run.move")
    assert (moved.before, moved.after) == ({"experiment_id": exp}, {"experiment_id": other})
    assert {e.actor for e in audit.events()} == {"tester"}
    assert audit.verify().ok
