"""Approval workflow and rollback on top of the registry.

A model's policy names its protected stages and aliases, how many approvals a change to them
needs, and optional automatic gates ("metrics.accuracy of the candidate >= the current
holder's"). A change to a protected target becomes a request carrying its evidence (the
candidate's metrics next to the current holder's); approvers decide with a comment; the
requester cannot approve their own request; the change is applied, through the registry's one
audited path, only when the policy is met.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runstone.entities import ApprovalRequest, Gate, ModelVersion, Policy
from runstone.errors import AlreadyExists, InvalidInput, InvalidState, NotFound, PermissionDenied
from runstone.governance.permissions import check_group_name, in_group, visible
from runstone.registry.service import RegistryService, canonical_stage, check_alias, guarded_change, parse_policy
from runstone.store import approvals as approval_store
from runstone.store import registry as store
from runstone.store.registry import ModelRef, VersionRef

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


def policy_to_json(policy: Policy) -> str:
    return json.dumps(
        {
            "protected_stages": policy.protected_stages,
            "protected_aliases": policy.protected_aliases,
            "required_approvals": policy.required_approvals,
            "gates": [{"metric": g.metric, "op": g.op, "compare_to": g.compare_to} for g in policy.gates],
            "rollback_requires_approval": policy.rollback_requires_approval,
            "approver_group": policy.approver_group,
        },
        sort_keys=True,
    )


def check_policy(policy: Policy) -> Policy:
    stages = [canonical_stage(st) for st in policy.protected_stages]
    aliases = [check_alias(a) for a in policy.protected_aliases]
    if policy.required_approvals < 1 or policy.required_approvals > 20:
        raise InvalidInput("required_approvals must be between 1 and 20.")
    for gate in policy.gates:
        if gate.op not in _OPS:
            raise InvalidInput(f"Gate operator {gate.op!r} is not one of {', '.join(_OPS)}.")
        if not gate.metric:
            raise InvalidInput("A gate names a metric.")
        if gate.compare_to != "current" and (
            not isinstance(gate.compare_to, (int, float)) or not math.isfinite(gate.compare_to)
        ):
            raise InvalidInput("A gate compares to 'current' (the current holder) or to a finite number.")
    group = check_group_name(policy.approver_group) if policy.approver_group else None
    return Policy(
        stages, aliases, policy.required_approvals, list(policy.gates), policy.rollback_requires_approval, group
    )


class GovernedRegistry(RegistryService):
    """The registry with its approval workflow and rollback: the whole registry API."""

    # --------------------------------------------------------------------- policy
    def set_policy(self, name: str, policy: Policy) -> Policy:
        policy = check_policy(policy)
        with self.ctx.transaction(write=True) as s:
            model = store.model_row(s, name, lock=True)
            before = parse_policy(model.policy)
            store.update_model(s, model.id, self.clock(), policy=policy_to_json(policy))
            self._audit(
                s, "registry.set_policy", name, json.loads(policy_to_json(before)), json.loads(policy_to_json(policy))
            )
        return policy

    # ------------------------------------------------------------------- evidence
    def _metrics_of(self, run_id: str | None) -> dict[str, float]:
        if not run_id:
            return {}
        try:
            return dict(self.tracking.get_run(run_id).data.metrics)
        except NotFound:
            return {}

    def _current_holder(self, s: Session, model: ModelRef, kind: str, target: str) -> VersionRef | None:
        if kind == "alias":
            number = store.alias_version(s, model.id, target)
            return None if number is None else store.version_row(s, model, number)
        holders = store.versions_in_stage(s, model.id, target)
        return holders[0] if holders else None

    def _evidence(
        self, s: Session, model: ModelRef, candidate: VersionRef, kind: str, target: str, policy: Policy
    ) -> dict[str, Any]:
        holder = self._current_holder(s, model, kind, target)
        candidate_metrics = self._metrics_of(candidate.run_uuid)
        holder_metrics = self._metrics_of(holder.run_uuid) if holder else {}
        return {
            "candidate": {
                "version": str(candidate.version),
                "run_id": candidate.run_uuid,
                "metrics": _finite(candidate_metrics),
            },
            "current": None
            if holder is None
            else {"version": str(holder.version), "run_id": holder.run_uuid, "metrics": _finite(holder_metrics)},
            "gates": [_gate_result(g, candidate_metrics, holder_metrics if holder else None) for g in policy.gates],
        }

    # ------------------------------------------------------------------- requests
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
        """Ask for a stage or alias change; applied once the model's policy is met."""
        kind, target = _target(stage, alias)
        with self.ctx.transaction(write=True) as s:
            model = store.model_row(s, name, lock=True)
            row = store.version_row(s, model, version)
            policy = parse_policy(model.policy)
            existing = approval_store.open_request_for(s, model.id, kind, target, row.version)
            if existing is not None:
                raise AlreadyExists(f"Request {existing} for this change is already open.")
            evidence = self._evidence(s, model, row, kind, target, policy)
            request_id = approval_store.insert_request(
                s,
                model_id=model.id,
                version=row.version,
                kind=kind,
                target=target,
                archive_existing=archive_existing_versions,
                requested_by=self.user,
                comment=comment,
                evidence=evidence,
                now=self.clock(),
            )
            self._audit(s, "registry.request_opened", name, None,
                                 {"request": request_id, "version": row.version, kind: target, "comment": comment})  # fmt: skip
            self._event(
                s, "request.opened", name, {"request_id": request_id, "version": str(row.version), kind: target}
            )
            if guarded_change(policy, name, kind, target, row) is None:
                # Nothing to approve: an unguarded change happens at once, still through the request.
                self._apply(s, model, request_id, reason=comment or "request")
            return approval_store.load(s, [approval_store.request_row(s, request_id)])[0]

    def approve_request(self, request_id: int, comment: str = "") -> ApprovalRequest:
        with self.ctx.transaction(write=True) as s:
            row = approval_store.request_row(s, request_id, lock=True)
            model = self._open(s, row)
            if row.requested_by == self.user:
                raise PermissionDenied("The requester cannot approve their own request; another approver must.")
            if any(a.approver == self.user for a in approval_store.approvals_of(s, request_id)):
                raise AlreadyExists(f"{self.user} has already decided on request {request_id}.")
            policy = parse_policy(model.policy)
            if (
                policy.approver_group
                and self.ctx.principal.authenticated
                and not in_group(s, self.user, policy.approver_group)
            ):
                raise PermissionDenied(
                    f"Requests of {model.name!r} are approved only by members of the group {policy.approver_group!r}; "
                    f"{self.user!r} is not one (the model's policy names the group)."
                )
            failing = self._failing_gates(s, model, row, policy)
            if failing:
                raise InvalidState("The request does not pass its gates: " + "; ".join(failing))
            approval_store.add_decision(s, request_id, self.user, "approve", comment, self.clock())
            approvals = sum(1 for a in approval_store.approvals_of(s, request_id) if a.decision == "approve")
            self._audit(s, "registry.request_approved", model.name, None,
                                 {"request": request_id, "approver": self.user, "comment": comment, "approvals": approvals})  # fmt: skip
            if approvals >= policy.required_approvals:
                self._apply(s, model, request_id, reason=f"approved request {request_id}")
            return approval_store.load(s, [approval_store.request_row(s, request_id)])[0]

    def reject_request(self, request_id: int, comment: str = "") -> ApprovalRequest:
        with self.ctx.transaction(write=True) as s:
            row = approval_store.request_row(s, request_id, lock=True)
            model = self._open(s, row)
            approval_store.add_decision(s, request_id, self.user, "reject", comment, self.clock())
            approval_store.set_status(s, request_id, "rejected", self.clock())
            self._audit(s, "registry.request_rejected", model.name, None,
                                 {"request": request_id, "approver": self.user, "comment": comment})  # fmt: skip
            self._event(s, "request.rejected", model.name, {"request_id": request_id, "comment": comment})
            return approval_store.load(s, [approval_store.request_row(s, request_id)])[0]

    def cancel_request(self, request_id: int) -> ApprovalRequest:
        with self.ctx.transaction(write=True) as s:
            row = approval_store.request_row(s, request_id, lock=True)
            model = self._open(s, row)
            if row.requested_by != self.user:
                raise PermissionDenied("Only the requester can cancel a request.")
            approval_store.set_status(s, request_id, "cancelled", self.clock())
            self._audit(s, "registry.request_cancelled", model.name, None, {"request": request_id})
            return approval_store.load(s, [approval_store.request_row(s, request_id)])[0]

    def get_request(self, request_id: int) -> ApprovalRequest:
        with self.ctx.transaction() as s:
            return approval_store.load(s, [approval_store.request_row(s, request_id)])[0]

    def search_requests(self, name: str | None = None, status: str | None = None) -> list[ApprovalRequest]:
        with self.ctx.transaction() as s:
            model_id = store.model_row(s, name).id if name else None
            found = approval_store.search(s, model_id=model_id, status=status)
            readable = visible(s, self.ctx.principal, "model")  # with auth on: the models the caller may read
            return found if readable is None else [r for r in found if r.name in readable]

    def _open(self, s: Session, row: Any) -> ModelRef:
        if row.status != "open":
            raise InvalidState(f"Request {row.id} is {row.status}, not open.")
        return store.model_by_id(s, row.model_id)

    def _failing_gates(self, s: Session, model: ModelRef, row: Any, policy: Policy) -> list[str]:
        candidate = store.version_row(s, model, row.version)
        evidence = self._evidence(s, model, candidate, row.kind, row.target, policy)
        return [g["detail"] for g in evidence["gates"] if not g["passed"]]

    def _apply(self, s: Session, model: ModelRef, request_id: int, *, reason: str) -> None:
        row = approval_store.request_row(s, request_id)
        version = store.version_row(s, model, row.version)
        self._assign(
            s,
            model,
            row.kind,
            row.target,
            version,
            reason=reason,
            archive_existing=row.archive_existing,
            request_id=request_id,
        )
        approval_store.set_status(s, request_id, "approved", self.clock())
        self._event(
            s,
            "request.approved",
            model.name,
            {"request_id": request_id, "version": str(row.version), row.kind: row.target},
        )

    # ------------------------------------------------------------------- rollback
    def rollback_target(self, name: str, *, stage: str | None = None, alias: str | None = None) -> str | None:
        """The version a rollback of this stage or alias would go back to (None: there is none)."""
        kind, target = _target(stage, alias)
        with self.ctx.transaction() as s:
            previous, _ = self.previous_holder(s, store.model_row(s, name), kind, target)
            return None if previous is None else str(previous)

    def rollback(
        self, name: str, *, stage: str | None = None, alias: str | None = None, comment: str = ""
    ) -> ModelVersion:
        """Move a stage or alias back to the version that held it before, through the audited path."""
        kind, target = _target(stage, alias)
        with self.ctx.transaction(write=True) as s:
            model = store.model_row(s, name, lock=True)
            policy = parse_policy(model.policy)
            if policy.protects(kind, target) and policy.rollback_requires_approval:
                raise PermissionDenied(
                    f"The policy of {name!r} requires approval for rollbacks: open a request instead."
                )
            previous, current = self.previous_holder(s, model, kind, target)
            if previous is None:
                raise InvalidState(
                    f"{target!r} of {name!r} has no earlier version to roll back to (now version {current})."
                )
            row = store.version_row(s, model, previous)
            reason = f"rollback from version {current}" + (f": {comment}" if comment else "")
            self._assign(s, model, kind, target, row, reason=reason, archive_existing=(kind == "stage"), rollback=True)
            return store.load_versions(s, [row])[0]


def _target(stage: str | None, alias: str | None) -> tuple[str, str]:
    if (stage is None) == (alias is None):
        raise InvalidInput("Name exactly one of a stage or an alias.")
    if stage is not None:
        return "stage", canonical_stage(stage)
    assert alias is not None
    return "alias", check_alias(alias)


def _finite(metrics: Mapping[str, float]) -> dict[str, float | str]:
    return {k: (v if math.isfinite(v) else str(v)) for k, v in metrics.items()}


def _gate_result(gate: Gate, candidate: Mapping[str, float], holder: Mapping[str, float] | None) -> dict[str, object]:
    value = candidate.get(gate.metric)
    if gate.compare_to == "current":
        if holder is None:
            return {
                "gate": gate.__dict__,
                "passed": True,
                "detail": f"no current holder to compare metrics.{gate.metric} with",
            }
        reference = holder.get(gate.metric)
        label = "the current holder's"
    else:
        reference, label = float(gate.compare_to), str(gate.compare_to)
    if value is None or reference is None or math.isnan(value) or math.isnan(reference):
        return {
            "gate": gate.__dict__,
            "passed": False,
            "detail": f"metrics.{gate.metric} is missing (candidate {value}, reference {reference})",
        }
    passed = bool(_OPS[gate.op](value, reference))
    detail = f"metrics.{gate.metric} {value} {gate.op} {label} {reference}: {'passed' if passed else 'failed'}"
    return {"gate": gate.__dict__, "passed": passed, "detail": detail}


def request_summary(requests: Sequence[ApprovalRequest]) -> list[dict[str, Any]]:
    return [r.__dict__ for r in requests]
