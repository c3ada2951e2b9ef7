"""Protected stages and aliases change only through approved requests; rollback goes back."""

from __future__ import annotations

import pytest

from runstone.entities import Gate, Policy
from runstone.errors import AlreadyExists, InvalidInput, InvalidState, PermissionDenied


@pytest.fixture
def fraud(registry, logged_model):
    registry.create_registered_model("fraud")
    registry.create_model_version("fraud", logged_model(accuracy=0.90))
    registry.create_model_version("fraud", logged_model(accuracy=0.95))
    registry.create_model_version("fraud", logged_model(accuracy=0.80))
    return registry


def protect(registry, **overrides):
    policy = Policy(protected_stages=["Production"], protected_aliases=["champion"], required_approvals=2)
    for key, value in overrides.items():
        setattr(policy, key, value)
    return registry.set_policy("fraud", policy)


def test_direct_change_to_protected_target_is_refused(fraud):
    protect(fraud)
    with pytest.raises(PermissionDenied, match="Stage 'Production' of 'fraud' is protected"):
        fraud.transition_model_version_stage("fraud", "1", "Production")
    with pytest.raises(PermissionDenied, match="Alias 'champion' of 'fraud' is protected"):
        fraud.set_registered_model_alias("fraud", "champion", "1")
    fraud.transition_model_version_stage("fraud", "1", "Staging")  # unprotected: fine
    fraud.set_registered_model_alias("fraud", "challenger", "2")


def test_request_needs_the_policy_to_be_met(fraud, as_user):
    protect(fraud)
    fraud.transition_model_version_stage("fraud", "1", "Staging")
    request = fraud.request_transition(
        "fraud", "2", stage="Production", comment="better recall", archive_existing_versions=True
    )
    assert request.status == "open" and request.requested_by == "alice"
    assert request.evidence["candidate"]["metrics"] == {"accuracy": 0.95}
    assert request.evidence["current"] is None
    with pytest.raises(PermissionDenied, match="cannot approve their own request"):
        fraud.approve_request(request.id, "looks good to me")
    bob, carol = as_user("bob"), as_user("carol")
    after_one = bob.approve_request(request.id, "metrics check out")
    assert after_one.status == "open"
    assert fraud.get_model_version("fraud", "2").current_stage == "None"
    with pytest.raises(AlreadyExists, match="bob has already decided"):
        bob.approve_request(request.id)
    done = carol.approve_request(request.id, "ship it")
    assert done.status == "approved"
    assert [(a.approver, a.decision) for a in done.approvals] == [("bob", "approve"), ("carol", "approve")]
    assert fraud.get_model_version("fraud", "2").current_stage == "Production"
    history = fraud.get_model_history("fraud", kind="stage", target="Production")
    assert history[-1].request_id == request.id and history[-1].actor == "carol"
    with pytest.raises(InvalidState, match="is approved, not open"):
        carol.reject_request(request.id)


def test_rejection_and_cancellation(fraud, as_user):
    protect(fraud, required_approvals=1)
    request = fraud.request_transition("fraud", "1", alias="champion")
    rejected = as_user("bob").reject_request(request.id, "not validated")
    assert rejected.status == "rejected"
    with pytest.raises(InvalidState):
        as_user("carol").approve_request(request.id)
    again = fraud.request_transition("fraud", "1", alias="champion")
    with pytest.raises(AlreadyExists, match="already open"):
        fraud.request_transition("fraud", "1", alias="champion")
    with pytest.raises(PermissionDenied, match="Only the requester"):
        as_user("bob").cancel_request(again.id)
    assert fraud.cancel_request(again.id).status == "cancelled"
    with pytest.raises(InvalidState, match="is cancelled, not open"):
        as_user("bob").approve_request(again.id)


def test_unprotected_requests_apply_at_once(fraud):
    request = fraud.request_transition("fraud", "3", stage="Staging", comment="try it")
    assert request.status == "approved"
    assert fraud.get_model_version("fraud", "3").current_stage == "Staging"


def test_gates_compare_with_the_current_holder(fraud, as_user):
    protect(fraud, required_approvals=1, gates=[Gate("accuracy", ">=", "current")])
    first = fraud.request_transition("fraud", "1", alias="champion")
    as_user("bob").approve_request(first.id)  # no current holder: the gate passes
    worse = fraud.request_transition("fraud", "3", alias="champion")
    assert worse.evidence["current"]["metrics"] == {"accuracy": 0.90}
    assert [g["passed"] for g in worse.evidence["gates"]] == [False]
    with pytest.raises(InvalidState, match=r"metrics.accuracy 0.8 >= the current holder's 0.9: failed"):
        as_user("bob").approve_request(worse.id)
    better = fraud.request_transition("fraud", "2", alias="champion")
    assert as_user("bob").approve_request(better.id).status == "approved"
    assert fraud.get_model_version_by_alias("fraud", "champion").version == "2"


def test_absolute_gate_and_policy_validation(fraud, as_user):
    protect(fraud, required_approvals=1, gates=[Gate("accuracy", ">", 0.93)])
    request = fraud.request_transition("fraud", "1", stage="Production")
    with pytest.raises(InvalidState, match="failed"):
        as_user("bob").approve_request(request.id)
    with pytest.raises(InvalidInput, match="Gate operator"):
        fraud.set_policy("fraud", Policy(gates=[Gate("accuracy", "~", "current")]))
    with pytest.raises(InvalidInput, match="Unknown stage"):
        fraud.set_policy("fraud", Policy(protected_stages=["Live"]))
    with pytest.raises(InvalidInput, match="required_approvals"):
        fraud.set_policy("fraud", Policy(required_approvals=0))
    for reference in (float("nan"), float("inf"), "best"):
        with pytest.raises(InvalidInput, match=r"'current' .* or to a finite number"):
            fraud.set_policy("fraud", Policy(gates=[Gate("accuracy", ">=", reference)]))


def test_rollback_of_stage_and_alias(fraud):
    fraud.transition_model_version_stage("fraud", "1", "Production")
    fraud.transition_model_version_stage("fraud", "2", "Production", archive_existing_versions=True)
    back = fraud.rollback("fraud", stage="Production", comment="latency regression")
    assert back.version == "1" and back.current_stage == "Production"
    assert fraud.get_model_version("fraud", "2").current_stage == "Archived"
    last = fraud.get_model_history("fraud", kind="stage", target="Production")[-1]
    assert last.reason == "rollback from version 2: latency regression"

    fraud.set_registered_model_alias("fraud", "champion", "1")
    fraud.set_registered_model_alias("fraud", "champion", "3")
    assert fraud.rollback("fraud", alias="champion").version == "1"
    assert fraud.get_model_version_by_alias("fraud", "champion").version == "1"
    with pytest.raises(InvalidState, match="no earlier version"):
        fraud.rollback("fraud", alias="champion")
    with pytest.raises(InvalidState, match="No version of 'fraud' is in Staging"):
        fraud.rollback("fraud", stage="Staging")


def test_rollback_of_protected_target(fraud, as_user):
    protect(fraud, required_approvals=1)
    for version in ("1", "2"):
        request = fraud.request_transition("fraud", version, alias="champion")
        as_user("bob").approve_request(request.id)
    assert fraud.rollback("fraud", alias="champion").version == "1"  # an emergency needs no vote...
    protect(fraud, required_approvals=1, rollback_requires_approval=True)
    with pytest.raises(PermissionDenied, match="requires approval for rollbacks"):
        fraud.rollback("fraud", alias="champion")  # ...unless the policy says so


def test_requests_are_listed_and_audited(fraud, as_user):
    from runstone.governance.audit import AuditService

    protect(fraud, required_approvals=1)
    request = fraud.request_transition("fraud", "2", stage="Production", comment="go")
    as_user("bob").approve_request(request.id, "ok")
    assert [r.id for r in fraud.search_requests("fraud")] == [request.id]
    assert fraud.search_requests(status="open") == []
    actions = [e.action for e in AuditService(fraud.ctx.db).events(target_type="registered_model", target_id="fraud")]
    assert actions[-3:] == ["registry.request_opened", "registry.request_approved", "registry.transition_stage"]


def test_leaving_a_protected_stage_is_guarded_like_entering_it(fraud, as_user):
    protect(fraud, required_approvals=1)
    promotion = fraud.request_transition("fraud", "1", stage="Production")
    as_user("bob").approve_request(promotion.id)
    for stage in ("Archived", "Staging", "None"):
        with pytest.raises(PermissionDenied, match="Version 1 of 'fraud' is in the protected stage 'Production'"):
            fraud.transition_model_version_stage("fraud", "1", stage)
    demotion = fraud.request_transition("fraud", "1", stage="Archived", comment="retire it")
    assert demotion.status == "open", "a request to leave Production waits for its approval"
    assert fraud.get_model_version("fraud", "1").current_stage == "Production"
    as_user("bob").approve_request(demotion.id)
    assert fraud.get_model_version("fraud", "1").current_stage == "Archived"
    assert fraud.holders_at("fraud", time=fraud.clock(), stage="Production") == []
    fraud.transition_model_version_stage("fraud", "1", "Staging")  # Archived is not protected


def test_versions_holding_protected_targets_cannot_be_deleted(fraud, as_user):
    protect(fraud, required_approvals=1)
    for change in ({"stage": "Production"}, {"alias": "champion"}):
        request = fraud.request_transition("fraud", "2", **change)
        as_user("bob").approve_request(request.id)
    with pytest.raises(PermissionDenied, match="holds the protected stage 'Production' and alias 'champion'"):
        fraud.delete_model_version("fraud", "2")
    with pytest.raises(PermissionDenied, match="still holds its protected stage 'Production' and alias 'champion'"):
        fraud.delete_registered_model("fraud")
    with pytest.raises(PermissionDenied, match="never removed while the policy protects it"):
        fraud.delete_registered_model_alias("fraud", "champion")
    assert fraud.get_model_version_by_alias("fraud", "champion").version == "2"
    fraud.delete_model_version("fraud", "3")  # holds nothing protected
    fraud.set_policy("fraud", Policy())
    fraud.delete_registered_model("fraud")


def test_a_deleted_version_leaves_its_stage_in_the_history(fraud, clock):
    fraud.transition_model_version_stage("fraud", "1", "Production")
    fraud.transition_model_version_stage("fraud", "2", "Production")
    clock.advance(1000)
    fraud.delete_model_version("fraud", "2")
    assert fraud.holders_at("fraud", time=clock.now - 1, stage="Production") == ["2", "1"]
    assert fraud.holders_at("fraud", time=clock.now, stage="Production") == ["1"]
    last = fraud.get_model_history("fraud", kind="stage")[-1]
    assert (last.version, last.target, last.reason) == ("2", "None", "version 2 deleted")


def test_rollback_skips_versions_that_were_deleted(fraud):
    for version in ("1", "2", "3"):
        fraud.set_registered_model_alias("fraud", "champion", version)
    fraud.delete_model_version("fraud", "2")
    assert fraud.rollback("fraud", alias="champion").version == "1"
