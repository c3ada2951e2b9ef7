"""Garbage collection: permanently remove deleted runs and experiments, with their artifacts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runstone.artifacts.base import ArtifactStore
from runstone.entities import LifecycleStage
from runstone.errors import Immutable, InvalidInput, InvalidState, NotFound
from runstone.governance.context import Context
from runstone.store import experiments as experiment_store
from runstone.store import idempotency, version_manifests
from runstone.store import logged_models as logged_model_store
from runstone.store import runs as run_store
from runstone.tracking import validation as check

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("runstone.gc")
REQUEST_ID_RETENTION_MS = 7 * 24 * 3600 * 1000
_DELETED = LifecycleStage.DELETED.value


@dataclass
class GcReport:
    run_ids: list[str] = field(default_factory=list)
    experiment_ids: list[str] = field(default_factory=list)
    dry_run: bool = False


def _run_folder(key: str) -> str:
    """The folder a run owns: ``<experiment>/<run uuid>`` above its ``artifacts`` key (and a
    logged model's: ``<experiment>/models/<model id>``)."""
    head, _, tail = key.rpartition("/")
    return head if tail == "artifacts" and "/" in head else key


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _check_old_enough(what: str, deleted_time: int | None, cutoff: int | None, older_than_ms: int | None) -> None:
    if cutoff is not None and (deleted_time is None or deleted_time > cutoff):
        raise InvalidState(f"{what} was deleted less than {older_than_ms} ms ago; it is not old enough to remove.")


def _with_runs_of(s: Session, runs: list[tuple[int, str, str]], exp_ids: list[int]) -> list[tuple[int, str, str]]:
    """``runs`` and, after them, every other run of the experiments ``exp_ids``."""
    seen = {internal for internal, _, _ in runs}
    return runs + [r for r in run_store.in_experiments(s, exp_ids) if r[0] not in seen]


def _named(
    s: Session,
    run_ids: Sequence[str],
    experiment_ids: Sequence[str],
    cutoff: int | None,
    older_than_ms: int | None,
) -> tuple[list[tuple[int, str, str]], list[int]]:
    """The runs and experiments a caller named, each checked to be deleted (long enough ago)."""
    for run_id in run_ids:
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInput("Run ids to remove must be non-empty strings.")
    experiments = _unique([str(e) for e in experiment_ids])
    exp_ids = [experiment_store.parse_id(e) for e in experiments]
    states = experiment_store.deletion_states(s, exp_ids)
    for exp_id in exp_ids:
        if exp_id not in states:
            raise NotFound(f"No experiment with id {exp_id}.")
        stage, deleted_time = states[exp_id]
        if stage != _DELETED:
            raise InvalidState(
                f"Experiment {exp_id} is not deleted; delete it (runstone experiments delete {exp_id}) "
                "before removing it for good."
            )
        _check_old_enough(f"Experiment {exp_id}", deleted_time, cutoff, older_than_ms)
    named_runs = _unique(run_ids)
    found = run_store.deletion_states(s, named_runs)
    runs: list[tuple[int, str, str]] = []
    for run_id in named_runs:
        if run_id not in found:
            raise NotFound(f"No run with id {run_id!r}.")
        internal, key, stage, deleted_time = found[run_id]
        if stage != _DELETED:
            raise InvalidState(
                f"Run {run_id} is not deleted; delete it (runstone runs delete {run_id}) before removing it for good."
            )
        _check_old_enough(f"Run {run_id}", deleted_time, cutoff, older_than_ms)
        runs.append((internal, run_id, key))
    return _with_runs_of(s, runs, exp_ids), exp_ids


def _keep_registered(
    s: Session, runs: list[tuple[int, str, str]], experiments: list[int], *, named: bool
) -> tuple[list[tuple[int, str, str]], list[int]]:
    """Leave out the runs (and the experiments with runs or logged models) that hold a registered
    version's files: those files cannot change, and removing them is a change. When the caller
    named them, refuse instead, naming the version."""
    held = version_manifests.registered_packages(s)
    if not held:
        return runs, experiments
    blocked: dict[str, tuple[str, int]] = {}
    kept_experiments = []
    for exp_id in experiments:
        owners = [r[1] for r in run_store.in_experiments(s, [exp_id])]
        owners += [ref.model_id for ref in logged_model_store.in_experiment(s, exp_id)]
        holding = [(o, held[o]) for o in owners if o in held]
        if holding:
            blocked[f"experiment {exp_id}"] = holding[0][1]
        else:
            kept_experiments.append(exp_id)
    dropped = set(experiments) - set(kept_experiments)
    dropped_runs = {r[1] for r in run_store.in_experiments(s, list(dropped))} if dropped else set()
    for _, run_id, _ in runs:
        if run_id in held:
            blocked[f"run {run_id}"] = held[run_id]
    if blocked and named:
        what, (name, version) = next(iter(blocked.items()))
        raise Immutable(
            f"The {what} holds the files of version {version} of registered model {name!r}, which cannot change; "
            "delete that version first to remove it for good.",
            {"registered_model": name, "version": str(version)},
        )
    if blocked:
        log.info("gc keeps what registered versions hold: %s", ", ".join(blocked))
    kept_runs = [r for r in runs if r[1] not in held and r[1] not in dropped_runs]
    return kept_runs, kept_experiments


def collect(
    ctx: Context,
    store: ArtifactStore,
    *,
    older_than_ms: int | None = None,
    dry_run: bool = False,
    run_ids: Sequence[str] | None = None,
    experiment_ids: Sequence[str] | None = None,
) -> GcReport:
    """Delete for good what was soft-deleted at least ``older_than_ms`` ago (all when None).

    ``run_ids`` and ``experiment_ids`` (with every run of those experiments) narrow it to what
    they name; each must be deleted, and deleted long enough ago, or nothing is removed.
    """
    if older_than_ms is not None:
        older_than_ms = check.integer(older_than_ms, "older_than_ms", minimum=0)
    cutoff = ctx.clock() - older_than_ms if older_than_ms is not None else None
    # What to remove is chosen and its rows deleted in one write transaction, so a run or an
    # experiment restored meanwhile is either restored first (and kept) or found gone; its files
    # are deleted only after that commit. A crash in between leaves unreferenced files, never a
    # restored run without its artifacts.
    with ctx.transaction(write=not dry_run) as s:
        if run_ids is not None or experiment_ids is not None:
            runs, experiments = _named(s, list(run_ids or []), list(experiment_ids or []), cutoff, older_than_ms)
        else:
            experiments = experiment_store.deleted_ids(s, cutoff)
            runs = _with_runs_of(s, run_store.deleted(s, cutoff), experiments)
        runs, experiments = _keep_registered(
            s, runs, experiments, named=run_ids is not None or experiment_ids is not None
        )
        # MLflow 3's logged models belong to their experiment: they go with it.
        folders = [_run_folder(key) for _, _, key in runs] + [
            _run_folder(ref.artifact_key) for e in experiments for ref in logged_model_store.in_experiment(s, e)
        ]
        report = GcReport([uuid for _, uuid, _ in runs], [str(e) for e in experiments], dry_run)
        if dry_run or (not runs and not experiments):
            return report
        run_store.hard_delete(s, [internal for internal, _, _ in runs])
        for exp_id in experiments:
            experiment_store.hard_delete(s, exp_id)
        idempotency.forget_before(s, ctx.clock() - REQUEST_ID_RETENTION_MS)
        ctx.audit.write(
            s, "gc.purge", "store", "tracking", None, {"runs": report.run_ids, "experiments": report.experiment_ids}
        )
    failed = []
    for folder in folders:
        try:
            store.delete_prefix(folder)
        except Exception:  # the rows are gone either way: say which files stay behind, go on
            log.exception("gc could not delete the artifact folder %r", folder)
            failed.append(folder)
    if failed:
        log.warning("gc left %d artifact folders behind: %s", len(failed), ", ".join(failed))
    return report
