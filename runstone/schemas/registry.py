"""Wire models of the model registry."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from runstone.entities import (
    Approval,
    ApprovalRequest,
    Assignment,
    Gate,
    ManifestFile,
    ModelVersion,
    PackageManifest,
    Policy,
    RegisteredModel,
    Webhook,
)
from runstone.schemas.common import Model, Public, build


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


def version_public(v: ModelVersion) -> dict[str, object]:
    return dict(v.__dict__)


def model_public(m: RegisteredModel) -> dict[str, object]:
    out = dict(m.__dict__)
    out["latest_versions"] = [version_public(v) for v in m.latest_versions]
    return out


def assignment_public(a: Assignment) -> dict[str, object]:
    return dict(a.__dict__)


def request_public(r: ApprovalRequest) -> dict[str, object]:
    out = dict(r.__dict__)
    out["approvals"] = [dict(a.__dict__) for a in r.approvals]
    return out


def policy_public(p: Policy) -> dict[str, object]:
    out = dict(p.__dict__)
    out["gates"] = [dict(g.__dict__) for g in p.gates]
    return out


def webhook_public(w: Webhook) -> dict[str, object]:
    return dict(w.__dict__)


class TagValueIn(Model):
    value: str


# ------------------------------------------------------------------ answers
class ModelVersionPublic(Public):
    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int
    current_stage: str
    description: str
    source: str
    run_id: str | None
    status: str
    user_id: str
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    manifest_digest: str | None = None

    def to_entity(self) -> ModelVersion:
        return build(ModelVersion, self, tags=dict(self.tags), aliases=list(self.aliases))


class RegisteredModelPublic(Public):
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str
    user_id: str
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)
    latest_versions: list[ModelVersionPublic] = Field(default_factory=list)

    def to_entity(self) -> RegisteredModel:
        return build(RegisteredModel, self, latest_versions=[v.to_entity() for v in self.latest_versions])


class AssignmentPublic(Public):
    """One stage or alias assignment in a model's history."""

    kind: str
    target: str
    version: str | None
    previous_version: str | None
    actor: str
    reason: str
    time: int
    request_id: int | None = None
    rollback: bool = False

    def to_entity(self) -> Assignment:
        return build(Assignment, self)


class GatePublic(Public):
    metric: str
    op: str
    compare_to: str | float = "current"


class PolicyPublic(Public):
    protected_stages: list[str] = Field(default_factory=list)
    protected_aliases: list[str] = Field(default_factory=list)
    required_approvals: int = 1
    gates: list[GatePublic] = Field(default_factory=list)
    rollback_requires_approval: bool = False
    approver_group: str | None = None  # with auth on: only its members approve

    def to_entity(self) -> Policy:
        return build(Policy, self, gates=[build(Gate, g) for g in self.gates])


class ApprovalPublic(Public):
    approver: str
    decision: str
    comment: str
    time: int


class ApprovalRequestPublic(Public):
    id: int
    name: str
    version: str
    kind: str
    target: str
    archive_existing: bool
    status: str
    requested_by: str
    comment: str
    evidence: dict[str, Any]
    creation_time: int
    decided_time: int | None
    approvals: list[ApprovalPublic] = Field(default_factory=list)

    def to_entity(self) -> ApprovalRequest:
        return build(ApprovalRequest, self, approvals=[build(Approval, a) for a in self.approvals])


class WebhookPublic(Public):
    id: int
    name: str
    url: str
    events: list[str]
    model_name: str | None
    active: bool
    creation_time: int

    def to_entity(self) -> Webhook:
        return build(Webhook, self)


class DeliveryPublic(Public):
    id: int
    webhook_id: int
    event: str
    status: str
    attempts: int
    last_error: str | None
    response_status: int | None
    payload: dict[str, Any]


class ManifestFilePublic(Public):
    path: str
    size: int
    sha256: str


class ManifestPublic(Public):
    digest: str
    files: list[ManifestFilePublic]

    def to_entity(self) -> PackageManifest:
        files = (ManifestFile(f.path, f.size, f.sha256) for f in self.files)
        return PackageManifest(tuple(sorted(files, key=lambda f: f.path)))


class RegisteredModelAnswer(Public):
    registered_model: RegisteredModelPublic


class RegisteredModelPage(Public):
    registered_models: list[RegisteredModelPublic]
    next_page_token: str | None = None


class ModelVersionAnswer(Public):
    model_version: ModelVersionPublic


class ModelVersionList(Public):
    model_versions: list[ModelVersionPublic]


class ModelVersionPage(Public):
    model_versions: list[ModelVersionPublic]
    next_page_token: str | None = None


class ManifestAnswer(Public):
    manifest: ManifestPublic


class PolicyAnswer(Public):
    policy: PolicyPublic


class AssignmentList(Public):
    assignments: list[AssignmentPublic]


class HolderList(Public):
    versions: list[str]


class ApprovalRequestAnswer(Public):
    request: ApprovalRequestPublic


class ApprovalRequestList(Public):
    requests: list[ApprovalRequestPublic]


class WebhookCreated(Public):
    webhook: WebhookPublic
    secret: str


class WebhookList(Public):
    webhooks: list[WebhookPublic]


class DeliveryList(Public):
    deliveries: list[DeliveryPublic]
