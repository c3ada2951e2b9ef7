"""Wire models of the model registry."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from runstone.entities import ApprovalRequest, Assignment, Gate, ModelVersion, Policy, RegisteredModel, Webhook
from runstone.schemas.common import Model


class RegisteredModelCreate(Model):
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class RegisteredModelUpdate(Model):
    description: str | None = None
    new_name: str | None = None


class ModelVersionCreate(Model):
    source: str
    run_id: str | None = None
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class ModelVersionUpdate(Model):
    description: str


class StageTransition(Model):
    stage: str
    archive_existing_versions: bool = False
    reason: str = ""


class AliasAssignment(Model):
    version: str
    reason: str = ""


class Search(Model):
    filter: str | None = None
    max_results: int | None = None
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


class GateIn(Model):
    metric: str
    op: str = ">="
    compare_to: str | float = "current"


class PolicyIn(Model):
    protected_stages: list[str] = Field(default_factory=list)
    protected_aliases: list[str] = Field(default_factory=list)
    required_approvals: int = 1
    gates: list[GateIn] = Field(default_factory=list)
    rollback_requires_approval: bool = False
    approver_group: str | None = None

    def to_entity(self) -> Policy:
        return Policy(
            self.protected_stages,
            self.protected_aliases,
            self.required_approvals,
            [Gate(g.metric, g.op, g.compare_to) for g in self.gates],
            self.rollback_requires_approval,
            self.approver_group,
        )


class RequestCreate(Model):
    name: str
    version: str
    stage: str | None = None
    alias: str | None = None
    comment: str = ""
    archive_existing_versions: bool = False


class Decision(Model):
    comment: str = ""


class Rollback(Model):
    stage: str | None = None
    alias: str | None = None
    comment: str = ""


class WebhookCreate(Model):
    name: str
    url: str
    events: list[str]
    model_name: str | None = None
    secret: str | None = None


def version_public(v: ModelVersion) -> dict[str, Any]:
    return dict(v.__dict__)


def model_public(m: RegisteredModel) -> dict[str, Any]:
    out = dict(m.__dict__)
    out["latest_versions"] = [version_public(v) for v in m.latest_versions]
    return out


def assignment_public(a: Assignment) -> dict[str, Any]:
    return dict(a.__dict__)


def request_public(r: ApprovalRequest) -> dict[str, Any]:
    out = dict(r.__dict__)
    out["approvals"] = [dict(a.__dict__) for a in r.approvals]
    return out


def policy_public(p: Policy) -> dict[str, Any]:
    out = dict(p.__dict__)
    out["gates"] = [dict(g.__dict__) for g in p.gates]
    return out


def webhook_public(w: Webhook) -> dict[str, Any]:
    return dict(w.__dict__)


class TagValueIn(Model):
    value: str
