"""Wire models of monitoring: profiles, labels, rules, windows and alerts."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from runstone.entities import Alert, Rule, StoredProfile, Window
from runstone.schemas.common import Model


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


def profile_public(p: StoredProfile) -> dict[str, Any]:
    return {**p.__dict__, "version": str(p.version)}


def window_public(w: Window) -> dict[str, Any]:
    return {**w.__dict__, "version": str(w.version)}


def rule_public(r: Rule) -> dict[str, Any]:
    return dict(r.__dict__)


def alert_public(a: Alert) -> dict[str, Any]:
    return {
        **a.__dict__,
        "version": str(a.version),
        "new_version": None if a.new_version is None else str(a.new_version),
    }
