"""Logged models: models logged on their own, as MLflow 3 does for every ``log_model``.

A logged model belongs to an experiment, usually comes from a run (its source run), and has
its own tags, params, metrics and artifacts. Its artifacts live under a server-generated key,
``<experiment id>/models/<model id>/artifacts``, and are recorded with size and SHA-256 like a
run's. Runs link to the models they produced (outputs, at a step) and used (inputs).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runstone import limits
from runstone.artifacts.base import ArtifactStore, clean_path, join_key
from runstone.entities import (
    FileInfo,
    LifecycleStage,
    LoggedModel,
    LoggedModelStatus,
    PagedList,
    RunModelLinks,
)
from runstone.errors import Immutable, InvalidInput, InvalidState, NotFound
from runstone.governance.context import Context
from runstone.store import experiments as experiment_store
from runstone.store import logged_models as store
from runstone.store import runs as run_store
from runstone.store import version_manifests
from runstone.store.logged_models import LoggedModelRef
from runstone.tracking import search as grammar
from runstone.tracking import validation as check
from runstone.tracking.artifacts import ArtifactFile, ArtifactLimits, children
from runstone.tracking.service import generate_run_name

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

LOGGED_MODELS = grammar.Grammar(
    "logged models",
    frozenset({"attribute", "tag", "param", "metric"}),
    {
        "name": "name",
        "model_id": "model_id",
        "model_type": "model_type",
        "status": "status",
        "source_run_id": "source_run_id",
        "creation_timestamp": "creation_timestamp",
        "creation_time": "creation_timestamp",
        "last_updated_timestamp": "last_updated_timestamp",
        "last_updated_time": "last_updated_timestamp",
    },
    frozenset({"creation_timestamp", "last_updated_timestamp"}),
    frozenset({"name", "model_id", "model_type", "status", "source_run_id"}),
)
MAX_NAME_LENGTH = 250


def parse_status(value: str) -> LoggedModelStatus:
    """READY, PENDING or FAILED; MLflow's LOGGED_MODEL_* names are accepted too."""
    text = str(value).strip().upper().removeprefix("LOGGED_MODEL_")
    text = {"UPLOAD_FAILED": "FAILED"}.get(text, text)
    try:
        return LoggedModelStatus(text)
    except ValueError:
        raise InvalidInput(f"Unknown logged model status {value!r}; use PENDING, READY or FAILED.") from None


def _check_tags(tags: Mapping[str, str], what: str) -> None:
    for k, v in tags.items():
        check.key(k, what)
        check.text(v, f"{what} {k!r} value", limits.MAX_TAG_VALUE_LENGTH)


class LoggedModelService:
    def __init__(self, ctx: Context, store_: ArtifactStore, limits: ArtifactLimits | None = None) -> None:
        self.ctx = ctx
        self.store = store_
        self.limits = limits or ArtifactLimits()

    @property
    def root(self) -> str:
        return self.store.root_uri

    def _audit(
        self,
        s: Session,
        action: str,
        model_id: str,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
    ) -> None:
        self.ctx.audit.write(s, action, "logged_model", model_id, before, after)

    def _load(self, s: Session, ref: LoggedModelRef) -> LoggedModel:
        return store.load(s, [ref], self.root)[0]

    # ------------------------------------------------------------------ models
    def create(
        self,
        experiment_id: str | None,
        *,
        name: str | None = None,
        model_type: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> LoggedModel:
        tag_map, param_map = dict(tags or {}), dict(params or {})
        _check_tags(tag_map, "Logged model tag")
        for k, v in param_map.items():
            check.key(k, "Logged model param")
            check.text(v, f"Logged model param {k!r} value", limits.MAX_PARAM_VALUE_LENGTH)
        name = check.text(name, "Logged model name", MAX_NAME_LENGTH) if name else generate_run_name()
        if model_type is not None:
            check.text(model_type, "Model type", 500)
        model_id = f"m-{uuid.uuid4().hex}"
        with self.ctx.transaction(write=True) as s:
            if experiment_id in (None, "") and source_run_id:
                exp_id = run_store.get_row(s, source_run_id).experiment_id
            else:
                exp_id = experiment_store.parse_id(experiment_id if experiment_id not in (None, "") else "0")
            exp = experiment_store.get_row(s, exp_id)
            if exp.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise InvalidState(f"Experiment {exp_id} is deleted; restore it before logging models into it.")
            if source_run_id:
                run_store.get_row(s, source_run_id)
            ref = store.insert(
                s,
                model_id=model_id,
                experiment_id=exp_id,
                name=name,
                model_type=model_type or None,
                source_run=source_run_id or None,
                status=LoggedModelStatus.PENDING.value,
                user_id=self.ctx.user,
                artifact_key=f"{exp_id}/models/{model_id}/artifacts",
                now=self.ctx.clock(),
                tags=tag_map,
                params=param_map,
            )
            self._audit(
                s,
                "logged_model.create",
                model_id,
                None,
                {"experiment_id": str(exp_id), "name": name, "source_run_id": source_run_id},
            )
            return self._load(s, ref)

    def _ref(self, s: Session, model_id: str, *, active: bool = False) -> LoggedModelRef:
        if not isinstance(model_id, str) or not model_id:
            raise InvalidInput("Logged model id must be a non-empty string.")
        ref = store.get_ref(s, model_id)
        if active and ref.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise NotFound(f"Logged model with ID '{model_id}' not found.")
        return ref

    def get(self, model_id: str, *, allow_deleted: bool = False) -> LoggedModel:
        with self.ctx.transaction() as s:
            return self._load(s, self._ref(s, model_id, active=not allow_deleted))

    def finalize(self, model_id: str, status: str) -> LoggedModel:
        final = parse_status(status)
        if final is LoggedModelStatus.PENDING:
            raise InvalidInput("A logged model is finalized as READY or FAILED, not PENDING.")
        with self.ctx.transaction(write=True) as s:
            ref = self._ref(s, model_id, active=True)
            store.update_model(s, ref.pk, self.ctx.clock(), status=final.value)
            self._audit(s, "logged_model.finalize", model_id, {"status": ref.status}, {"status": final.value})
            return self._load(s, ref)

    def delete(self, model_id: str) -> None:
        with self.ctx.transaction(write=True) as s:
            ref = self._ref(s, model_id, active=True)
            store.update_model(s, ref.pk, self.ctx.clock(), lifecycle_stage=LifecycleStage.DELETED.value)
            self._audit(
                s, "logged_model.delete", model_id, {"lifecycle_stage": "active"}, {"lifecycle_stage": "deleted"}
            )

    def set_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        tag_map = dict(tags)
        _check_tags(tag_map, "Logged model tag")
        with self.ctx.transaction(write=True) as s:
            ref = self._ref(s, model_id, active=True)
            store.set_tags(s, ref.pk, tag_map)
            store.update_model(s, ref.pk, self.ctx.clock())
            self._audit(s, "logged_model.set_tags", model_id, None, {"tags": tag_map})

    def delete_tag(self, model_id: str, key: str) -> None:
        with self.ctx.transaction(write=True) as s:
            ref = self._ref(s, model_id, active=True)
            store.delete_tag(s, ref.pk, model_id, key)
            self._audit(s, "logged_model.delete_tag", model_id, {"key": key}, None)

    def log_params(self, model_id: str, params: Mapping[str, str]) -> None:
        param_map = dict(params)
        for k, v in param_map.items():
            check.key(k, "Logged model param")
            check.text(v, f"Logged model param {k!r} value", limits.MAX_PARAM_VALUE_LENGTH)
        with self.ctx.transaction(write=True) as s:
            ref = self._ref(s, model_id, active=True)
            store.write_params(s, ref.pk, model_id, param_map)
            store.update_model(s, ref.pk, self.ctx.clock())
            self._audit(s, "logged_model.log_params", model_id, None, {"params": sorted(param_map)})

    def search(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        *,
        datasets: Sequence[tuple[str, str | None]] = (),
        order_by: Sequence[tuple[str, bool]] = (),
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        comparisons = [
            grammar.Comparison(c.entity, c.key, c.op, parse_status(str(c.value)).value, c.position)
            if c.entity == "attribute" and c.key == "status" and isinstance(c.value, str)
            else c
            for c in grammar.parse_filter(filter_string, LOGGED_MODELS)
        ]
        if not experiment_ids:
            raise InvalidInput("Search logged models in at least one experiment.")
        ids = [experiment_store.parse_id(e) for e in experiment_ids]
        ordering = []
        for field, ascending in order_by:
            key = field.removeprefix("attributes.").removeprefix("attribute.")
            ordering.append((LOGGED_MODELS.attributes.get(key, key), ascending))
        limit = check.max_results(max_results, default=100)
        with self.ctx.transaction() as s:
            refs, token = store.search(
                s,
                experiment_ids=ids,
                comparisons=comparisons,
                datasets=list(datasets),
                order_by=ordering,
                max_results=limit,
                page_token=page_token,
            )
            return PagedList(store.load(s, refs, self.root), token)

    # ------------------------------------------------------------------ runs
    def link_run(self, run_id: str, model_ids: Sequence[tuple[str, int]], direction: str) -> None:
        """Record that a run produced (``output``, at a step) or used (``input``) logged models."""
        if direction not in ("input", "output"):
            raise InvalidInput("A run links to a logged model as its input or its output.")
        with self.ctx.transaction(write=True) as s:
            run = run_store.get_row(s, run_id)
            if run.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise InvalidState(f"Run {run_id} is deleted; restore it before changing it.")
            for model_id, step in model_ids:
                ref = self._ref(s, model_id)
                store.link_run(s, run.id, ref.pk, direction, check.integer(step, "step"))
            self.ctx.audit.write(s, f"run.log_{direction}s", "run", run_id, None, {"models": [m for m, _ in model_ids]})

    def links_for_runs(self, run_ids: Sequence[str]) -> dict[str, RunModelLinks]:
        with self.ctx.transaction() as s:
            pks = run_store.ids_for_uuids(s, list(run_ids))
            links = store.links_for_runs(s, list(pks.values()))
        return {run_id: links[pk] for run_id, pk in pks.items()}

    # ------------------------------------------------------------------ artifacts
    def _writable(self, model_id: str) -> LoggedModelRef:
        with self.ctx.transaction() as s:
            ref = self._ref(s, model_id, active=True)
            held = version_manifests.logged_model_holders(s, model_id)
        if held:
            name, version = held[0]
            raise Immutable(
                f"The artifacts of logged model {model_id} are version {version} of registered model {name!r}, "
                "whose files cannot change once registered. Log a new model and register it as a new version.",
                {"registered_model": name, "version": str(version), "model_id": model_id},
            )
        return ref

    def check_writable(self, model_id: str) -> None:
        """Refuse a change when the model is deleted or registered as a model version."""
        self._writable(model_id)

    def log_artifact(self, model_id: str, path: str, chunks: Iterable[bytes]) -> FileInfo:
        path = clean_path(path)
        ref = self._writable(model_id)
        with self.ctx.transaction() as s:
            conflict = store.artifact_conflict(s, ref.pk, path)
            replaced = store.artifact(s, ref.pk, path)
            held = store.artifact_total(s, ref.pk) - (replaced.file_size or 0 if replaced else 0)
        if conflict:
            raise InvalidInput(conflict)
        bounded = self.limits.bounded(chunks, f"Logged model {model_id}", held)
        stored = self.store.write(join_key(ref.artifact_key, path), bounded)
        with self.ctx.transaction(write=True) as s:
            store.record_artifact(s, ref.pk, path, stored.size, stored.sha256, self.ctx.clock())
            self._audit(
                s,
                "logged_model.log_artifact",
                model_id,
                None,
                {"path": path, "size": stored.size, "sha256": stored.sha256},
            )
        return FileInfo(path, False, stored.size, stored.sha256)

    def log_file(self, model_id: str, path: str, local_file: Path) -> FileInfo:
        with open(local_file, "rb") as src:
            return self.log_artifact(model_id, path, iter(lambda: src.read(1024 * 1024), b""))

    def files(self, model_id: str, path: str = "") -> list[FileInfo]:
        """Every file at or below ``path``."""
        prefix = clean_path(path, allow_empty=True)
        with self.ctx.transaction() as s:
            return store.artifact_files(s, self._ref(s, model_id).pk, prefix)

    def list_artifacts(self, model_id: str, path: str = "") -> list[FileInfo]:
        """The files and folders directly inside ``path``, folders with their total size."""
        prefix = clean_path(path, allow_empty=True)
        return children(self.files(model_id, prefix), prefix)

    def open(self, model_id: str, path: str) -> ArtifactFile:
        path = clean_path(path)
        with self.ctx.transaction() as s:
            ref = self._ref(s, model_id)
            info = store.artifact(s, ref.pk, path)
        if info is None:
            raise NotFound(f"Logged model {model_id} has no artifact file at {path!r}.")
        key = join_key(ref.artifact_key, path)
        return ArtifactFile(info, key, self.store.local_path(key))

    def read(self, artifact: ArtifactFile) -> Iterator[bytes]:
        return self.store.read(artifact.key)

    def delete_artifacts(self, model_id: str, path: str = "") -> int:
        prefix = clean_path(path, allow_empty=True)
        ref = self._writable(model_id)
        with self.ctx.transaction(write=True) as s:
            count = store.delete_artifacts(s, ref.pk, prefix)
            if count == 0 and prefix:
                raise NotFound(f"Logged model {model_id} has no artifact at {prefix!r}.")
            self._audit(s, "logged_model.delete_artifacts", model_id, {"path": prefix, "files": count}, None)
        self.store.delete_prefix(join_key(ref.artifact_key, prefix))
        return count

    def artifact_key(self, model_id: str) -> str:
        with self.ctx.transaction() as s:
            return self._ref(s, model_id).artifact_key
