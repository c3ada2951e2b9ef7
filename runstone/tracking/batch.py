"""The write commands of one run that MLflow's protocol packs together, each one transaction.

A log-batch carries a run's metrics, params and tags, possibly its new name (MLflow's run-name
tag) and points reported for logged models; all of it is written, or none of it. A tag can be
rewritten from its current value (read and write under one row lock), and deleting or restoring
a run can tolerate a run that already is in the wanted state, the check and the act in one
transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from runstone import limits
from runstone.entities import LifecycleStage, LoggedModelMetric, Metric
from runstone.errors import InvalidInput, InvalidState, NotFound
from runstone.governance.context import Context
from runstone.store import idempotency
from runstone.store import logged_models as model_store
from runstone.store import metrics as metric_store
from runstone.store import runs as run_store
from runstone.store.runs import RunRef
from runstone.tracking import validation as check

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

Pairs = Mapping[str, str] | Iterable[tuple[str, str]]


def run_ref(s: Session, run_id: str, *, lock: bool = False) -> RunRef:
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInput("Run id must be a non-empty string.")
    return run_store.get_row(s, run_id, lock=lock)


def active_run_ref(s: Session, run_id: str, *, lock: bool = False) -> RunRef:
    row = run_ref(s, run_id, lock=lock)
    if row.lifecycle_stage != LifecycleStage.ACTIVE.value:
        raise InvalidState(f"Run {run_id} is deleted; restore it before changing it.")
    return row


def unique_params(params: Pairs) -> dict[str, str]:
    items = params.items() if isinstance(params, Mapping) else params
    out: dict[str, str] = {}
    for key, value in items:
        if key in out and out[key] != value:
            raise InvalidInput(f"Param {key!r} appears twice in one batch with different values.")
        out[key] = value
    return out


def log_batch(
    ctx: Context,
    run_id: str,
    metrics: Sequence[Metric] = (),
    params: Pairs = (),
    tags: Pairs = (),
    *,
    run_name: str | None = None,
    model_metrics: Sequence[tuple[str, LoggedModelMetric]] = (),
    idempotency_key: str | None = None,
) -> None:
    """Metrics, params, tags, a new run name and logged models' points in one all-or-nothing write.

    ``model_metrics`` are (logged model id, point) pairs: each point is the model's and also the
    run's, which keeps one copy of a point it already holds. A batch retried with the same
    idempotency key is applied once.
    """
    param_map = unique_params(params)
    tag_map = dict(tags.items() if isinstance(tags, Mapping) else tags)
    metrics = list(metrics)
    linked = [Metric(p.key, p.value, p.timestamp, p.step) for _, p in model_metrics]
    check.batch(metrics + linked, param_map, tag_map)
    name = check.run_name(run_name) if run_name is not None else None
    per_model: dict[str, list[LoggedModelMetric]] = {}
    for model_id, point in model_metrics:
        per_model.setdefault(model_id, []).append(point)
    key = idempotency_key or ctx.principal.idempotency_key
    with ctx.transaction(write=True) as s:
        now = ctx.clock()
        if key and not idempotency.claim(s, key, now):
            return
        models = {model_id: _active_model(s, model_id) for model_id in per_model}
        row = active_run_ref(s, run_id)
        if linked:
            # A model's metrics are usually the run's already (MLflow re-logs them with the
            # model id): the run keeps one copy of each point.
            metrics += model_store.new_run_points(s, row.id, linked)
        new_params = run_store.write_params(s, row.id, run_id, param_map)
        run_store.write_tags(s, row.id, tag_map)
        metric_store.insert_points(s, row.id, metrics)
        summary: dict[str, object] = {"metrics": len(metrics), "params": new_params, "tags": len(tag_map)}
        if tag_map:
            summary["tag_keys"] = sorted(tag_map)
        if param_map:
            summary["param_keys"] = sorted(param_map)
        ctx.audit.write(s, "run.log_batch", "run", run_id, None, summary)
        for model_id, points in per_model.items():
            model_store.record_metrics(s, models[model_id], points)
            ctx.audit.write(s, "logged_model.log_metrics", "logged_model", model_id, None, {"metrics": len(points)})
        if name is not None:
            run_store.update_info(s, row.id, {"name": name})
            ctx.audit.write(s, "run.update", "run", run_id, {"run_name": row.name}, {"run_name": name})


def _active_model(s: Session, model_id: str) -> int:
    if not isinstance(model_id, str) or not model_id:
        raise InvalidInput("Logged model id must be a non-empty string.")
    ref = model_store.get_ref(s, model_id)
    if ref.lifecycle_stage != LifecycleStage.ACTIVE.value:
        raise NotFound(f"Logged model with ID '{model_id}' not found.")
    return ref.pk


def rewrite_tag(ctx: Context, run_id: str, key: str, rewrite: Callable[[str | None], str]) -> None:
    """Set a run tag to ``rewrite(current value)``: no concurrent rewrite is lost."""
    check.key(key, "Tag")
    with ctx.transaction(write=True) as s:
        row = active_run_ref(s, run_id, lock=True)
        value = rewrite(run_store.get_tag(s, row.id, key))
        check.text(value, f"Tag {key!r} value", limits.MAX_TAG_VALUE_LENGTH)
        run_store.write_tags(s, row.id, {key: value})
        summary = {"metrics": 0, "params": 0, "tags": 1, "tag_keys": [key]}
        ctx.audit.write(s, "run.log_batch", "run", run_id, None, summary)
