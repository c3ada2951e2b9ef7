"""The model registry: registered models, versions, tags, aliases, stages and their history.

Stage and alias changes all go through :meth:`RegistryService._assign`, the one audited path:
a direct change, an approved request and a rollback differ only in who asked and why. When a
model's policy protects the target, a direct change is refused and a request must be opened
(see approvals.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from runstone.entities import (
    STAGES,
    Assignment,
    LoggedModelStatus,
    ModelVersion,
    PackageManifest,
    PagedList,
    Policy,
    RegisteredModel,
    Run,
)
from runstone.errors import InvalidInput, InvalidState, NotFound, PermissionDenied
from runstone.governance import permissions
from runstone.governance.context import Context
from runstone.governance.permissions import Permission
from runstone.registry import copies
from runstone.store import permissions as permission_store
from runstone.store import registry as store
from runstone.store import webhooks as webhook_store
from runstone.store.registry import ModelRef, VersionRef
from runstone.tracking import search as grammar
from runstone.tracking import validation as check
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.service import TrackingService

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_ALIAS_RE = re.compile(r"^[\w\-]{1,255}$")
_RUNS_URI = re.compile(r"^runs:/(?P<run_id>[^/]+)/(?P<path>.+)$")
_LOGGED_MODEL_URI = re.compile(r"^models:/(?P<model_id>m-[0-9a-f]{32})/?$")
MAX_NAME_LENGTH = 256
_MAX_TIME = 2**63 - 1


def canonical_stage(stage: str) -> str:
    for known in STAGES:
        if str(stage).strip().lower() == known.lower():
            return known
    raise InvalidInput(f"Unknown stage {stage!r}; use one of {', '.join(STAGES)}.")


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise InvalidInput(f"Alias {alias!r} may contain only letters, digits, '_' and '-' (at most 255).")
    if alias.lower() == "latest" or re.fullmatch(r"v\d+", alias.lower()):
        raise InvalidInput(f"Alias {alias!r} is reserved: 'latest' and 'v<number>' name versions already.")
    return alias


def check_name(name: str) -> str:
    check.text(name, "Registered model name", MAX_NAME_LENGTH)
    if not name.strip():
        raise InvalidInput("Registered model name must not be empty.")
    if "/" in name or "@" in name or ":" in name:
        raise InvalidInput(
            f"Registered model name {name!r} must not contain '/', '@' or ':' (they separate model URIs)."
        )
    return name


def guarded_change(policy: Policy, model: str, kind: str, target: str, row: VersionRef | None) -> str | None:
    """Why a change needs an approved request under ``policy`` (None: it does not).

    A protected stage changes when a version enters it and also when its holder leaves it, so
    moving a version out of a protected stage is guarded like moving one in.
    """
    if policy.protects(kind, target):
        return f"{'Stage' if kind == 'stage' else 'Alias'} {target!r} of {model!r} is protected"
    if kind == "stage" and row is not None and row.stage != target and policy.protects("stage", row.stage):
        return f"Version {row.version} of {model!r} is in the protected stage {row.stage!r}"
    return None


def protected_holdings(s: Session, policy: Policy, model: ModelRef, row: VersionRef | None = None) -> list[str]:
    """The protected stages and aliases held by ``row`` (by any version of the model when None)."""
    held = []
    for stage in policy.protected_stages:
        holders = store.versions_in_stage(s, model.id, stage)
        if any(row is None or v.id == row.id for v in holders):
            held.append(f"stage {stage!r}")
    for alias in policy.protected_aliases:
        version = store.alias_version(s, model.id, alias)
        if version is not None and (row is None or version == row.version):
            held.append(f"alias {alias!r}")
    return held


def parse_policy(raw: str | None) -> Policy:
    from runstone.entities import Gate

    if not raw:
        return Policy()
    data = json.loads(raw)
    return Policy(
        protected_stages=list(data.get("protected_stages", [])),
        protected_aliases=list(data.get("protected_aliases", [])),
        required_approvals=int(data.get("required_approvals", 1)),
        gates=[Gate(g["metric"], g["op"], g.get("compare_to", "current")) for g in data.get("gates", [])],
        rollback_requires_approval=bool(data.get("rollback_requires_approval", False)),
        approver_group=data.get("approver_group") or None,
    )


class RegistryService:
    def __init__(self, ctx: Context, tracking: TrackingService, artifacts: ArtifactService) -> None:
        self.ctx = ctx
        self.tracking = tracking
        self.artifacts = artifacts

    @property
    def user(self) -> str:
        return self.ctx.user

    def clock(self) -> int:
        return self.ctx.clock()

    def _audit(
        self,
        s: Session,
        action: str,
        target: str,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
    ) -> None:
        self.ctx.audit.write(s, action, "registered_model", target, before, after)

    def _manages(self, s: Session, name: str) -> bool:
        """With auth on: the caller holds MANAGE on the model (with auth off nobody is proven to)."""
        principal = self.ctx.principal
        return principal.authenticated and permissions.standing(s, principal, "model", name).level >= Permission.MANAGE

    def _event(self, s: Session, event: str, model: str, data: Mapping[str, object]) -> None:
        """Queue webhook deliveries for a registry event, in the change's transaction."""
        payload = {"event": event, "model": model, "actor": self.user, "time": self.clock(), "data": dict(data)}
        webhook_store.enqueue(s, event, model, payload, self.clock())

    # ---------------------------------------------------------- registered models
    def create_registered_model(
        self, name: str, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        check_name(name)
        tag_map = dict(tags or {})
        check.batch([], {}, tag_map)
        with self.ctx.transaction(write=True) as s:
            store.insert_model(s, name, description or "", tag_map, self.user, self.clock())
            permissions.on_create(s, self.ctx, "model", name, name)
            self._audit(s, "registry.create_model", name, None, {"description": description, "tags": tag_map})
            self._event(s, "registered_model.created", name, {})
            return store.load_models(s, [store.model_row(s, name)])[0]

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self.ctx.transaction() as s:
            return store.load_models(s, [store.model_row(s, name)])[0]

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        check_name(new_name)
        with self.ctx.transaction(write=True) as s:
            row = store.model_row(s, name)
            try:
                store.model_row(s, new_name)
            except NotFound:
                pass
            else:
                from runstone.errors import AlreadyExists

                raise AlreadyExists(f"Registered model {new_name!r} already exists.")
            store.update_model(s, row.id, self.clock(), name=new_name)
            permission_store.rename_resource(s, "model", name, new_name)
            self._audit(s, "registry.rename_model", new_name, {"name": name}, {"name": new_name})
            return store.load_models(s, [row])[0]

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        with self.ctx.transaction(write=True) as s:
            row = store.model_row(s, name)
            before = store.load_models(s, [row])[0].description
            store.update_model(s, row.id, self.clock(), description=check.text(description, "Description", 100_000))
            self._audit(s, "registry.update_model", name, {"description": before}, {"description": description})
            return store.load_models(s, [row])[0]

    def delete_registered_model(self, name: str) -> None:
        with self.ctx.transaction(write=True) as s:
            row = store.model_row(s, name, lock=True)
            held = protected_holdings(s, parse_policy(row.policy), row)
            if held:
                raise PermissionDenied(
                    f"Registered model {name!r} still holds its protected {' and '.join(held)}: move them through "
                    f"approved requests, or lift the policy first (runstone registry policy {name} --clear)."
                )
            versions = [v.version for v in store.model_versions(s, row.id)]
            store.delete_model(s, row.id)
            permission_store.drop_resource(s, "model", name)
            self._audit(s, "registry.delete_model", name, {"versions": versions}, None)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        check.key(key, "Tag")
        check.text(value, f"Tag {key!r} value", 5000)
        with self.ctx.transaction(write=True) as s:
            row = store.model_row(s, name)
            store.set_model_tags(s, row.id, {key: value})
            store.touch_model(s, row.id, self.clock())
            self._audit(s, "registry.set_model_tag", name, None, {"key": key, "value": value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with self.ctx.transaction(write=True) as s:
            row = store.model_row(s, name)
            store.delete_model_tag(s, row.id, name, key)
            self._audit(s, "registry.delete_model_tag", name, {"key": key}, None)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        comparisons = grammar.parse_filter(filter_string, grammar.REGISTERED_MODELS)
        limit = check.max_results(max_results, default=100, limit=1000)
        with self.ctx.transaction() as s:
            only = permissions.visible(s, self.ctx.principal, "model")
            rows, token = store.search_models(s, comparisons, _ordering(order_by), limit, page_token, only)
            return PagedList(store.load_models(s, rows), token)

    # ------------------------------------------------------------------- versions
    def _check_source(self, source: str, run_id: str | None) -> tuple[str, str | None]:
        """A version's source must be a model logged in a run (``runs:/<run_id>/<path>``) or a
        logged model (``models:/<model_id>``): never a local path or a foreign URL. A runs:/ URI
        of a run with no model at that path names the logged model an MLflow 3 client logged in
        the run under that name, as MLflow resolves it; the version's source is then that model.

        Returns the source to record and the run the model comes from, when it comes from one.
        """
        logged = _LOGGED_MODEL_URI.match(source or "")
        if logged is not None:
            return source, self._check_logged_model(logged.group("model_id"), run_id)
        match = _RUNS_URI.match(source or "")
        if match is None:
            raise InvalidInput(
                f"Model version source {source!r} must be a runs:/<run_id>/<path> URI of a model logged in a run "
                "or a models:/<model_id> URI of a logged model."
            )
        source_run = match.group("run_id")
        if run_id and run_id != source_run:
            raise InvalidInput(f"run_id {run_id!r} does not match the run of source {source!r}.")
        path = match.group("path").strip("/")
        run = self.tracking.get_run(source_run)
        if run.info.lifecycle_stage != "active":
            raise InvalidState(f"Run {source_run} is deleted; restore it before registering its models.")
        try:
            self.artifacts.open(source_run, f"{path}/MLmodel")
        except NotFound:
            model_id = self._run_logged_model(run, path)
            if model_id is None:
                raise InvalidInput(
                    f"Run {source_run} has no model at {path!r} (no MLmodel file there, and no logged model "
                    "of the run by that name)."
                ) from None
            return f"models:/{model_id}", self._check_logged_model(model_id, run_id)
        return source, source_run

    def _run_logged_model(self, run: Run, name: str) -> str | None:
        """The newest ready logged model of ``run`` named ``name``, else None."""
        from runstone.tracking.logged_models import LoggedModelService

        models = LoggedModelService(self.ctx, self.artifacts.store, self.artifacts.limits)
        found = [
            m
            for m in models.search([run.info.experiment_id], f"source_run_id = '{run.info.run_id}'", max_results=1000)
            if m.name == name and m.status == LoggedModelStatus.READY
        ]
        return max(found, key=lambda m: m.creation_timestamp).model_id if found else None

    def _check_logged_model(self, model_id: str, run_id: str | None) -> str | None:
        from runstone.tracking.logged_models import LoggedModelService

        models = LoggedModelService(self.ctx, self.artifacts.store, self.artifacts.limits)
        model = models.get(model_id)
        if run_id and model.source_run_id and run_id != model.source_run_id:
            raise InvalidInput(f"run_id {run_id!r} does not match the source run of logged model {model_id}.")
        try:
            models.open(model_id, "MLmodel")
        except NotFound:
            raise InvalidInput(f"Logged model {model_id} has no MLmodel file; it holds no model to register.") from None
        if run_id and not model.source_run_id:
            self.tracking.get_run(run_id)
        return model.source_run_id or run_id or None

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str = "",
    ) -> ModelVersion:
        tag_map = dict(tags or {})
        if copies.is_copy(source):
            # A copy of another version: the same package, by reference (see copies.py).
            original, copied = copies.resolve(self, source)
            source, run_id, tag_map = original.source, run_id or original.run_id, {**tag_map, **copied}
        source, source_run = self._check_source(source, run_id)
        check.batch([], {}, tag_map)
        with self.ctx.transaction(write=True) as s:
            model = store.model_row(s, name, lock=True)
            number = store.next_version(s, model.id)
            row = store.insert_version(
                s,
                model_id=model.id,
                version=number,
                source=source,
                run_uuid=source_run,
                description=description or "",
                tags=tag_map,
                user=self.user,
                now=self.clock(),
            )
            store.touch_model(s, model.id, self.clock())
            self._audit(
                s, "registry.create_version", name, None, {"version": number, "source": source, "run_id": source_run}
            )
            self._event(
                s, "model_version.created", name, {"version": str(number), "source": source, "run_id": source_run}
            )
            return store.load_versions(s, [row])[0]

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        with self.ctx.transaction() as s:
            model = store.model_row(s, name)
            return store.load_versions(s, [store.version_row(s, model, version)])[0]

    def get_model_version_manifest(self, name: str, version: str | int) -> PackageManifest:
        """The files of the version's package as recorded at registration: every loader checks a
        package against this before it runs any of it."""
        with self.ctx.transaction() as s:
            model = store.model_row(s, name)
            return store.version_manifest(s, store.version_row(s, model, version))

    def update_model_version(self, name: str, version: str | int, description: str) -> ModelVersion:
        with self.ctx.transaction(write=True) as s:
            model = store.model_row(s, name)
            row = store.version_row(s, model, version)
            store.update_version(s, row.id, self.clock(), description=check.text(description, "Description", 100_000))
            self._audit(
                s,
                "registry.update_version",
                name,
                {"version": row.version, "description": row.description},
                {"version": row.version, "description": description},
            )
            return store.load_versions(s, [row])[0]

    def delete_model_version(self, name: str, version: str | int) -> None:
        with self.ctx.transaction(write=True) as s:
            model = store.model_row(s, name, lock=True)
            row = store.version_row(s, model, version)
            held = protected_holdings(s, parse_policy(model.policy), model, row)
            if held:
                raise PermissionDenied(
                    f"Version {row.version} of {name!r} holds the protected {' and '.join(held)}: move "
                    f"{'them' if len(held) > 1 else 'it'} to another version through an approved request first."
                )
            reason = f"version {row.version} deleted"
            for alias in store.aliases_of_version(s, model.id, row.version):
                store.delete_alias(s, model.id, alias)
                store.record_assignment(
                    s, model_id=model.id, kind="alias", target=alias, version=None, previous_version=row.version,
                    actor=self.user, reason=reason, request_id=None, now=self.clock(),
                )  # fmt: skip
            if row.stage != "None":
                # History must not show a deleted version holding its stage for ever after.
                store.record_assignment(
                    s, model_id=model.id, kind="stage", target="None", version=row.version, previous_version=None,
                    actor=self.user, reason=reason, request_id=None, now=self.clock(),
                )  # fmt: skip
            store.delete_version(s, row.id)
            self._audit(s, "registry.delete_version", name, {"version": row.version, "source": row.source}, None)

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        check.key(key, "Tag")
        check.text(value, f"Tag {key!r} value", 5000)
        with self.ctx.transaction(write=True) as s:
            model = store.model_row(s, name)
            row = store.version_row(s, model, version)
            store.set_version_tags(s, row.id, {key: value})
            self._audit(s, "registry.set_version_tag", name, None, {"version": row.version, "key": key, "value": value})

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        with self.ctx.transaction(write=True) as s:
            model = store.model_row(s, name)
            row = store.version_row(s, model, version)
            store.delete_version_tag(s, row, key)
            self._audit(s, "registry.delete_version_tag", name, {"version": row.version, "key": key}, None)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        comparisons = grammar.parse_filter(filter_string, grammar.MODEL_VERSIONS)
        limit = check.max_results(max_results, default=1000, limit=200_000)
        with self.ctx.transaction() as s:
            only = permissions.visible(s, self.ctx.principal, "model")
            refs, token = store.search_versions(s, comparisons, _ordering(order_by), limit, page_token, only)
            return PagedList(store.load_versions(s, refs), token)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The latest version in each of the given stages (all stages when none are given)."""
        wanted = [canonical_stage(st) for st in stages] if stages else list(STAGES)
        with self.ctx.transaction() as s:
            model = store.model_row(s, name)
            rows = []
            for stage in wanted:
                found = store.versions_in_stage(s, model.id, stage)
                if found:
                    rows.append(found[0])
            return store.load_versions(s, rows)

    # ------------------------------------------------------------ aliases, stages
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self.ctx.transaction() as s:
            model = store.model_row(s, name)
            number = store.alias_version(s, model.id, alias)
            if number is None:
                raise NotFound(f"Registered model {name!r} has no alias {alias!r}.")
            return store.load_versions(s, [store.version_row(s, model, number)])[0]

    def policy(self, name: str) -> Policy:
        with self.ctx.transaction() as s:
            return parse_policy(store.model_row(s, name).policy)

    def set_registered_model_alias(
        self, name: str, alias: str, version: str | int, *, reason: str = ""
    ) -> ModelVersion:
        check_alias(alias)
        return self._change("alias", name, alias, version, reason=reason)

    def delete_registered_model_alias(self, name: str, alias: str, *, reason: str = "") -> None:
        check_alias(alias)
        self._change("alias", name, alias, None, reason=reason)

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False, *, reason: str = ""
    ) -> ModelVersion:
        return self._change(
            "stage", name, canonical_stage(stage), version, archive_existing=archive_existing_versions, reason=reason
        )

    def _change(
        self,
        kind: str,
        name: str,
        target: str,
        version: str | int | None,
        *,
        archive_existing: bool = False,
        reason: str = "",
    ) -> ModelVersion:
        """A direct change by the caller; refused when the model's policy guards it (see guarded_change)."""
        with self.ctx.transaction(write=True) as s:
            model = store.model_row(s, name, lock=True)
            row = store.version_row(s, model, version) if version is not None else None
            why = guarded_change(parse_policy(model.policy), name, kind, target, row)
            if why is not None and row is not None and self._manages(s, name):
                why = None  # a MANAGE holder (or an admin) moves protected targets directly; audited as usual
            if why is not None:
                if row is None:
                    raise PermissionDenied(
                        f"{why}: it moves to another version only through an approved request, and is never "
                        "removed while the policy protects it (change the policy first: "
                        f"runstone registry policy {name})."
                    )
                raise PermissionDenied(
                    f"{why}: open a request (runstone registry request {name} {row.version} --{kind} {target}) "
                    "and have it approved, or ask a holder of MANAGE on the model to move it."
                )
            self._assign(s, model, kind, target, row, reason=reason, archive_existing=archive_existing)
            if row is None:
                return ModelVersion(name, "", 0, 0, "", "", "", None, "", "")
            return store.load_versions(s, [row])[0]

    def _assign(
        self,
        s: Session,
        model: ModelRef,
        kind: str,
        target: str,
        row: VersionRef | None,
        *,
        reason: str,
        archive_existing: bool = False,
        request_id: int | None = None,
        rollback: bool = False,
    ) -> None:
        """The one path that moves a stage or alias: history, audit event and webhook together."""
        now = self.clock()
        if kind == "alias":
            previous = store.alias_version(s, model.id, target)
            if row is None:
                if previous is None:
                    raise NotFound(f"Registered model {model.name!r} has no alias {target!r}.")
                store.delete_alias(s, model.id, target)
            else:
                store.set_alias(s, model.id, target, row.version)
            new = None if row is None else row.version
            store.record_assignment(
                s, model_id=model.id, kind="alias", target=target, version=new, previous_version=previous,
                actor=self.user, reason=reason, request_id=request_id, now=now, rollback=rollback,
            )  # fmt: skip
            self._audit(s, "registry.set_alias" if row else "registry.delete_alias", model.name,
                        {"alias": target, "version": previous}, {"alias": target, "version": new})  # fmt: skip
            self._event(s, "model_version.alias_changed", model.name,
                        {"alias": target, "version": None if new is None else str(new),
                         "previous_version": None if previous is None else str(previous), "reason": reason})  # fmt: skip
        else:
            assert row is not None
            moved = [(row, target)]
            if archive_existing and target in ("Staging", "Production"):
                moved += [
                    (other, "Archived") for other in store.versions_in_stage(s, model.id, target) if other.id != row.id
                ]
            for version_row, stage in moved:
                before = version_row.stage
                store.update_version(s, version_row.id, now, stage=stage)
                holders = [v.version for v in store.versions_in_stage(s, model.id, stage) if v.id != version_row.id]
                store.record_assignment(
                    s, model_id=model.id, kind="stage", target=stage, version=version_row.version,
                    previous_version=holders[0] if holders else None, actor=self.user, reason=reason,
                    request_id=request_id, now=now, rollback=rollback and stage == target,
                )  # fmt: skip
                self._audit(s, "registry.transition_stage", model.name,
                            {"version": version_row.version, "stage": before}, {"version": version_row.version, "stage": stage})  # fmt: skip
                self._event(s, "model_version.stage_changed", model.name,
                            {"version": str(version_row.version), "from_stage": before, "to_stage": stage, "reason": reason})  # fmt: skip
            s.flush()
        store.touch_model(s, model.id, now)

    # -------------------------------------------------------------------- history
    def get_model_history(self, name: str, *, kind: str | None = None, target: str | None = None) -> list[Assignment]:
        with self.ctx.transaction() as s:
            model = store.model_row(s, name)
            return store.assignments(s, model.id, kind=kind, target=target)

    def holders_at(self, name: str, *, time: int, stage: str | None = None, alias: str | None = None) -> list[str]:
        """Which versions held a stage (or an alias) at a moment: "who was in Production at 14:00"."""
        if (stage is None) == (alias is None):
            raise InvalidInput("Ask about exactly one of a stage or an alias.")
        time = max(min(time, _MAX_TIME), -_MAX_TIME)  # beyond any stored time, and what a BIGINT holds
        with self.ctx.transaction() as s:
            model = store.model_row(s, name)
            if alias is not None:
                events = store.assignments(s, model.id, kind="alias", target=alias, until=time)
                return [events[-1].version] if events and events[-1].version else []
            stage_name = canonical_stage(stage or "")
            latest: dict[str, str] = {}
            for event in store.assignments(s, model.id, kind="stage", until=time):
                if event.version is not None:
                    latest[event.version] = event.target
            return sorted((v for v, st in latest.items() if st == stage_name), key=int, reverse=True)

    def previous_holder(self, s: Session, model: ModelRef, kind: str, target: str) -> tuple[int | None, int]:
        """(the version that held ``target`` before the current holder, the current holder).

        History is read as a stack: an assignment pushes a version, a rollback pops the version
        it rolled back from. So rolling back twice goes two steps back, never to and fro.
        """
        if kind == "alias":
            current = store.alias_version(s, model.id, target)
            if current is None:
                raise InvalidState(f"Alias {target!r} of {model.name!r} points nowhere; nothing to roll back.")
        else:
            holders = store.versions_in_stage(s, model.id, target)
            if not holders:
                raise InvalidState(f"No version of {model.name!r} is in {target}; nothing to roll back.")
            current = holders[0].version
        stack: list[int] = []
        for event in store.assignments(s, model.id, kind=kind, target=target):
            if event.rollback:
                if stack:
                    stack.pop()
            elif event.version is not None and (not stack or stack[-1] != int(event.version)):
                stack.append(int(event.version))
        while stack and stack[-1] != current:
            stack.pop()
        existing = {v.version for v in store.model_versions(s, model.id)}
        stack = [v for v in stack if v in existing]  # a deleted version cannot come back
        return (stack[-2] if len(stack) >= 2 else None), current


def _ordering(order_by: Sequence[str] | None) -> list[tuple[str, bool]]:
    ordering = []
    for clause in order_by or []:
        parts = clause.strip().split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].upper() not in ("ASC", "DESC")):
            raise InvalidInput(f"Invalid order_by clause {clause!r}; expected '<field> [ASC|DESC]'.")
        ordering.append((parts[0].removeprefix("attributes."), len(parts) == 1 or parts[1].upper() == "ASC"))
    return ordering
