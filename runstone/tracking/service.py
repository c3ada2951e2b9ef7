"""Tracking service: experiments, runs, metrics, params, tags and dataset inputs.

Every public method is one transaction; every mutation writes one audit event inside that
same transaction, so the audit trail and the data can never disagree.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runstone import limits
from runstone.entities import (
    Dataset,
    Experiment,
    LifecycleStage,
    LoggedModelMetric,
    Metric,
    MetricHistory,
    PagedList,
    Run,
    RunData,
    RunStatus,
    ViewType,
)
from runstone.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from runstone.governance import permissions
from runstone.governance.context import Context
from runstone.store import experiments as experiment_store
from runstone.store import metrics as metric_store
from runstone.store import runs as run_store
from runstone.store.runs import RunRef
from runstone.store.search import search_run_ids
from runstone.tracking import batch
from runstone.tracking import search as grammar
from runstone.tracking import tags as system_tags
from runstone.tracking import validation as check

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


_CLIENT_RUN_ID = re.compile(r"[0-9a-f]{32}")
_ADJECTIVES = [
    "amber",
    "brave",
    "calm",
    "clever",
    "crisp",
    "daring",
    "eager",
    "fierce",
    "gentle",
    "glowing",
    "honest",
    "jolly",
    "keen",
    "lively",
    "lucid",
    "mellow",
    "nimble",
    "noble",
    "placid",
    "proud",
    "quiet",
    "rapid",
    "serene",
    "sharp",
    "silent",
    "steady",
    "sunny",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "witty",
]
_NOUNS = [
    "badger",
    "bison",
    "cedar",
    "comet",
    "crane",
    "delta",
    "ember",
    "falcon",
    "fern",
    "finch",
    "harbor",
    "heron",
    "lark",
    "lynx",
    "maple",
    "meadow",
    "moth",
    "orca",
    "otter",
    "owl",
    "pine",
    "quartz",
    "raven",
    "reef",
    "river",
    "robin",
    "sparrow",
    "stone",
    "tern",
    "tiger",
    "willow",
    "wolf",
]


def generate_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(100, 999)}"


class TrackingService:
    def __init__(self, ctx: Context, artifact_root_uri: str) -> None:
        self.ctx = ctx
        self.root = artifact_root_uri

    # ---------------------------------------------------------- experiments
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        name = check.experiment_name(name)
        tags = dict(tags or {})
        for k, v in tags.items():
            check.key(k, "Experiment tag")
            check.text(v, f"Experiment tag {k!r} value", limits.MAX_EXPERIMENT_TAG_VALUE_LENGTH)
        with self.ctx.transaction(write=True) as s:
            exp_id = experiment_store.insert(s, name, tags, self.ctx.clock())
            permissions.on_create(s, self.ctx, "experiment", str(exp_id), name)
            self.ctx.audit.write(s, "experiment.create", "experiment", str(exp_id), None, {"name": name, "tags": tags})
        return str(exp_id)

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self.ctx.transaction() as s:
            return experiment_store.get(s, experiment_store.parse_id(experiment_id), self.root)

    def get_experiment_by_name(self, name: str) -> Experiment:
        with self.ctx.transaction() as s:
            return experiment_store.get_by_name(s, name, self.root)

    def search_experiments(
        self,
        *,
        view_type: str | ViewType | None = None,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        comparisons = grammar.parse_experiment_filter(filter_string)
        ordering = []
        for clause in order_by or []:
            parts = clause.strip().split()
            if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].upper() not in ("ASC", "DESC")):
                raise InvalidInput(f"Invalid order_by clause {clause!r}; expected '<field> [ASC|DESC]'.")
            field = parts[0].removeprefix("attributes.").removeprefix("attribute.")
            ordering.append((field, len(parts) == 1 or parts[1].upper() == "ASC"))
        if not ordering:
            ordering = [("last_update_time", False)]
        limit = check.max_results(max_results, default=1000)
        with self.ctx.transaction() as s:
            only = permissions.visible(s, self.ctx.principal, "experiment")
            return experiment_store.search(
                s, self.root, ViewType.parse(view_type), comparisons, ordering, limit, page_token, only
            )

    def experiment_run_counts(self, experiment_ids: Sequence[str]) -> dict[str, int]:
        ids = [experiment_store.parse_id(e) for e in experiment_ids]
        with self.ctx.transaction() as s:
            counts = experiment_store.run_counts(s, ids)
        return {str(i): counts.get(i, 0) for i in ids}

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        exp_id = experiment_store.parse_id(experiment_id)
        new_name = check.experiment_name(new_name)
        with self.ctx.transaction(write=True) as s:
            row = experiment_store.get_row(s, exp_id)
            old = row.name
            experiment_store.rename(s, exp_id, new_name, self.ctx.clock())
            self.ctx.audit.write(s, "experiment.rename", "experiment", str(exp_id), {"name": old}, {"name": new_name})

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        exp_id = experiment_store.parse_id(experiment_id)
        check.key(key, "Experiment tag")
        check.text(value, f"Experiment tag {key!r} value", limits.MAX_EXPERIMENT_TAG_VALUE_LENGTH)
        with self.ctx.transaction(write=True) as s:
            experiment_store.get_row(s, exp_id)
            experiment_store.set_tag(s, exp_id, key, value)
            experiment_store.touch(s, exp_id, self.ctx.clock())
            self.ctx.audit.write(s, "experiment.set_tag", "experiment", str(exp_id), None, {"key": key, "value": value})

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        exp_id = experiment_store.parse_id(experiment_id)
        with self.ctx.transaction(write=True) as s:
            experiment_store.delete_tag(s, exp_id, key)
            self.ctx.audit.write(s, "experiment.delete_tag", "experiment", str(exp_id), {"key": key}, None)

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft delete, together with the experiment's runs; restorable."""
        exp_id = experiment_store.parse_id(experiment_id)
        if exp_id == 0:
            raise InvalidInput("The Default experiment cannot be deleted.")
        with self.ctx.transaction(write=True) as s:
            row = experiment_store.get_row(s, exp_id)
            if row.lifecycle_stage == LifecycleStage.DELETED.value:
                raise InvalidState(f"Experiment {exp_id} is already deleted.")
            experiment_store.set_lifecycle(s, exp_id, LifecycleStage.DELETED, self.ctx.clock())
            self.ctx.audit.write(
                s,
                "experiment.delete",
                "experiment",
                str(exp_id),
                {"lifecycle_stage": "active"},
                {"lifecycle_stage": "deleted"},
            )

    def restore_experiment(self, experiment_id: str) -> None:
        exp_id = experiment_store.parse_id(experiment_id)
        with self.ctx.transaction(write=True) as s:
            row = experiment_store.get_row(s, exp_id, lock=True)  # see restore_run
            if row.lifecycle_stage != LifecycleStage.DELETED.value:
                raise InvalidState(f"Experiment {exp_id} is not deleted.")
            experiment_store.set_lifecycle(s, exp_id, LifecycleStage.ACTIVE, self.ctx.clock())
            self.ctx.audit.write(
                s,
                "experiment.restore",
                "experiment",
                str(exp_id),
                {"lifecycle_stage": "deleted"},
                {"lifecycle_stage": "active"},
            )

    def _experiment_ids(
        self, s: Session, experiment_ids: Sequence[str] | None, names: Sequence[str] | None
    ) -> list[int]:
        ids = [experiment_store.parse_id(e) for e in experiment_ids or []]
        if names:
            found = experiment_store.ids_by_names(s, list(names))
            missing = [n for n in names if n not in found]
            if missing:
                raise NotFound(f"No experiment named {missing[0]!r}.")
            ids += [found[n] for n in names]
        return ids

    # ----------------------------------------------------------------- runs
    def create_run(
        self,
        experiment_id: str | None = None,
        *,
        run_name: str | None = None,
        start_time: int | None = None,
        tags: Mapping[str, str] | None = None,
        user_id: str | None = None,
        parent_run_id: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """A new run; ``run_id`` is an id the client made (a run started offline): creating that
        run again in the same experiment answers the run already there."""
        exp_id = experiment_store.parse_id(experiment_id if experiment_id is not None else "0")
        if run_id is not None:
            if not _CLIENT_RUN_ID.fullmatch(run_id):
                raise InvalidInput(f"run_id must be 32 lowercase hex digits, got {run_id[:64]!r}.")
            existing = self._existing_run(run_id, exp_id)
            if existing is not None:
                return existing
        tags = dict(tags or {})
        if parent_run_id:
            tags[system_tags.PARENT_RUN_ID] = parent_run_id
        check.batch([], {}, tags)
        name = check.run_name(run_name) if run_name else generate_run_name()
        start = check.integer(start_time, "start_time", minimum=0) if start_time is not None else self.ctx.clock()
        # With auth on a run belongs to the signed-in caller, whatever user id the client sends.
        claimed = user_id and not self.ctx.principal.authenticated
        user = check.text(user_id, "user_id", 256) if claimed and user_id else self.ctx.user
        run_uuid = run_id or uuid.uuid4().hex
        with self.ctx.transaction(write=True) as s:
            exp = experiment_store.get_row(s, exp_id)
            if exp.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise InvalidState(f"Experiment {exp_id} is deleted; restore it before adding runs.")
            parent = tags.get(system_tags.PARENT_RUN_ID)
            if parent:
                run_store.get_row(s, parent)
            artifact_key = f"{exp_id}/{run_uuid}/artifacts"
            status = RunStatus.RUNNING.value
            run_store.insert(
                s,
                uuid=run_uuid,
                experiment_id=exp_id,
                name=name,
                user_id=user,
                status=status,
                start_time=start,
                artifact_key=artifact_key,
                tags=tags,
            )
            experiment_store.touch(s, exp_id, self.ctx.clock())
            self.ctx.audit.write(
                s, "run.create", "run", run_uuid, None, {"experiment_id": str(exp_id), "run_name": name}
            )
        # A new run is what was just written: no read back.
        info = run_store.run_info(run_uuid, exp_id, name, user, status, start, artifact_key, self.root)
        return Run(info=info, data=RunData(tags=tags))

    def _existing_run(self, run_id: str, exp_id: int) -> Run | None:
        with self.ctx.transaction() as s:
            try:
                found = run_store.get_row(s, run_id)
            except NotFound:
                return None
            if found.experiment_id != exp_id:
                raise AlreadyExists(f"Run {run_id} already exists in experiment {found.experiment_id}.")
            return run_store.load(s, [found.id], self.root)[0]

    def get_run(self, run_id: str) -> Run:
        with self.ctx.transaction() as s:
            row = run_store.get_row(s, run_id)
            return run_store.load(s, [row.id], self.root)[0]

    def child_run_ids(self, run_id: str) -> list[str]:
        with self.ctx.transaction() as s:
            return run_store.children(s, run_id, system_tags.PARENT_RUN_ID)

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> Run:
        values: dict[str, Any] = {}
        if status is not None:
            try:
                values["status"] = RunStatus(str(status).upper()).value
            except ValueError:
                raise InvalidInput(
                    f"Unknown run status {status!r}; use one of " + ", ".join(s.value for s in RunStatus) + "."
                ) from None
        if end_time is not None:
            values["end_time"] = check.integer(end_time, "end_time", minimum=0)
        elif status is not None and RunStatus(values["status"]).is_terminated:
            values["end_time"] = self.ctx.clock()
        elif status is not None:
            values["end_time"] = None  # a resumed run has not ended
        if run_name is not None:
            values["name"] = check.run_name(run_name)
        with self.ctx.transaction(write=True) as s:
            row = self._active_run(s, run_id)
            before = {"status": row.status, "end_time": row.end_time, "run_name": row.name}
            run_store.update_info(s, row.id, values)
            after = {("run_name" if k == "name" else k): v for k, v in values.items()}
            self.ctx.audit.write(s, "run.update", "run", run_id, {k: before[k] for k in after}, after)
            return run_store.load(s, [row.id], self.root)[0]

    def set_terminated(self, run_id: str, status: str = "FINISHED", end_time: int | None = None) -> Run:
        return self.update_run(run_id, status=status, end_time=end_time if end_time is not None else self.ctx.clock())

    def _run_row(self, s: Session, run_id: str, *, lock: bool = False) -> RunRef:
        return batch.run_ref(s, run_id, lock=lock)

    def _active_run(self, s: Session, run_id: str) -> RunRef:
        return batch.active_run_ref(s, run_id)

    def delete_run(self, run_id: str, *, if_active: bool = False) -> None:
        """Soft delete; ``if_active`` makes deleting a deleted run a no-op instead of an error."""
        with self.ctx.transaction(write=True) as s:
            row = self._run_row(s, run_id, lock=True)
            if row.lifecycle_stage == LifecycleStage.DELETED.value:
                if if_active:
                    return
                raise InvalidState(f"Run {run_id} is already deleted.")
            run_store.set_lifecycle(s, row.id, LifecycleStage.DELETED, self.ctx.clock())
            self.ctx.audit.write(
                s, "run.delete", "run", run_id, {"lifecycle_stage": "active"}, {"lifecycle_stage": "deleted"}
            )

    def restore_run(self, run_id: str, *, if_deleted: bool = False) -> None:
        """Undo a soft delete; ``if_deleted`` makes restoring an active run a no-op."""
        with self.ctx.transaction(write=True) as s:
            # Locked: a gc that chose this run finishes first (and the run is not found), or
            # waits for this restore and then no longer finds it deleted.
            row = self._run_row(s, run_id, lock=True)
            if row.lifecycle_stage != LifecycleStage.DELETED.value:
                if if_deleted:
                    return
                raise InvalidState(f"Run {run_id} is not deleted.")
            exp = experiment_store.get_row(s, row.experiment_id)
            if exp.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise InvalidState(
                    f"Run {run_id} belongs to deleted experiment {exp.id}; restore the experiment first."
                )
            run_store.set_lifecycle(s, row.id, LifecycleStage.ACTIVE, self.ctx.clock())
            self.ctx.audit.write(
                s, "run.restore", "run", run_id, {"lifecycle_stage": "deleted"}, {"lifecycle_stage": "active"}
            )

    def move_run(self, run_id: str, experiment_id: str) -> Run:
        """Move a run (with its metrics, params, tags, inputs and artifacts) to another experiment."""
        target = experiment_store.parse_id(experiment_id)
        with self.ctx.transaction(write=True) as s:
            row = self._active_run(s, run_id)
            exp = experiment_store.get_row(s, target)
            if exp.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise InvalidState(f"Experiment {target} is deleted; restore it before moving runs into it.")
            source = row.experiment_id
            if source == target:
                return run_store.load(s, [row.id], self.root)[0]
            run_store.move(s, row.id, target)
            now = self.ctx.clock()
            experiment_store.touch(s, source, now)
            experiment_store.touch(s, target, now)
            self.ctx.audit.write(
                s, "run.move", "run", run_id, {"experiment_id": str(source)}, {"experiment_id": str(target)}
            )
            return run_store.load(s, [row.id], self.root)[0]

    # -------------------------------------------------------------- logging
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        tags: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        idempotency_key: str | None = None,
        run_name: str | None = None,
        model_metrics: Sequence[tuple[str, LoggedModelMetric]] = (),
    ) -> None:
        """Metrics, params and tags (and a new name, and logged models' points) in one
        all-or-nothing write. A batch retried with the same idempotency key is applied once."""
        batch.log_batch(
            self.ctx, run_id, metrics, params, tags,
            run_name=run_name, model_metrics=model_metrics, idempotency_key=idempotency_key,
        )  # fmt: skip

    def rewrite_tag(self, run_id: str, key: str, rewrite: Callable[[str | None], str]) -> None:
        """Set a tag from its current value in one transaction, so no concurrent rewrite is lost."""
        batch.rewrite_tag(self.ctx, run_id, key, rewrite)

    def log_metric(self, run_id: str, key: str, value: float, *, step: int = 0, timestamp: int | None = None) -> None:
        self.log_batch(
            run_id, metrics=[Metric(key, value, timestamp if timestamp is not None else self.ctx.clock(), step)]
        )

    def log_param(self, run_id: str, key: str, value: object) -> None:
        self.log_batch(run_id, params={key: str(value)})

    def set_tag(self, run_id: str, key: str, value: object) -> None:
        self.log_batch(run_id, tags={key: str(value)})

    def delete_tag(self, run_id: str, key: str) -> None:
        with self.ctx.transaction(write=True) as s:
            row = self._active_run(s, run_id)
            old = run_store.delete_tag(s, row.id, run_id, key)
            self.ctx.audit.write(s, "run.delete_tag", "run", run_id, {"key": key, "value": old}, None)

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        *,
        max_points: int | None = None,
        start_step: int | None = None,
        end_step: int | None = None,
        limit: int | None = None,
    ) -> MetricHistory:
        """A metric's history in step order: whole, downsampled to ``max_points``, within a step
        range, or its first ``limit`` points (a page)."""
        if max_points is not None:
            max_points = check.integer(max_points, "max_points")
            if max_points < 2:
                raise InvalidInput("max_points must be at least 2.")
        if limit is not None and (max_points is not None or check.integer(limit, "limit") < 1):
            raise InvalidInput("limit must be a positive integer, and cannot go with max_points.")
        if start_step is not None and end_step is not None and start_step > end_step:
            raise InvalidInput(f"start_step {start_step} is after end_step {end_step}.")
        with self.ctx.transaction() as s:
            row = self._run_row(s, run_id)
            return metric_store.history(
                s, row.id, key, max_points=max_points, start_step=start_step, end_step=end_step, limit=limit
            )

    def get_metric_histories(
        self,
        run_ids: Sequence[str],
        key: str,
        *,
        max_points: int | None = None,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> dict[str, MetricHistory]:
        """A metric's history for each of several runs (each as get_metric_history gives it), in
        one transaction; an unknown run is NotFound."""
        if max_points is not None and check.integer(max_points, "max_points") < 2:
            raise InvalidInput("max_points must be at least 2.")
        if start_step is not None and end_step is not None and start_step > end_step:
            raise InvalidInput(f"start_step {start_step} is after end_step {end_step}.")
        with self.ctx.transaction() as s:
            found = run_store.ids_for_uuids(s, list(run_ids))
            for run_id in run_ids:
                if run_id not in found:
                    self._run_row(s, run_id)  # raises the one NotFound message
            read = metric_store.histories(
                s, [found[r] for r in run_ids], key, max_points=max_points, start_step=start_step, end_step=end_step
            )
            return {run_id: read[found[run_id]] for run_id in run_ids}

    def metric_keys(self, run_ids: Sequence[str]) -> list[str]:
        with self.ctx.transaction() as s:
            ids = list(run_store.ids_for_uuids(s, list(run_ids)).values())
            return metric_store.keys_for_runs(s, ids)

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Dataset, Mapping[str, str]]]) -> None:
        """Link datasets to a run; the same (name, digest) in one experiment is one dataset."""
        for dataset, tags in datasets:
            _check_dataset(dataset)
            for k, v in tags.items():
                check.key(k, "Input tag")
                check.text(v, f"Input tag {k!r} value", 500)
        with self.ctx.transaction(write=True) as s:
            row = self._active_run(s, run_id)
            added = 0
            for dataset, tags in datasets:
                added += run_store.link_dataset(
                    s, row.id, row.experiment_id, dataset, tags, tags.get(system_tags.DATASET_CONTEXT)
                )
            self.ctx.audit.write(
                s,
                "run.log_inputs",
                "run",
                run_id,
                None,
                {"datasets": [{"name": d.name, "digest": d.digest} for d, _ in datasets], "new": added},
            )

    # --------------------------------------------------------------- search
    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        run_view_type: str | ViewType | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        experiment_names: Sequence[str] | None = None,
        params: Sequence[str] | None = None,
        metrics: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> PagedList:
        """Runs matching an MLflow-grammar filter, ordered, one page at a time.

        ``params``/``metrics``/``tags`` choose which keys to return (all by default).
        """
        comparisons = grammar.parse_filter(filter_string)
        ordering = grammar.parse_order_by(list(order_by or []))
        view = ViewType.parse(run_view_type)
        limit = check.max_results(max_results, default=1000)
        with self.ctx.transaction() as s:
            ids = self._experiment_ids(s, experiment_ids, experiment_names)
            if not ids:
                raise InvalidInput("Search runs in at least one experiment (experiment_ids or experiment_names).")
            page = search_run_ids(
                s,
                experiment_ids=ids,
                comparisons=comparisons,
                order_by=ordering,
                stages=view.stages(),
                max_results=limit,
                page_token=page_token,
            )
            runs = run_store.load(s, page.run_ids, self.root, params=params, metrics=metrics, tags=tags)
            return PagedList(runs, page.next_page_token)


def _check_dataset(d: Dataset) -> None:
    check.text(d.name, "Dataset name", 500)
    if not d.name:
        raise InvalidInput("Dataset name must not be empty.")
    check.text(d.digest, "Dataset digest", 64)
    if not d.digest:
        raise InvalidInput("Dataset digest must not be empty.")
    check.text(d.source_type, "Dataset source type", 64)
    check.text(d.source, "Dataset source", 65_536)
    if d.schema is not None:
        check.text(d.schema, "Dataset schema", 1_048_576)
    if d.profile is not None:
        check.text(d.profile, "Dataset profile", 1_048_576)
