"""RunstoneClient's deployment records, and their HTTP transport.

``HttpDeployments`` has the method names of the server-side ``DeploymentService``, so the client
delegates to either in the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runstone.entities import Deployment
from runstone.schemas.deployments import DeploymentPublic
from runstone.sdk.protocols import DeploymentsBackend

if TYPE_CHECKING:
    from runstone.sdk.remote import Transport


def deployment_from_json(d: Mapping[str, Any]) -> Deployment:
    return DeploymentPublic.model_validate(d).to_entity()


class HttpDeployments:
    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def record_deployment(
        self, name: str, model_name: str, version: str | int, *, target: str = "", description: str = ""
    ) -> Deployment:
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

    def end_deployment(self, deployment_id: int) -> Deployment:
        return deployment_from_json(self.t.json("POST", f"/api/v1/deployments/{int(deployment_id)}/end")["deployment"])

    def get_deployment(self, deployment_id: int) -> Deployment:
        return deployment_from_json(self.t.json("GET", f"/api/v1/deployments/{int(deployment_id)}")["deployment"])

    def list_deployments(
        self,
        model_name: str | None = None,
        version: str | int | None = None,
        name: str | None = None,
        active_only: bool = False,
    ) -> list[Deployment]:
        params: dict[str, Any] = {"model_name": model_name, "version": version, "name": name}
        params = {k: v for k, v in params.items() if v is not None}
        if active_only:
            params["active"] = "true"
        body = self.t.json("GET", "/api/v1/deployments", params=params)
        return [deployment_from_json(d) for d in body["deployments"]]


class DeploymentMethods:
    """RunstoneClient's deployment methods; ``self._deployments`` is HttpDeployments or the
    embedded DeploymentService."""

    _deployments: DeploymentsBackend

    def record_deployment(
        self, name: str, model_name: str, version: str | int, *, target: str = "", description: str = ""
    ) -> Deployment:
        """Record that ``name`` now serves ``version`` of ``model_name`` (at ``target``: a URL or
        a description); a previous record of ``name`` ends."""
        return self._deployments.record_deployment(name, model_name, version, target=target, description=description)

    def end_deployment(self, deployment_id: int) -> Deployment:
        """Record that a deployment stopped serving."""
        return self._deployments.end_deployment(deployment_id)

    def get_deployment(self, deployment_id: int) -> Deployment:
        return self._deployments.get_deployment(deployment_id)

    def list_deployments(
        self,
        model_name: str | None = None,
        version: str | int | None = None,
        name: str | None = None,
        active_only: bool = False,
    ) -> list[Deployment]:
        """Deployment records, newest first: where each version is (``active_only``) or was served."""
        return self._deployments.list_deployments(model_name, version, name, active_only)
