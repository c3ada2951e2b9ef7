"""Deployments: where each model version is served, as audited records.

Recording a deployment says "from now on, ``name`` (a service, an endpoint, a batch job) serves
version V of model M, reachable at ``target``". A name serves one version at a time: recording
it again ends its previous record, so the records of a name are its history ("which version
answered on fraud-api on March 3rd?"). Ending a record says the version is no longer served
there. Each change is an audit event on the registered model, so the lineage runs from the
training data to the run, the version, and where it was deployed.
"""

from __future__ import annotations

import re

from runstone.entities import Deployment
from runstone.errors import InvalidInput
from runstone.governance import permissions
from runstone.governance.context import Context
from runstone.store import deployments as store
from runstone.store import registry as registry_store
from runstone.tracking import validation as check

_NAME = re.compile(r"^[\w.\-/:@ ]{1,256}$")


class DeploymentService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def user(self) -> str:
        return self.ctx.user

    def record_deployment(
        self, name: str, model_name: str, version: str | int, *, target: str = "", description: str = ""
    ) -> Deployment:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput(
                f"Deployment name {name!r} must be 1-256 letters, digits, spaces or . - _ / : @ characters."
            )
        check.text(target, "Deployment target", 2000)
        check.text(description, "Deployment description", 10_000)
        now = self.ctx.clock()
        with self.ctx.transaction(write=True) as s:
            model = registry_store.model_row(s, model_name)
            row = registry_store.version_row(s, model, version)
            replaced = store.active_ids(s, name)
            for previous in replaced:
                store.end(s, previous, self.user, now)
            deployment_id = store.insert(
                s, name=name, target=target, model_id=model.id, version=row.version,
                description=description, user=self.user, now=now, manifest_digest=row.manifest_digest,
            )  # fmt: skip
            self.ctx.audit.write(
                s,
                "deployment.record",
                "registered_model",
                model.name,
                {"ended": replaced} if replaced else None,
                {
                    "deployment": deployment_id,
                    "name": name,
                    "target": target,
                    "version": row.version,
                    "manifest_digest": row.manifest_digest,
                },
            )
            return store.get(s, deployment_id)

    def end_deployment(self, deployment_id: int) -> Deployment:
        now = self.ctx.clock()
        with self.ctx.transaction(write=True) as s:
            current = store.get(s, int(deployment_id))
            if current.end_time is not None:
                return current
            store.end(s, current.id, self.user, now)
            self.ctx.audit.write(
                s,
                "deployment.end",
                "registered_model",
                current.model_name,
                {"deployment": current.id, "name": current.name, "version": int(current.version)},
                None,
            )
            return store.get(s, current.id)

    def get_deployment(self, deployment_id: int) -> Deployment:
        with self.ctx.transaction() as s:
            return store.get(s, int(deployment_id))

    def list_deployments(
        self,
        model_name: str | None = None,
        version: str | int | None = None,
        name: str | None = None,
        active_only: bool = False,
    ) -> list[Deployment]:
        with self.ctx.transaction() as s:
            model_id = registry_store.model_row(s, model_name).id if model_name is not None else None
            number = registry_store.parse_version(version) if version is not None else None
            found = store.search(s, model_id=model_id, version=number, name=name, active_only=active_only)
            readable = permissions.visible(s, self.ctx.principal, "model")  # with auth on: what the caller may read
            return found if readable is None else [d for d in found if d.model_name in readable]
