"""The closing count of an import: each kind of object in the source, and how much of it runstone
holds (the same values: a param with another value, or a metric with fewer points, is not held)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runstone.errors import NotFound
from runstone.migration.translate import native_tags, version_source
from runstone.store import artifact_manifest as manifest
from runstone.store import experiments as experiment_store
from runstone.store import imports as import_store
from runstone.store import logged_models as model_store
from runstone.store import registry as registry_store
from runstone.store import runs as run_store
from runstone.tracking import tags as native

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from runstone.migration.importer import MlflowImporter, _Plan
    from runstone.migration.registry import ModelPlan


def count(importer: MlflowImporter, plans: list[_Plan], models: list[ModelPlan]) -> None:
    counts = importer.report.counts
    with importer.db.transaction() as s:
        for plan in plans:
            counts["experiments"].source += 1
            counts["experiments"].runstone += experiment_store.id_by_name(s, plan.experiment["name"]) is not None
            for run in plan.runs:
                _run(importer, s, run["info"]["run_id"])
            for model in plan.models:
                model_id = model["info"]["model_id"]
                counts["logged models"].source += 1
                try:
                    ref = model_store.get_ref(s, model_id)
                except NotFound:
                    _artifacts(importer, model_id, {})
                    continue
                counts["logged models"].runstone += 1
                held = {f.path: f.file_size or 0 for f in model_store.artifact_files(s, ref.pk, "")}
                _artifacts(importer, model_id, held)
        for model_plan in models:
            _registry(importer, s, model_plan)


def _artifacts(importer: MlflowImporter, target: str, held: dict[str, int]) -> None:
    files = importer.ledger.get(target, {}).get("artifacts")
    if files is None:
        return  # unreachable: reported in the notes
    importer.report.counts["artifacts"].source += len(files)
    importer.report.counts["artifacts"].runstone += sum(1 for path, size in files if held.get(path) == size)


def _run(importer: MlflowImporter, s: Session, run_id: str) -> None:
    counts, source = importer.report.counts, importer.ledger[run_id]
    counts["runs"].source += 1
    counts["params"].source += len(source["params"])
    counts["tags"].source += len(source["tags"])
    counts["metric points"].source += sum(source["points"].values())
    counts["dataset inputs"].source += source["datasets"]
    try:
        ref = run_store.get_row(s, run_id)
    except NotFound:
        _artifacts(importer, run_id, {})
        return
    counts["runs"].runstone += 1
    params, tags = import_store.run_key_values(s, ref.id)
    counts["params"].runstone += sum(1 for k, v in source["params"].items() if params.get(k) == v)
    expected = native_tags(source["tags"])
    counts["tags"].runstone += sum(1 for k, v in expected.items() if tags.get(k) == v)
    counts["tags"].runstone += sum(1 for k, v in source["tags"] if k == native.MLFLOW_RUN_NAME and v == ref.name)
    points = import_store.metric_counts(s, ref.id)
    counts["metric points"].runstone += sum(n for k, n in source["points"].items() if points.get(k) == n)
    counts["dataset inputs"].runstone += min(source["datasets"], import_store.dataset_input_count(s, ref.id))
    _artifacts(importer, run_id, {f.path: f.file_size or 0 for f in manifest.files_under(s, ref.id, "")})


def _registry(importer: MlflowImporter, s: Session, plan: ModelPlan) -> None:
    counts = importer.report.counts
    name = plan.model["name"]
    counts["registered models"].source += 1
    counts["model versions"].source += len(plan.versions)
    counts["aliases"].source += len(plan.model.get("aliases") or [])
    stages = {v["version"]: v.get("current_stage") or "None" for v in plan.versions}
    counts["stages"].source += sum(1 for st in stages.values() if st != "None")
    try:
        ref = registry_store.model_row(s, name)
    except NotFound:
        return
    counts["registered models"].runstone += 1
    held: dict[str, object] = {}
    for version in plan.versions:
        try:
            row = registry_store.version_row(s, ref, version["version"])
        except NotFound:
            continue
        if row.source == version_source(version.get("source") or "", version.get("model_id")):
            counts["model versions"].runstone += 1
            held[version["version"]] = row
            if stages[version["version"]] != "None" and row.stage == stages[version["version"]]:
                counts["stages"].runstone += 1
    for entry in plan.model.get("aliases") or []:
        number = registry_store.alias_version(s, ref.id, entry["alias"])
        counts["aliases"].runstone += number is not None and str(number) == str(entry["version"])
