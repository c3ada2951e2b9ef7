"""Importing an MLflow store into runstone: experiments (by name), runs (ids kept), params,
metrics with their full history, tags, dataset inputs, artifacts, logged models, and the
registry (models, versions with their numbers, aliases and stages).

Idempotent: each object is compared with what runstone already holds and written only when
something is missing or different, so a second import of an unchanged store writes nothing (and
an interrupted import, run again, completes). A run's metric history is replaced key by key when
its point count differs from the source's. Every change is one audit event, by the importing
user, in the transaction of the change.

After importing, every object is counted again, in the source and in runstone, for the report.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from runstone.artifacts.base import clean_path, join_key
from runstone.entities import Dataset, LifecycleStage, LoggedModelMetric, Metric
from runstone.errors import NotFound, RunstoneError
from runstone.governance.context import Principal
from runstone.migration.artifacts import ArtifactReader
from runstone.migration.registry import RegistryImport
from runstone.migration.sources import Source
from runstone.migration.translate import (
    dataset_tags,
    logged_model_status,
    native_tags,
    number,
    pairs,
    run_name,
)
from runstone.migration.verify import count
from runstone.store import artifact_manifest as manifest
from runstone.store import experiments as experiment_store
from runstone.store import imports as import_store
from runstone.store import logged_models as model_store
from runstone.store import metrics as metric_store
from runstone.store import mlflow_messages as msg
from runstone.store import runs as run_store
from runstone.tracking import tags as native

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from runstone.backend import Backend

KINDS = (
    "experiments",
    "runs",
    "params",
    "tags",
    "metric points",
    "dataset inputs",
    "artifacts",
    "logged models",
    "registered models",
    "model versions",
    "aliases",
    "stages",
)


@dataclass
class Count:
    source: int = 0
    runstone: int = 0


@dataclass
class Report:
    """What the source holds and what runstone holds of it, per kind; and what changed."""

    counts: dict[str, Count] = field(default_factory=lambda: {k: Count() for k in KINDS})
    written: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(c.source == c.runstone for c in self.counts.values())


class Progress(Protocol):
    """Told how much there is to do and each time a piece is done; the CLI draws a bar."""

    def start(self, total: int) -> None: ...

    def advance(self, what: str) -> None: ...


class _Quiet:
    def start(self, total: int) -> None:
        pass

    def advance(self, what: str) -> None:
        pass


@dataclass
class _Plan:
    experiment: msg.Experiment
    runstone_id: int
    runs: list[msg.Run]
    models: list[msg.LoggedModel]


class MlflowImporter:
    def __init__(
        self,
        backend: Backend,
        source: Source,
        artifacts: ArtifactReader | None,
        *,
        user: str = "mlflow-import",
        progress: Progress | None = None,
    ) -> None:
        self.backend = backend
        self.db = backend.db
        self.store = backend.store
        self.source = source
        self.reader = artifacts
        self.ctx = backend.context(Principal(user))
        self.tracking = backend.tracking(self.ctx)
        self.progress: Progress = progress or _Quiet()
        self.report = Report()
        self._unreachable = 0
        # What the source holds of each run and logged model, for the closing count.
        self.ledger: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ helpers
    def _audit(self, s: Session, action: str, kind: str, target: str, after: Mapping[str, object]) -> None:
        self.ctx.audit.write(s, action, kind, target, None, {"source": self.source.description, **after})
        self.report.written += 1

    def note(self, message: str) -> None:
        self.report.notes.append(message)

    # ------------------------------------------------------------------ the whole import
    def run(self) -> Report:
        plans = [self._experiment(e) for e in self.source.experiments()]
        registry = RegistryImport(self)
        models = registry.plan()
        self.progress.start(sum(len(p.runs) + len(p.models) for p in plans) + registry.size(models))
        for plan in plans:
            for model in plan.models:
                self._logged_model(model, plan.runstone_id)
                self.progress.advance("logged model")
            for run in plan.runs:
                self._run(run, plan.runstone_id)
                self.progress.advance("run")
            if plan.experiment.get("lifecycle_stage") == "deleted":
                self._delete_experiment(plan)
        registry.apply(models)
        if self.reader is not None:
            for remark in self.reader.remarks():
                self.note(remark)
        if self._unreachable:
            where = "lie outside the artifact root given" if self.reader is not None else "need an artifact root"
            self.note(
                f"The artifacts of {self._unreachable} runs and logged models could not be reached (their locations "
                f"{where}): give the MLflow artifact root folder with --artifacts."
            )
        count(self, plans, models)
        return self.report

    # ------------------------------------------------------------------ experiments
    def _experiment(self, experiment: msg.Experiment) -> _Plan:
        name = experiment["name"]
        tags = native_tags(pairs(experiment.get("tags")))
        with self.db.transaction(write=True) as s:
            exp_id = experiment_store.id_by_name(s, name)
            if exp_id is None:
                exp_id = experiment_store.insert(s, name, tags, number(experiment.get("creation_time")))
                import_store.set_experiment_times(
                    s, exp_id, number(experiment.get("creation_time")), number(experiment.get("last_update_time"))
                )
                self._audit(s, "experiment.import", "experiment", str(exp_id), {"name": name})
            else:
                current = experiment_store.get(s, exp_id, "").tags
                changed = {k: v for k, v in tags.items() if current.get(k) != v}
                for key, value in changed.items():
                    experiment_store.set_tag(s, exp_id, key, value)
                if changed:
                    self._audit(s, "experiment.import", "experiment", str(exp_id), {"tags": sorted(changed)})
        source_id = str(experiment["experiment_id"])
        return _Plan(experiment, exp_id, list(self.source.runs(source_id)), self.source.logged_models(source_id))

    def _delete_experiment(self, plan: _Plan) -> None:
        with self.db.transaction(write=True) as s:
            if experiment_store.get_row(s, plan.runstone_id).lifecycle_stage != LifecycleStage.DELETED.value:
                experiment_store.set_lifecycle(s, plan.runstone_id, LifecycleStage.DELETED, self.ctx.clock())
                self._audit(s, "experiment.import", "experiment", str(plan.runstone_id), {"lifecycle_stage": "deleted"})

    # ------------------------------------------------------------------ runs
    def _histories(self, run: msg.Run) -> dict[str, list[Metric]]:
        run_id = run["info"]["run_id"]
        out = {}
        for latest in run.get("data", {}).get("metrics", []):
            key = latest["key"]
            out[key] = [
                Metric(key, number(m["value"], float), number(m.get("timestamp")), number(m.get("step")))
                for m in self.source.metric_history(run_id, key)
            ]
        return out

    def _run(self, run: msg.Run, experiment_id: int) -> None:
        info, data = run["info"], run.get("data", {})
        run_id = info["run_id"]
        params = dict(pairs(data.get("params")))
        tags = native_tags(pairs(data.get("tags")))
        name = run_name(info, data)
        histories = self._histories(run)
        datasets = [
            (
                Dataset(
                    d["dataset"]["name"],
                    d["dataset"]["digest"],
                    d["dataset"].get("source_type", ""),
                    d["dataset"].get("source", ""),
                    d["dataset"].get("schema"),
                    d["dataset"].get("profile"),
                ),
                dataset_tags(pairs(d.get("tags"))),
            )
            for d in run.get("inputs", {}).get("dataset_inputs", [])
        ]
        self.ledger[run_id] = {
            "params": params,
            "tags": pairs(data.get("tags")),
            "points": {k: len(v) for k, v in histories.items()},
            "datasets": len(datasets),
        }
        start_time = number(info.get("start_time"))
        wanted = {
            "name": name,
            "user_id": info.get("user_id") or tags.get(native.USER, ""),
            "status": info.get("status") or "FINISHED",
            "start_time": start_time,
            "end_time": info.get("end_time"),
        }
        with self.db.transaction(write=True) as s:
            changes: list[str] = []
            try:
                ref = run_store.get_row(s, run_id)
                pk = ref.id
                current = run_store.load(s, [pk], "")[0].info
                now = {
                    "name": current.run_name,
                    "user_id": current.user_id,
                    "status": current.status,
                    "start_time": current.start_time,
                    "end_time": current.end_time,
                }
                different = {k: v for k, v in wanted.items() if now[k] != v}
                if different:
                    run_store.update_info(s, pk, different)
                    changes.append("info")
            except NotFound:
                pk = run_store.insert(
                    s,
                    uuid=run_id,
                    experiment_id=experiment_id,
                    name=name,
                    user_id=str(wanted["user_id"]),
                    status=str(wanted["status"]),
                    start_time=start_time,
                    artifact_key=f"{experiment_id}/{run_id}/artifacts",
                    tags={},
                )
                run_store.update_info(s, pk, {"end_time": wanted["end_time"]})
                changes.append("created")
            changes += self._run_data(s, pk, run_id, experiment_id, params, tags, histories, datasets)
            changes += self._run_links(s, pk, run)
            if changes:
                self._audit(
                    s,
                    "run.import",
                    "run",
                    run_id,
                    {"changed": changes, "metrics": sum(len(h) for h in histories.values()), "params": len(params)},
                )
        self._artifacts("run", run_id, info.get("artifact_uri") or "")
        if info.get("lifecycle_stage") == "deleted":
            with self.db.transaction(write=True) as s:
                if run_store.get_row(s, run_id).lifecycle_stage != LifecycleStage.DELETED.value:
                    run_store.set_lifecycle(
                        s, run_store.get_row(s, run_id).id, LifecycleStage.DELETED, self.ctx.clock()
                    )
                    self._audit(s, "run.import", "run", run_id, {"lifecycle_stage": "deleted"})

    def _run_data(
        self,
        s: Session,
        pk: int,
        run_id: str,
        experiment_id: int,
        params: dict[str, str],
        tags: dict[str, str],
        histories: dict[str, list[Metric]],
        datasets: list[tuple[Dataset, dict[str, str]]],
    ) -> list[str]:
        changes = []
        held_params, held_tags = import_store.run_key_values(s, pk)
        clashes = sorted(k for k, v in params.items() if k in held_params and held_params[k] != v)
        if clashes:
            self.note(f"Run {run_id}: params {', '.join(clashes)} differ in runstone and were kept as they are.")
        new_params = {k: v for k, v in params.items() if k not in held_params}
        if new_params:
            run_store.write_params(s, pk, run_id, new_params)
            changes.append("params")
        new_tags = {k: v for k, v in tags.items() if held_tags.get(k) != v}
        if new_tags:
            run_store.write_tags(s, pk, new_tags)
            changes.append("tags")
        counts = import_store.metric_counts(s, pk)
        for key, points in histories.items():
            if counts.get(key, 0) != len(points):
                metric_store.delete_key_for_run(s, pk, key)
                for start in range(0, len(points), 10_000):
                    metric_store.insert_points(s, pk, points[start : start + 10_000])
                changes.append(f"metric {key}")
        for dataset, dataset_tags_ in datasets:
            if run_store.link_dataset(
                s, pk, experiment_id, dataset, dataset_tags_, dataset_tags_.get("runstone.data.context")
            ):
                changes.append("inputs")
        return changes

    def _run_links(self, s: Session, pk: int, run: msg.Run) -> list[str]:
        links = [(m["model_id"], "input", 0) for m in run.get("inputs", {}).get("model_inputs", [])]
        links += [
            (m["model_id"], "output", number(m.get("step"))) for m in run.get("outputs", {}).get("model_outputs", [])
        ]
        held = model_store.links_for_runs(s, [pk])[pk]
        have = {(m, "input", 0) for m in held.inputs} | {(m, "output", step) for m, step in held.outputs}
        changes = []
        for model_id, direction, step in links:
            if (model_id, direction, step) in have:
                continue
            try:
                ref = model_store.get_ref(s, model_id)
            except NotFound:
                continue  # a logged model the source no longer lists
            model_store.link_run(s, pk, ref.pk, direction, step)
            changes.append(f"{direction} {model_id}")
        return changes

    # ------------------------------------------------------------------ logged models
    def _logged_model(self, model: msg.LoggedModel, experiment_id: int) -> None:
        info, data = model["info"], model.get("data", {})
        model_id = info["model_id"]
        tags, params = dict(pairs(info.get("tags"))), dict(pairs(data.get("params")))
        metrics = [
            LoggedModelMetric(
                m["key"],
                number(m["value"], float),
                number(m.get("timestamp")),
                number(m.get("step")),
                m.get("run_id"),
                m.get("dataset_name"),
                m.get("dataset_digest"),
            )
            for m in data.get("metrics", [])
        ]
        with self.db.transaction(write=True) as s:
            changes = []
            try:
                ref = model_store.get_ref(s, model_id)
                held = model_store.load(s, [ref], "")[0]
                new_tags = {k: v for k, v in tags.items() if held.tags.get(k) != v}
                if new_tags:
                    model_store.set_tags(s, ref.pk, new_tags)
                    changes.append("tags")
                new_params = {k: v for k, v in params.items() if k not in held.params}
                if new_params:
                    model_store.write_params(s, ref.pk, model_id, new_params)
                    changes.append("params")
                status = logged_model_status(info.get("status"))
                if held.status != status:
                    model_store.update_model(s, ref.pk, number(info.get("last_updated_timestamp_ms")), status=status)
                    changes.append("status")
            except NotFound:
                ref = model_store.insert(
                    s,
                    model_id=model_id,
                    experiment_id=experiment_id,
                    name=info.get("name") or model_id,
                    model_type=info.get("model_type") or None,
                    source_run=info.get("source_run_id") or None,
                    status=logged_model_status(info.get("status")),
                    user_id=tags.get("mlflow.user", self.ctx.user),
                    artifact_key=f"{experiment_id}/models/{model_id}/artifacts",
                    now=number(info.get("creation_timestamp_ms")),
                    tags=tags,
                    params=params,
                )
                import_store.set_logged_model_times(
                    s, ref.pk, number(info.get("creation_timestamp_ms")), number(info.get("last_updated_timestamp_ms"))
                )
                changes.append("created")
            if import_store.logged_model_metric_count(s, ref.pk) != len(metrics):
                import_store.delete_logged_model_metrics(s, ref.pk)
                model_store.record_metrics(s, ref.pk, metrics)
                changes.append("metrics")
            if changes:
                self._audit(s, "logged_model.import", "logged_model", model_id, {"changed": changes})
        self._artifacts("model", model_id, info.get("artifact_uri") or "")

    # ------------------------------------------------------------------ artifacts
    def _held_artifacts(self, kind: str, target: str) -> tuple[int, str, dict[str, int]]:
        with self.db.transaction() as s:
            if kind == "run":
                ref = run_store.get_row(s, target)
                files = manifest.files_under(s, ref.id, "")
                return ref.id, ref.artifact_key, {f.path: f.file_size or 0 for f in files}
            model = model_store.get_ref(s, target)
            files = model_store.artifact_files(s, model.pk, "")
            return model.pk, model.artifact_key, {f.path: f.file_size or 0 for f in files}

    def source_artifacts(self, uri: str) -> list[tuple[str, int]] | None:
        if self.reader is None or not uri:
            return None
        try:
            return self.reader.files(uri)
        except RunstoneError as exc:
            self.note(f"Artifacts at {uri}: {exc.message}")
            return None

    def _artifacts(self, kind: str, target: str, uri: str) -> None:
        files = self.source_artifacts(uri)
        self.ledger.setdefault(target, {})["artifacts"] = files
        if files is None:
            self._unreachable += 1
            return
        pk, key, held = self._held_artifacts(kind, target)
        missing = [(path, size) for path, size in files if held.get(path) != size]
        if not missing or self.reader is None:
            return
        reader = self.reader
        copied = 0
        for path, _size in missing:
            try:
                path = clean_path(path)
                chunks: Iterator[bytes] = reader.read(uri, path)
                stored = self.store.write(join_key(key, path), chunks)
            except (RunstoneError, OSError) as exc:
                # One unreadable file does not stop the import: it is named in the report, the
                # count of artifacts falls short, and the command ends with a non-zero status.
                reason = exc.message if isinstance(exc, RunstoneError) else f"{type(exc).__name__}: {exc.strerror}"
                self.note(f"Artifact {path!r} of {kind} {target} was not imported: {reason}")
                continue
            copied += 1
            with self.db.transaction(write=True) as s:
                if kind == "run":
                    manifest.record(s, pk, path, stored.size, stored.sha256, self.ctx.clock())
                else:
                    model_store.record_artifact(s, pk, path, stored.size, stored.sha256, self.ctx.clock())
        if not copied:
            return
        with self.db.transaction(write=True) as s:
            self._audit(
                s,
                "run.import_artifacts" if kind == "run" else "logged_model.import_artifacts",
                "run" if kind == "run" else "logged_model",
                target,
                {"files": copied},
            )
