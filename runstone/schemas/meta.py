"""Wire models of the server's own routes: health, version, audit and garbage collection."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from runstone.schemas.common import Public


class Health(Public):
    status: str


class Readiness(Public):
    status: str
    checks: dict[str, str]


class VersionAnswer(Public):
    version: str


class AuditEventPublic(Public):
    seq: int
    time: int
    actor: str
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str
    hash: str
    request_id: str | None = None
    token_id: str | None = None  # the API token used (its public id), with auth on
    client: str | None = None  # the client's address, with auth on


class AuditEventList(Public):
    events: list[AuditEventPublic]


class AuditVerification(Public):
    ok: bool
    events: int
    head: str
    problem: str | None = None
    first_bad_seq: int | None = None


class GcReportPublic(Public):
    run_ids: list[str] = Field(default_factory=list)
    experiment_ids: list[str] = Field(default_factory=list)
    dry_run: bool = False
