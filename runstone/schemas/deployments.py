"""Wire models of deployment records."""

from __future__ import annotations

from typing import Any

from runstone.entities import Deployment
from runstone.schemas.common import Model


class DeploymentCreate(Model):
    name: str
    model_name: str
    version: str | int
    target: str = ""
    description: str = ""


def deployment_public(d: Deployment) -> dict[str, Any]:
    return {**d.__dict__, "active": d.active}
