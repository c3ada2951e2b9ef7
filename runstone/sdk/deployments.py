"""RunstoneClient's deployment records, and their HTTP transport.

``HttpDeployments`` implements DeploymentsBackend over HTTP, as ``LocalDeployments`` does
in-process; both answer with wire models, and the client hands its callers the entities.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runstone.entities import Deployment
from runstone.schemas.deployments import DeploymentPublic
from runstone.sdk.protocols import DeploymentsBackend

if TYPE_CHECKING:
    from runstone.sdk.remote import Transport


deployment_from_json = DeploymentPublic.model_validate


class HttpDeployments:
    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def record_deployment(
        self, name: str, model_name: str, version: str | int, *, target: str = "", description: str = ""
    ) -> DeploymentPublic:
        body = self.t.json(
            "POST",
            "/api/v1/deployments",
            json={
                "name": name,
                "model_name": model_name,
                "version": str(version),
                "target": target,
                "description": description,
            },
        )
        return deployment_from_json(body["deployment"])

    def end_deployment(self, deployment_id: int) -> DeploymentPublic:
        return deployment_from_json(self.t.json("POST", f"/api/v1/deployments/{int(deployment_id)}/end")["deployment"])

    def get_deployment(self, deployment_id: int) -> DeploymentPublic:
        return deployment_from_json(self.t.json("GET", f"/api/v1/deployments/{int(deployment_id)}")["deployment"])

    def list_deployments(
        self,
        model_name: str | None = None,
        version: str | int | None = None,
        name: str | None = None,
        active_only: bool = False,
    ) -> list[DeploymentPublic]:
        params: dict[str, str | int | None] = {"model_name": model_name, "version": version, "name": name}
        params = {k: v for k, v in params.items() if v is not None}
        if active_only:
            params["active"] = "true"
        body = self.t.json("GET", "/api/v1/deployments", params=params)
        return [deployment_from_json(d) for d in body["deployments"]]


class DeploymentMethods:
    """RunstoneClient's deployment methods; ``self._deployments`` is HttpDeployments or the
    embedded LocalDeployments."""

    _deployments: DeploymentsBackend

    def record_deployment(
        self, name: str, model_name: str, version: str | int, *, target: str = "", description: str = ""
    ) -> Deployment:
        """Record that ``name`` now serves ``version`` of ``model_name`` (at ``target``: a URL or
        a description); a previous record of ``name`` ends."""
        recorded = self._deployments.record_deployment(
            name, model_name, version, target=target, description=description
        )
        return recorded.to_entity()

    def end_deployment(self, deployment_id: int) -> Deployment:
        """Record that a deployment stopped serving."""
        return self._deployments.end_deployment(deployment_id).to_entity()

    def get_deployment(self, deployment_id: int) -> Deployment:
        return self._deployments.get_deployment(deployment_id).to_entity()

    def list_deployments(
        self,
        model_name: str | None = None,
        version: str | int | None = None,
        name: str | None = None,
        active_only: bool = False,
    ) -> list[Deployment]:
        """Deployment records, newest first: where each version is (``active_only``) or was served."""
        return [d.to_entity() for d in self._deployments.list_deployments(model_name, version, name, active_only)]
