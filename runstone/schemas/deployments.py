"""Wire models of deployment records."""

from __future__ import annotations

from runstone.entities import Deployment
from runstone.schemas.common import Model, Public, build


class DeploymentCreate(Model):
    name: str
    model_name: str
    version: str | int
    target: str = ""
    description: str = ""


def deployment_public(d: Deployment) -> dict[str, object]:
    return {**d.__dict__, "active": d.active}


class DeploymentPublic(Public):
    id: int
    name: str
    target: str
    model_name: str
    version: str
    description: str
    created_by: str
    start_time: int
    end_time: int | None = None
    ended_by: str | None = None
    manifest_digest: str | None = None
    active: bool

    def to_entity(self) -> Deployment:
        return build(Deployment, self)


class DeploymentAnswer(Public):
    deployment: DeploymentPublic


class DeploymentList(Public):
    deployments: list[DeploymentPublic]
