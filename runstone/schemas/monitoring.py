"""Wire models of monitoring: profiles, labels, rules, windows and alerts."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from runstone.entities import Alert, Rule, StoredProfile, Window
from runstone.schemas.common import Model, Public, build


class ProfileUpdate(Model):
    profile: dict[str, Any]
    source: str = ""
    dataset_digest: str | None = None


class LabelsCreate(Model):
    request_ids: list[str] = Field(max_length=100_000)
    labels: list[str | float | int | bool] = Field(max_length=100_000)
    model: str | None = None


class EvaluateRequest(Model):
    window: str = "1h"


class RetrainingUpdate(Model):
    status: str
    run_id: str | None = None
    new_version: int | None = None
    approval_request_id: int | None = None
    action_note: str | None = None


def profile_public(p: StoredProfile) -> dict[str, object]:
    return {**p.__dict__, "version": str(p.version)}


def window_public(w: Window) -> dict[str, object]:
    return {**w.__dict__, "version": str(w.version)}


def rule_public(r: Rule) -> dict[str, object]:
    return dict(r.__dict__)


def alert_public(a: Alert) -> dict[str, object]:
    return {
        **a.__dict__,
        "version": str(a.version),
        "new_version": None if a.new_version is None else str(a.new_version),
    }


class ProfilePublic(Public):
    model: str
    version: str
    digest: str
    dataset_digest: str | None
    source: str
    profile: dict[str, Any]
    created_by: str
    creation_time: int

    def to_entity(self) -> StoredProfile:
        return build(StoredProfile, self, version=int(self.version))


class WindowPublic(Public):
    id: int
    model: str
    version: str
    start_time: int
    end_time: int
    status: str
    result: dict[str, Any] | None
    computed_time: int | None

    def to_entity(self) -> Window:
        return build(Window, self, version=int(self.version))


class RulePublic(Public):
    id: int
    model: str
    name: str
    spec: dict[str, Any]
    created_by: str
    creation_time: int

    def to_entity(self) -> Rule:
        return build(Rule, self)


class AlertPublic(Public):
    id: int
    rule: str
    model: str
    version: str
    window_id: int
    time: int
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    action_status: str = "none"
    run_id: str | None = None
    new_version: str | None = None
    approval_request_id: int | None = None
    action_note: str | None = None

    def to_entity(self) -> Alert:
        new = self.new_version
        return build(Alert, self, version=int(self.version), new_version=None if new is None else int(new))


class DatasetRecord(Public):
    name: str
    digest: str
    source_type: str
    source: str
    schema_: str | None = Field(default=None, alias="schema")


class TrainingDataset(Public):
    """The dataset recorded on the run that produced a version (and its holdout, if any)."""

    run_id: str
    version: int
    dataset: DatasetRecord
    holdout: DatasetRecord | None = None


class IngestCounts(Public):
    rows: int
    requests: int
    skipped: int


class LabelCount(Public):
    labelled: int


class ProfileAnswer(Public):
    profile: ProfilePublic


class WindowAnalysis(Public):
    """A window's drift, traffic and quality, computed now: the model, its version and the result."""

    window: dict[str, Any]


class WindowList(Public):
    windows: list[WindowPublic]


class WindowCount(Public):
    windows: int


class RuleAnswer(Public):
    rule: RulePublic


class RuleList(Public):
    rules: list[RulePublic]


class AlertAnswer(Public):
    alert: AlertPublic


class AlertList(Public):
    alerts: list[AlertPublic]


class RetrainingClaim(Public):
    alert: AlertPublic | None
    action: dict[str, Any] | None
