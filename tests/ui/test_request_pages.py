"""Approval requests in the UI: opening one, its evidence, approving, rejecting, cancelling, refusals."""

from __future__ import annotations

import pytest
from ui_support import cells, element, text

from runstone.entities import Gate, Policy


@pytest.fixture
def fraud(as_user, logged_model):
    """Model "fraud": version 1 (accuracy 0.90) in Production; version 2 (0.95) and 3 (0.80) waiting.
    Production and @champion are protected: two approvals, and accuracy may not drop."""
    alice = as_user("alice")
    alice.create_registered_model("fraud")
    for accuracy in (0.90, 0.95, 0.80):
        alice.create_model_version("fraud", logged_model(accuracy))
    alice.transition_model_version_stage("fraud", "1", "Production")
    alice.set_policy(
        "fraud",
        Policy(
            protected_stages=["Production"],
            protected_aliases=["champion"],
            required_approvals=2,
            gates=[Gate("accuracy", ">=")],
        ),
    )
    return alice


def card(html: str, request_id: int) -> str:
    return element(html, "article", f"request-{request_id}")


def test_a_promotion_is_requested_approved_by_two_others_and_lands_in_the_timeline(browser, fraud):
    opened = browser.post(
        "/ui/models/fraud/requests",
        {"version": "2", "stage": "Production", "archive_existing": "1", "comment": "recall +4 points"},
    )
    request_id = fraud.search_requests("fraud")[0].id

    assert opened.url.path == f"/ui/requests/{request_id}"
    mine = card(opened.text, request_id)
    assert f"Opened request {request_id}: it needs 2 approvals by someone else." in text(mine)
    assert "Requested by tester" in text(mine) and "recall +4 points" in mine
    assert cells(mine, '<th scope="row">accuracy') == ["accuracy (gate)", "0.95", "0.9", "+0.05"]
    assert "Pass metrics.accuracy 0.95 >= the current holder's 0.9: passed" in text(mine)
    assert "Approvals: 0 of 2" in text(mine)
    assert "Cancel request" in mine and "Approve" not in mine  # the requester cannot approve

    own = browser.post(f"/ui/requests/{request_id}/approve", {"next": f"/ui/requests/{request_id}"})
    assert own.status_code == 200
    assert "The requester cannot approve their own request" in text(card(own.text, request_id))

    first = browser.post(
        f"/ui/requests/{request_id}/approve", {"comment": "numbers check out", "next": "/ui/requests"}, user="bob"
    )
    assert first.url.path == "/ui/requests"
    assert "needs more approvals" in text(card(first.text, request_id))
    assert "Approvals: 1 of 2 bob approved" in text(card(first.text, request_id))
    assert "You approved this request." in text(card(first.text, request_id))
    assert fraud.get_model_version("fraud", "2").current_stage == "None"

    second = browser.post(
        f"/ui/requests/{request_id}/approve", {"comment": "ship it", "next": "/ui/models/fraud"}, user="carol"
    )
    assert f"Approved request {request_id}: version 2 now holds Production." in text(second.text)
    assert fraud.get_model_version("fraud", "2").current_stage == "Production"
    newest = cells(element(second.text, "section", "timeline"), 'data-target="Production" data-version="2"')
    assert newest[1:5] == ["Production", "version 2", "version 1", "carol"]
    assert newest[6] == f"#{request_id}"
    assert "No pending requests." in text(element(second.text, "section", "requests"))
    approved = browser.get("/ui/requests", params={"status": "approved"}).text
    assert "carol approved" in text(card(approved, request_id)) and "ship it" in approved
    version_page = element(browser.get("/ui/models/fraud/versions/2").text, "section", "requests")
    assert cells(version_page, f"#{request_id}")[1:4] == ["Production", "approved", "tester"]


def test_a_failing_gate_stops_the_approval_with_a_message(browser, fraud):
    request_id = fraud.request_transition("fraud", "3", stage="Production").id

    page = browser.get("/ui/requests").text
    model_page = browser.get("/ui/models/fraud").text
    refused = browser.post(f"/ui/requests/{request_id}/approve", {"next": "/ui/models/fraud"}, user="bob")

    assert "Fail metrics.accuracy 0.8 >= the current holder's 0.9: failed" in text(card(page, request_id))
    assert cells(card(page, request_id), '<th scope="row">accuracy')[3] == "-0.1"
    pending = element(model_page, "section", "requests")
    assert "1 pending request" in text(model_page)
    assert f'action="/ui/requests/{request_id}/approve"' in pending
    assert f'formaction="/ui/requests/{request_id}/reject"' in pending
    assert 'name="next" value="/ui/models/fraud"' in pending
    assert refused.url.path == "/ui/models/fraud" and refused.status_code == 200
    assert "The request does not pass its gates" in text(card(refused.text, request_id))
    assert fraud.get_request(request_id).status == "open"


def test_reject_and_cancel(browser, fraud, as_user):
    rejected_id = fraud.request_transition("fraud", "2", alias="champion").id
    cancelled_id = as_user("tester").request_transition("fraud", "2", stage="Production").id

    not_yours = browser.post(f"/ui/requests/{rejected_id}/cancel", {"next": "/ui/requests"})
    rejected = browser.post(
        f"/ui/requests/{rejected_id}/reject", {"comment": "wait for the audit", "next": "/ui/requests"}
    )
    cancelled = browser.post(f"/ui/requests/{cancelled_id}/cancel", {"next": "/ui/models/fraud"})

    assert "Only the requester can cancel a request." in text(card(not_yours.text, rejected_id))
    assert f"Rejected request {rejected_id}." in text(rejected.text)
    assert fraud.get_request(rejected_id).status == "rejected"
    assert fraud.get_request(cancelled_id).status == "cancelled"
    assert f"Cancelled request {cancelled_id}." in text(cancelled.text)
    history = browser.get("/ui/requests", params={"status": "all", "model": "fraud"}).text
    assert "tester rejected" in text(card(history, rejected_id)) and "wait for the audit" in history
    assert "cancelled" in text(card(history, cancelled_id))
    late = browser.post(f"/ui/requests/{rejected_id}/approve", {"next": f"/ui/requests/{rejected_id}"}, user="bob")
    assert f"Request {rejected_id} is rejected, not open." in text(card(late.text, rejected_id))


def test_a_request_for_an_unprotected_target_applies_at_once(browser, fraud):
    page = browser.post("/ui/models/fraud/requests", {"version": "3", "alias": "challenger", "comment": "shadow"})

    assert "it is not protected, so request" in text(element(page.text, "section", "holders"))
    assert fraud.get_registered_model("fraud").aliases == {"challenger": "3"}
    blank = browser.post("/ui/models/fraud/requests", {"version": "2", "comment": "which one?"})
    assert blank.url.path == "/ui/models/fraud/request"
    assert "Name exactly one of a stage or an alias." in text(blank.text)
    assert ">which one?</textarea>" in blank.text  # what was typed is kept
    assert browser.get("/ui/requests", params={"status": "bogus"}).status_code == 400


def test_forged_registry_posts_change_nothing(browser, fraud):
    request_id = fraud.request_transition("fraud", "2", stage="Production").id
    browser.get("/ui/models")
    forged = [
        browser.http.post(
            f"/ui/requests/{request_id}/approve", data={"comment": "x"}, headers={"X-Runstone-User": "bob"}
        ),
        browser.http.post("/ui/models/fraud/stage", data={"version": "3", "stage": "Staging", "csrf_token": "y" * 43}),
        browser.http.post(
            "/ui/models/fraud/rollback",
            data={"kind": "stage", "target": "Production", "csrf_token": browser.token()},
            headers={"Origin": "https://evil.example"},
        ),
    ]

    assert [r.status_code for r in forged] == [403, 403, 403]
    assert fraud.get_request(request_id).approvals == []
    assert fraud.get_model_version("fraud", "3").current_stage == "None"
    assert fraud.get_model_version("fraud", "1").current_stage == "Production"
