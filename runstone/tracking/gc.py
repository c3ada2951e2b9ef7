"""Garbage collection: permanently remove deleted runs and experiments, with their artifacts."""

from __future__ import annotations

from dataclasses import dataclass, field

from runstone.artifacts.base import ArtifactStore
from runstone.store import experiments as experiment_store
from runstone.store import requests as request_store
from runstone.store import runs as run_store
from runstone.tracking.service import TrackingService

REQUEST_ID_RETENTION_MS = 7 * 24 * 3600 * 1000


@dataclass
class GcReport:
    run_ids: list[str] = field(default_factory=list)
    experiment_ids: list[str] = field(default_factory=list)
    dry_run: bool = False


def _run_folder(key: str) -> str:
    """The folder a run owns: ``<experiment>/<run uuid>`` above its ``artifacts`` key."""
    head, _, tail = key.rpartition("/")
    return head if tail == "artifacts" and "/" in head else key


def collect(
    tracking: TrackingService, store: ArtifactStore, *, older_than_ms: int | None = None, dry_run: bool = False
) -> GcReport:
    """Delete for good what was soft-deleted at least ``older_than_ms`` ago (all when None)."""
    cutoff = tracking.clock() - older_than_ms if older_than_ms is not None else None
    with tracking.db.transaction() as s:
        runs = run_store.deleted(s, cutoff)
        experiments = experiment_store.deleted_ids(s, cutoff)
        runs += [r for r in run_store.in_experiments(s, experiments) if r not in runs]
    report = GcReport([uuid for _, uuid, _ in runs], [str(e) for e in experiments], dry_run)
    if dry_run or (not runs and not experiments):
        return report
    # Artifacts first: a crash in between leaves rows that the next gc removes again.
    for _, _, key in runs:
        store.delete_prefix(_run_folder(key))
    with tracking.db.transaction(write=True) as s:
        run_store.hard_delete(s, [internal for internal, _, _ in runs])
        for exp_id in experiments:
            experiment_store.hard_delete(s, exp_id)
        request_store.forget_before(s, tracking.clock() - REQUEST_ID_RETENTION_MS)
        tracking.audit(
            s, "gc.purge", "store", "tracking", None, {"runs": report.run_ids, "experiments": report.experiment_ids}
        )
    return report
