"""The registry half of the SDK: RunstoneClient's registry methods, and their HTTP transport.

``HttpRegistry`` implements RegistryBackend and WebhooksBackend (``sdk/protocols.py``) over HTTP,
as ``LocalRegistry`` and ``LocalWebhooks`` (``sdk/local.py``) do in-process; the client delegates
to either in the same way and hands its callers the entities. Method names are MLflow's wherever MLflow
has the operation; approvals, rollback and history are runstone's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from runstone.entities import (
    ApprovalRequest,
    Assignment,
    ModelVersion,
    PackageManifest,
    PagedList,
    Policy,
    RegisteredModel,
    Webhook,
)
from runstone.schemas.registry import (
    ApprovalRequestPublic,
    AssignmentPublic,
    DeliveryPublic,
    ManifestPublic,
    ModelVersionPublic,
    PolicyPublic,
    RegisteredModelPublic,
    WebhookPublic,
)
from runstone.sdk.protocols import RegistryBackend, WebhooksBackend

if TYPE_CHECKING:
    from runstone.sdk.remote import Transport


def _q(segment: str) -> str:
    return quote(str(segment), safe="")


version_from_json = ModelVersionPublic.model_validate
model_from_json = RegisteredModelPublic.model_validate
request_from_json = ApprovalRequestPublic.model_validate
policy_from_json = PolicyPublic.model_validate


def policy_to_json(p: Policy) -> dict[str, object]:
    return {**p.__dict__, "gates": [g.__dict__ for g in p.gates]}


class HttpRegistry:
    """GovernedRegistry's and WebhookService's operations, over HTTP."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def _m(self, name: str) -> str:
        return f"/api/v1/registered-models/{_q(name)}"

    # registered models
    def create_registered_model(
        self, name: str, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModelPublic:
        body = self.t.json(
            "POST",
            "/api/v1/registered-models",
            json={"name": name, "description": description, "tags": dict(tags or {})},
        )
        return model_from_json(body["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModelPublic:
        return model_from_json(self.t.json("GET", self._m(name))["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModelPublic:
        return model_from_json(self.t.json("PATCH", self._m(name), json={"new_name": new_name})["registered_model"])

    def update_registered_model(self, name: str, description: str) -> RegisteredModelPublic:
        return model_from_json(
            self.t.json("PATCH", self._m(name), json={"description": description}, idempotent=True)["registered_model"]
        )

    def delete_registered_model(self, name: str) -> None:
        self.t.json("DELETE", self._m(name))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self.t.json("PUT", f"{self._m(name)}/tags/{_q(key)}", json={"value": value}, idempotent=True)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.t.json("DELETE", f"{self._m(name)}/tags/{_q(key)}")

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModelPublic]:
        params: dict[str, str | int | list[str] | None] = {
            "filter": filter_string,
            "max_results": max_results,
            "order_by": list(order_by or []),
            "page_token": page_token,
        }
        body = self.t.json(
            "GET", "/api/v1/registered-models", params={k: v for k, v in params.items() if v not in (None, [])}
        )
        return PagedList([model_from_json(m) for m in body["registered_models"]], body.get("next_page_token"))

    # versions
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str = "",
    ) -> ModelVersionPublic:
        body = self.t.json(
            "POST",
            f"{self._m(name)}/versions",
            json={"source": source, "run_id": run_id, "tags": dict(tags or {}), "description": description},
        )
        return version_from_json(body["model_version"])

    def get_model_version(self, name: str, version: str | int) -> ModelVersionPublic:
        return version_from_json(self.t.json("GET", f"{self._m(name)}/versions/{_q(str(version))}")["model_version"])

    def get_model_version_manifest(self, name: str, version: str | int) -> ManifestPublic:
        body = self.t.json("GET", f"{self._m(name)}/versions/{_q(str(version))}/manifest")
        return ManifestPublic.model_validate(body["manifest"])

    def update_model_version(self, name: str, version: str | int, description: str) -> ModelVersionPublic:
        body = self.t.json(
            "PATCH", f"{self._m(name)}/versions/{_q(str(version))}", json={"description": description}, idempotent=True
        )
        return version_from_json(body["model_version"])

    def delete_model_version(self, name: str, version: str | int) -> None:
        self.t.json("DELETE", f"{self._m(name)}/versions/{_q(str(version))}")

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        self.t.json(
            "PUT", f"{self._m(name)}/versions/{_q(str(version))}/tags/{_q(key)}", json={"value": value}, idempotent=True
        )

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        self.t.json("DELETE", f"{self._m(name)}/versions/{_q(str(version))}/tags/{_q(key)}")

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersionPublic]:
        body = self.t.json(
            "POST",
            "/api/v1/model-versions/search",
            json={
                "filter": filter_string,
                "max_results": max_results,
                "order_by": list(order_by or []),
                "page_token": page_token,
            },
            idempotent=True,
        )
        return PagedList([version_from_json(v) for v in body["model_versions"]], body.get("next_page_token"))

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersionPublic]:
        body = self.t.json("GET", f"{self._m(name)}/latest-versions", params={"stages": list(stages or [])})
        return [version_from_json(v) for v in body["model_versions"]]

    # aliases and stages
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersionPublic:
        return version_from_json(self.t.json("GET", f"{self._m(name)}/aliases/{_q(alias)}")["model_version"])

    def set_registered_model_alias(
        self, name: str, alias: str, version: str | int, *, reason: str = ""
    ) -> ModelVersionPublic:
        body = self.t.json(
            "PUT",
            f"{self._m(name)}/aliases/{_q(alias)}",
            json={"version": str(version), "reason": reason},
            idempotent=True,
        )
        return version_from_json(body["model_version"])

    def delete_registered_model_alias(self, name: str, alias: str, *, reason: str = "") -> None:
        self.t.json("DELETE", f"{self._m(name)}/aliases/{_q(alias)}")

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False, *, reason: str = ""
    ) -> ModelVersionPublic:
        body = self.t.json(
            "POST",
            f"{self._m(name)}/versions/{_q(str(version))}/stage",
            json={"stage": stage, "archive_existing_versions": archive_existing_versions, "reason": reason},
        )
        return version_from_json(body["model_version"])

    # governance
    def policy(self, name: str) -> PolicyPublic:
        return policy_from_json(self.t.json("GET", f"{self._m(name)}/policy")["policy"])

    def set_policy(self, name: str, policy: Policy) -> PolicyPublic:
        return policy_from_json(
            self.t.json("PUT", f"{self._m(name)}/policy", json=policy_to_json(policy), idempotent=True)["policy"]
        )

    def get_model_history(
        self, name: str, *, kind: str | None = None, target: str | None = None
    ) -> list[AssignmentPublic]:
        params = {k: v for k, v in {"kind": kind, "target": target}.items() if v}
        return [
            AssignmentPublic.model_validate(a)
            for a in self.t.json("GET", f"{self._m(name)}/history", params=params)["assignments"]
        ]

    def holders_at(self, name: str, *, time: int, stage: str | None = None, alias: str | None = None) -> list[str]:
        params = {k: v for k, v in {"time": time, "stage": stage, "alias": alias}.items() if v is not None}
        return list(self.t.json("GET", f"{self._m(name)}/holders", params=params)["versions"])

    def request_transition(
        self,
        name: str,
        version: str | int,
        *,
        stage: str | None = None,
        alias: str | None = None,
        comment: str = "",
        archive_existing_versions: bool = False,
    ) -> ApprovalRequestPublic:
        body = self.t.json(
            "POST",
            "/api/v1/approval-requests",
            json={
                "name": name,
                "version": str(version),
                "stage": stage,
                "alias": alias,
                "comment": comment,
                "archive_existing_versions": archive_existing_versions,
            },
        )
        return request_from_json(body["request"])

    def approve_request(self, request_id: int, comment: str = "") -> ApprovalRequestPublic:
        return request_from_json(
            self.t.json("POST", f"/api/v1/approval-requests/{int(request_id)}/approve", json={"comment": comment})[
                "request"
            ]
        )

    def reject_request(self, request_id: int, comment: str = "") -> ApprovalRequestPublic:
        return request_from_json(
            self.t.json("POST", f"/api/v1/approval-requests/{int(request_id)}/reject", json={"comment": comment})[
                "request"
            ]
        )

    def cancel_request(self, request_id: int) -> ApprovalRequestPublic:
        return request_from_json(self.t.json("POST", f"/api/v1/approval-requests/{int(request_id)}/cancel")["request"])

    def get_request(self, request_id: int) -> ApprovalRequestPublic:
        return request_from_json(self.t.json("GET", f"/api/v1/approval-requests/{int(request_id)}")["request"])

    def search_requests(self, name: str | None = None, status: str | None = None) -> list[ApprovalRequestPublic]:
        params = {k: v for k, v in {"name": name, "status": status}.items() if v}
        return [
            request_from_json(r) for r in self.t.json("GET", "/api/v1/approval-requests", params=params)["requests"]
        ]

    def rollback(
        self, name: str, *, stage: str | None = None, alias: str | None = None, comment: str = ""
    ) -> ModelVersionPublic:
        body = self.t.json(
            "POST", f"{self._m(name)}/rollback", json={"stage": stage, "alias": alias, "comment": comment}
        )
        return version_from_json(body["model_version"])

    # webhooks
    def create_webhook(
        self, name: str, url: str, events: Sequence[str], *, model_name: str | None = None, secret: str | None = None
    ) -> tuple[WebhookPublic, str]:
        body = self.t.json(
            "POST",
            "/api/v1/webhooks",
            json={"name": name, "url": url, "events": list(events), "model_name": model_name, "secret": secret},
        )
        return WebhookPublic.model_validate(body["webhook"]), body["secret"]

    def list_webhooks(self) -> list[WebhookPublic]:
        return [WebhookPublic.model_validate(w) for w in self.t.json("GET", "/api/v1/webhooks")["webhooks"]]

    def delete_webhook(self, webhook_id: int) -> None:
        self.t.json("DELETE", f"/api/v1/webhooks/{int(webhook_id)}")

    def deliveries(self, webhook_id: int | None = None) -> list[DeliveryPublic]:
        body = self.t.json("GET", f"/api/v1/webhooks/{int(webhook_id or 0)}/deliveries")
        return [DeliveryPublic.model_validate(d) for d in body["deliveries"]]


class RegistryMethods:
    """RunstoneClient's registry methods; ``self._registry`` is HttpRegistry or the embedded
        LocalRegistry, ``self._webhooks`` HttpRegistry or LocalWebhooks. Both answer with wire models; the
    client's callers get the entities (``runstone.entities``), whichever the backend."""

    _registry: RegistryBackend
    _webhooks: WebhooksBackend

    # ------------------------------------------------------------ registered models
    def create_registered_model(
        self, name: str, tags: Mapping[str, object] | None = None, description: str | None = None
    ) -> RegisteredModel:
        return self._registry.create_registered_model(
            name, description or "", {k: str(v) for k, v in (tags or {}).items()}
        ).to_entity()

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._registry.get_registered_model(name).to_entity()

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self._registry.rename_registered_model(name, new_name).to_entity()

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        return self._registry.update_registered_model(name, description).to_entity()

    def delete_registered_model(self, name: str) -> None:
        self._registry.delete_registered_model(name)

    def set_registered_model_tag(self, name: str, key: str, value: object) -> None:
        self._registry.set_registered_model_tag(name, key, str(value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._registry.delete_registered_model_tag(name, key)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        page = self._registry.search_registered_models(filter_string, max_results, order_by, page_token)
        return PagedList([m.to_entity() for m in page], page.next_page_token)

    # --------------------------------------------------------------------- versions
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, object] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Register a model logged in a run (``source`` is its ``runs:/<run_id>/<path>`` URI)."""
        return self._registry.create_model_version(
            name, source, run_id, {k: str(v) for k, v in (tags or {}).items()}, description or ""
        ).to_entity()

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        return self._registry.get_model_version(name, version).to_entity()

    def get_model_version_manifest(self, name: str, version: str | int) -> PackageManifest:
        """The files of a version's package with the SHA-256 recorded at registration
        (``.digest`` is the version's ``manifest_digest``)."""
        return self._registry.get_model_version_manifest(name, version).to_entity()

    def update_model_version(self, name: str, version: str | int, description: str) -> ModelVersion:
        return self._registry.update_model_version(name, version, description).to_entity()

    def delete_model_version(self, name: str, version: str | int) -> None:
        self._registry.delete_model_version(name, version)

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: object) -> None:
        self._registry.set_model_version_tag(name, version, key, str(value))

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        self._registry.delete_model_version_tag(name, version, key)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        page = self._registry.search_model_versions(filter_string, max_results, order_by, page_token)
        return PagedList([v.to_entity() for v in page], page.next_page_token)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        return [v.to_entity() for v in self._registry.get_latest_versions(name, stages)]

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        return self.get_model_version(name, version).source

    # -------------------------------------------------------------- aliases, stages
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        self._registry.set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._registry.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._registry.get_model_version_by_alias(name, alias).to_entity()

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        return self._registry.transition_model_version_stage(
            name, version, stage, archive_existing_versions
        ).to_entity()

    # ------------------------------------------------------------------- governance
    def get_model_policy(self, name: str) -> Policy:
        return self._registry.policy(name).to_entity()

    def set_model_policy(self, name: str, policy: Policy) -> Policy:
        """Protect stages and aliases of a model: changes to them then need approved requests."""
        return self._registry.set_policy(name, policy).to_entity()

    def request_transition(
        self,
        name: str,
        version: str | int,
        *,
        stage: str | None = None,
        alias: str | None = None,
        comment: str = "",
        archive_existing_versions: bool = False,
    ) -> ApprovalRequest:
        """Ask for a stage or alias change; it happens when the model's policy is met."""
        return self._registry.request_transition(
            name,
            version,
            stage=stage,
            alias=alias,
            comment=comment,
            archive_existing_versions=archive_existing_versions,
        ).to_entity()

    def approve_request(self, request_id: int, comment: str = "") -> ApprovalRequest:
        return self._registry.approve_request(request_id, comment).to_entity()

    def reject_request(self, request_id: int, comment: str = "") -> ApprovalRequest:
        return self._registry.reject_request(request_id, comment).to_entity()

    def cancel_request(self, request_id: int) -> ApprovalRequest:
        return self._registry.cancel_request(request_id).to_entity()

    def get_request(self, request_id: int) -> ApprovalRequest:
        return self._registry.get_request(request_id).to_entity()

    def search_requests(self, name: str | None = None, status: str | None = None) -> list[ApprovalRequest]:
        return [r.to_entity() for r in self._registry.search_requests(name, status)]

    def rollback(
        self, name: str, *, stage: str | None = None, alias: str | None = None, comment: str = ""
    ) -> ModelVersion:
        """Move a stage or alias back to the version that held it before."""
        return self._registry.rollback(name, stage=stage, alias=alias, comment=comment).to_entity()

    def get_model_history(self, name: str, *, kind: str | None = None, target: str | None = None) -> list[Assignment]:
        """Every stage and alias assignment of a model: who moved what where, when and why."""
        return [a.to_entity() for a in self._registry.get_model_history(name, kind=kind, target=target)]

    def get_model_holders(
        self, name: str, *, time: int, stage: str | None = None, alias: str | None = None
    ) -> list[str]:
        """The versions that held a stage (or an alias) at a moment (milliseconds since the epoch)."""
        return self._registry.holders_at(name, time=time, stage=stage, alias=alias)

    # --------------------------------------------------------------------- webhooks
    def create_webhook(
        self, name: str, url: str, events: Sequence[str], *, model_name: str | None = None, secret: str | None = None
    ) -> tuple[Webhook, str]:
        """Register a webhook; returns it and its signing secret (shown only now)."""
        webhook, signing_secret = self._webhooks.create_webhook(name, url, events, model_name=model_name, secret=secret)
        return webhook.to_entity(), signing_secret

    def list_webhooks(self) -> list[Webhook]:
        return [w.to_entity() for w in self._webhooks.list_webhooks()]

    def delete_webhook(self, webhook_id: int) -> None:
        self._webhooks.delete_webhook(webhook_id)

    def get_webhook_deliveries(self, webhook_id: int) -> list[dict[str, Any]]:
        return [d.model_dump() for d in self._webhooks.deliveries(webhook_id)]
