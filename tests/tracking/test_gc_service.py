"""Garbage collection on SQLite and PostgreSQL: deleted runs and experiments removed for good,
with their artifacts, everything or only what the caller names."""

from __future__ import annotations

import pytest

from runstone.entities import Metric
from runstone.errors import InvalidInput, InvalidState, NotFound
from runstone.governance.audit import AuditService
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.gc import collect

DAY_MS = 86_400_000


@pytest.fixture
def artifacts(tracking, backend) -> ArtifactService:
    return ArtifactService(tracking.ctx, backend.store)


@pytest.fixture
def gc(tracking, backend):
    def run(**kwargs):
        return collect(tracking.ctx, backend.store, **kwargs)

    return run


def logged_run(tracking, artifacts, experiment_id: str = "0") -> str:
    run_id = tracking.create_run(experiment_id).info.run_id
    tracking.log_batch(run_id, [Metric("loss", 0.5, 1, s) for s in range(10)], {"lr": "0.1"}, {"team": "cv"})
    artifacts.log_artifact(run_id, "model/weights.bin", [b"w" * 100])
    return run_id


def gone(tracking, artifacts, run_id: str) -> bool:
    with pytest.raises(NotFound):
        tracking.get_run(run_id)
    with pytest.raises(NotFound):
        artifacts.list_artifacts(run_id)
    return True


def test_everything_deleted_goes_with_its_artifacts(tracking, artifacts, backend, gc):
    kept = logged_run(tracking, artifacts)
    deleted = logged_run(tracking, artifacts)
    experiment_id = tracking.create_experiment("old")
    in_experiment = logged_run(tracking, artifacts, experiment_id)
    tracking.delete_run(deleted)
    tracking.delete_experiment(experiment_id)

    dry = gc(dry_run=True)
    assert (sorted(dry.run_ids), dry.experiment_ids, dry.dry_run) == (
        sorted([deleted, in_experiment]),
        [experiment_id],
        True,
    )
    assert tracking.get_run(deleted).info.lifecycle_stage == "deleted"

    report = gc()
    assert sorted(report.run_ids) == sorted([deleted, in_experiment])
    assert report.experiment_ids == [experiment_id]
    assert gone(tracking, artifacts, deleted) and gone(tracking, artifacts, in_experiment)
    with pytest.raises(NotFound):
        tracking.get_experiment(experiment_id)
    assert not backend.store.exists(f"0/{deleted}/artifacts/model/weights.bin")
    assert b"".join(artifacts.read(artifacts.open(kept, "model/weights.bin"))) == b"w" * 100
    assert tracking.get_run(kept).data.metrics == {"loss": 0.5}
    assert gc().run_ids == []
    purge = AuditService(tracking.ctx.db).events()[-1]
    assert purge.action == "gc.purge"
    assert sorted(purge.after["runs"]) == sorted([deleted, in_experiment])


def test_only_the_named_runs_and_experiments(tracking, artifacts, gc):
    first, second, third = (logged_run(tracking, artifacts) for _ in range(3))
    experiment_id = tracking.create_experiment("named")
    inside = logged_run(tracking, artifacts, experiment_id)
    other_experiment = tracking.create_experiment("other")
    for run_id in (first, second, third):
        tracking.delete_run(run_id)
    tracking.delete_experiment(experiment_id)
    tracking.delete_experiment(other_experiment)

    report = gc(run_ids=[second, second])
    assert (report.run_ids, report.experiment_ids) == ([second], [])
    assert gone(tracking, artifacts, second)
    assert tracking.get_run(first).info.lifecycle_stage == "deleted"

    report = gc(experiment_ids=[experiment_id], run_ids=[third])
    assert (report.run_ids, report.experiment_ids) == ([third, inside], [experiment_id])
    assert gone(tracking, artifacts, inside)
    assert tracking.get_experiment(other_experiment).lifecycle_stage == "deleted"
    assert tracking.get_run(first).info.lifecycle_stage == "deleted"
    # An empty selection removes nothing (it never means "everything").
    assert gc(run_ids=[]).run_ids == []
    assert tracking.get_run(first).info.lifecycle_stage == "deleted"


def test_named_things_must_exist_and_be_deleted_and_nothing_goes_otherwise(tracking, artifacts, gc):
    deleted = logged_run(tracking, artifacts)
    active = logged_run(tracking, artifacts)
    tracking.delete_run(deleted)
    experiment_id = tracking.create_experiment("alive")

    with pytest.raises(InvalidState, match=rf"Run {active} is not deleted; delete it \(runstone runs delete"):
        gc(run_ids=[deleted, active])
    with pytest.raises(NotFound, match="No run with id 'missing'"):
        gc(run_ids=[deleted, "missing"])
    with pytest.raises(InvalidState, match=f"Experiment {experiment_id} is not deleted"):
        gc(run_ids=[deleted], experiment_ids=[experiment_id])
    with pytest.raises(NotFound, match="No experiment with id 42"):
        gc(experiment_ids=["42"])
    with pytest.raises(InvalidInput, match="decimal number"):
        gc(experiment_ids=["abc"])
    with pytest.raises(InvalidInput, match="non-empty strings"):
        gc(run_ids=[""])
    assert tracking.get_run(deleted).info.lifecycle_stage == "deleted"
    assert artifacts.list_artifacts(deleted)[0].path == "model"


def test_older_than_counts_from_the_deletion(tracking, artifacts, clock, gc):
    old = logged_run(tracking, artifacts)
    recent = logged_run(tracking, artifacts)
    tracking.delete_run(old)
    clock.advance(2 * DAY_MS)
    tracking.delete_run(recent)
    clock.advance(1000)

    assert gc(older_than_ms=DAY_MS, dry_run=True).run_ids == [old]
    with pytest.raises(InvalidState, match=f"Run {recent} was deleted less than {DAY_MS} ms ago"):
        gc(older_than_ms=DAY_MS, run_ids=[old, recent])
    assert gc(older_than_ms=DAY_MS, run_ids=[old]).run_ids == [old]
    assert gone(tracking, artifacts, old)
    assert tracking.get_run(recent).info.lifecycle_stage == "deleted"


@pytest.mark.parametrize(("value", "fragment"), [(-1, "out of range"), (2**63, "out of range"), (1.5, "integer")])
def test_invalid_age(tracking, gc, value, fragment):
    run_id = tracking.create_run().info.run_id
    tracking.delete_run(run_id)
    with pytest.raises(InvalidInput, match=f"older_than_ms.*{fragment}"):
        gc(older_than_ms=value)
    assert tracking.get_run(run_id).info.lifecycle_stage == "deleted"


def test_a_purged_experiment_takes_its_logged_models_files_along(tracking, artifacts, backend, gc):
    models = backend.logged_models()
    experiment_id = tracking.create_experiment("with-models")
    run_id = logged_run(tracking, artifacts, experiment_id)
    doomed = models.create(experiment_id, name="clf", source_run_id=run_id)
    models.log_artifact(doomed.model_id, "MLmodel", [b"flavors: {}\n"])
    kept = models.create("0", name="other")
    models.log_artifact(kept.model_id, "MLmodel", [b"flavors: {}\n"])
    doomed_key = models.artifact_key(doomed.model_id)
    kept_key = models.artifact_key(kept.model_id)
    assert backend.store.exists(f"{doomed_key}/MLmodel")
    tracking.delete_experiment(experiment_id)

    assert gc().experiment_ids == [experiment_id]
    assert not backend.store.exists(f"{doomed_key}/MLmodel")
    with pytest.raises(NotFound):
        models.get(doomed.model_id)
    assert backend.store.exists(f"{kept_key}/MLmodel")
    assert models.get(kept.model_id).name == "other"


def test_a_run_cannot_be_restored_once_its_files_are_being_removed(tracking, artifacts, backend):
    """Rows go first, in the transaction that chose them; files after. A restore that comes while
    the files are deleted finds no run, instead of bringing back a run without its artifacts."""
    run_id = logged_run(tracking, artifacts)
    tracking.delete_run(run_id)
    seen = []

    class RestoringStore:
        def __getattr__(self, name):
            return getattr(backend.store, name)

        def delete_prefix(self, prefix):
            with pytest.raises(NotFound):
                tracking.restore_run(run_id)
            seen.append(prefix)
            return backend.store.delete_prefix(prefix)

    assert collect(tracking.ctx, RestoringStore()).run_ids == [run_id]
    assert seen == [f"0/{run_id}"]
    assert gone(tracking, artifacts, run_id)


def test_files_that_cannot_be_deleted_are_reported_and_the_rest_goes_on(tracking, artifacts, backend, caplog):
    first, second = logged_run(tracking, artifacts), logged_run(tracking, artifacts)
    tracking.delete_run(first)
    tracking.delete_run(second)

    class FlakyStore:
        def __getattr__(self, name):
            return getattr(backend.store, name)

        def delete_prefix(self, prefix):
            if first in prefix:
                raise OSError("disk went away")
            return backend.store.delete_prefix(prefix)

    report = collect(tracking.ctx, FlakyStore())
    assert sorted(report.run_ids) == sorted([first, second])
    assert backend.store.exists(f"0/{first}/artifacts/model/weights.bin")  # left behind, and said so
    assert not backend.store.exists(f"0/{second}/artifacts/model/weights.bin")
    assert f"0/{first}" in caplog.text and "left 1 artifact folders behind" in caplog.text
