"""Importing MLflow's model registry: registered models by name, versions with their numbers,
tags, stages and aliases.

A version's source becomes the runstone reference to the same model (``models:/<logged model>``
or ``runs:/<run>/<path>``); a version whose source names neither is not imported. Stages and
aliases are recorded in the registry's history as set by the import. Governance stays on: a
stage or alias that an existing model's policy protects is left alone (and reported).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from runstone.errors import NotFound
from runstone.migration.translate import number, pairs, version_source
from runstone.registry.service import canonical_stage, parse_policy
from runstone.store import imports as import_store
from runstone.store import logged_models as model_store
from runstone.store import mlflow_messages as msg
from runstone.store import registry as store
from runstone.store import runs as run_store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from runstone.migration.importer import MlflowImporter

PROMPT_TAG = "mlflow.prompt.is_prompt"
REASON = "imported from MLflow"


@dataclass
class ModelPlan:
    model: msg.RegisteredModel
    versions: list[msg.ModelVersion]


class RegistryImport:
    def __init__(self, importer: MlflowImporter) -> None:
        self.importer = importer
        self.db = importer.db
        self.user = importer.ctx.user

    def plan(self) -> list[ModelPlan]:
        plans = []
        for model in self.importer.source.registered_models():
            if dict(pairs(model.get("tags"))).get(PROMPT_TAG, "").lower() == "true":
                self.importer.note(
                    f"{model['name']!r} is an MLflow prompt, which runstone does not keep; not imported."
                )
                continue
            plans.append(ModelPlan(model, self.importer.source.model_versions(model["name"])))
        return plans

    @staticmethod
    def size(plans: list[ModelPlan]) -> int:
        return sum(1 + len(p.versions) for p in plans)

    def apply(self, plans: list[ModelPlan]) -> None:
        for plan in plans:
            self._model(plan)
            self.importer.progress.advance("registered model")

    def _model(self, plan: ModelPlan) -> None:
        model, name = plan.model, plan.model["name"]
        tags = dict(pairs(model.get("tags")))
        with self.db.transaction(write=True) as s:
            changes = []
            try:
                ref = store.model_row(s, name)
            except NotFound:
                created = number(model.get("creation_timestamp"))
                store.insert_model(
                    s, name, model.get("description") or "", tags, model.get("user_id") or self.user, created
                )
                ref = store.model_row(s, name)
                import_store.set_registered_model_times(s, ref.id, created, number(model.get("last_updated_timestamp")))
                changes.append("created")
            else:
                held = store.load_models(s, [ref])[0]
                new_tags = {k: v for k, v in tags.items() if held.tags.get(k) != v}
                if new_tags:
                    store.set_model_tags(s, ref.id, new_tags)
                    changes.append("tags")
            for version in plan.versions:
                changes += self._version(s, ref, version)
                self.importer.progress.advance("model version")
            changes += self._aliases(s, ref, model.get("aliases") or [])
            if changes:
                self.importer._audit(s, "registry.import", "registered_model", name, {"changed": changes})

    def _protected(self, ref: store.ModelRef, kind: str, target: str) -> bool:
        if parse_policy(ref.policy).protects(kind, target):
            self.importer.note(
                f"{kind.capitalize()} {target!r} of {ref.name!r} is protected by its policy; the import left it alone."
            )
            return True
        return False

    def _version(self, s: Session, ref: store.ModelRef, version: msg.ModelVersion) -> list[str]:
        number_ = int(version["version"])
        source = version_source(version.get("source") or "", version.get("model_id"))
        if source is None or not self._exists(s, source):
            self.importer.note(
                f"Version {number_} of {ref.name!r} (source {version.get('source')!r}) names no run or logged model "
                "that was imported; not imported."
            )
            return []
        stage = canonical_stage(version.get("current_stage") or "None")
        tags = dict(pairs(version.get("tags")))
        changes = []
        try:
            row = store.version_row(s, ref, number_)
        except NotFound:
            run_id = version.get("run_id") or None
            if run_id is not None and not self._exists(s, f"runs:/{run_id}/x"):
                run_id = None
            created = number(version.get("creation_timestamp"))
            row = store.insert_version(
                s,
                model_id=ref.id,
                version=number_,
                source=source,
                run_uuid=run_id,
                description=version.get("description") or "",
                tags=tags,
                user=version.get("user_id") or self.user,
                now=created,
            )
            import_store.set_version_fields(s, row.id, last_update_time=number(version.get("last_updated_timestamp")))
            changes.append(f"version {number_}")
        else:
            held = store.load_versions(s, [row])[0].tags
            new_tags = {k: v for k, v in tags.items() if held.get(k) != v}
            if new_tags:
                store.set_version_tags(s, row.id, new_tags)
                changes.append(f"version {number_} tags")
        if row.stage != stage and not self._protected(ref, "stage", stage):
            holders = [v.version for v in store.versions_in_stage(s, ref.id, stage) if v.id != row.id]
            import_store.set_version_fields(s, row.id, stage=stage)
            store.record_assignment(
                s, model_id=ref.id, kind="stage", target=stage, version=number_,
                previous_version=holders[0] if holders else None, actor=self.user, reason=REASON,
                request_id=None, now=number(version.get("last_updated_timestamp")),
            )  # fmt: skip
            changes.append(f"version {number_} stage")
        return changes

    def _aliases(self, s: Session, ref: store.ModelRef, aliases: list[msg.Alias]) -> list[str]:
        changes = []
        for entry in aliases:
            alias, number_ = entry["alias"], int(entry["version"])
            previous = store.alias_version(s, ref.id, alias)
            if previous == number_ or self._protected(ref, "alias", alias):
                continue
            try:
                store.version_row(s, ref, number_)
            except NotFound:
                continue  # its version was not imported
            store.set_alias(s, ref.id, alias, number_)
            store.record_assignment(
                s, model_id=ref.id, kind="alias", target=alias, version=number_, previous_version=previous,
                actor=self.user, reason=REASON, request_id=None, now=self.importer.ctx.clock(),
            )  # fmt: skip
            changes.append(f"alias {alias}")
        return changes

    @staticmethod
    def _exists(s: Session, source: str) -> bool:
        try:
            if source.startswith("models:/"):
                model_store.get_ref(s, source.removeprefix("models:/"))
            else:
                run_store.get_row(s, source.removeprefix("runs:/").split("/", 1)[0])
        except NotFound:
            return False
        return True
