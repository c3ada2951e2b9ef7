"""The registry pages: models list, a model with its versions, stages, aliases and timeline, a version."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from ui_support import cells, element, text

from runstone.entities import Dataset, Gate, Policy


@pytest.fixture
def fraud(as_user, logged_model):
    """Model "fraud": version 1 (accuracy 0.90) in Production, version 2 (0.95) holding @champion."""
    alice = as_user("alice")
    alice.create_registered_model("fraud", description="# Fraud detector\nScores card payments.")
    alice.create_model_version("fraud", logged_model(0.90, "train-a"), description="First cut")
    alice.create_model_version("fraud", logged_model(0.95, "train-b"))
    alice.transition_model_version_stage("fraud", "1", "Production", reason="first release")
    alice.set_registered_model_alias("fraud", "champion", "2", reason="best so far")
    return alice


def protect(registry, **changes):
    policy = Policy(protected_stages=["Production"], protected_aliases=["champion"], required_approvals=1)
    for key, value in changes.items():
        setattr(policy, key, value)
    registry.set_policy("fraud", policy)


def test_models_list_shows_aliases_stages_and_pending_requests(browser, fraud, as_user):
    fraud.create_registered_model("churn")
    protect(fraud)
    fraud.request_transition("fraud", "2", stage="Production")

    page = browser.get("/ui/models").text

    assert cells(page, 'href="/ui/models/fraud"')[:4] == [
        "fraud 1 pending request",
        "Fraud detector",
        "@champion → v2",
        "Production v1 None v2",
    ]
    assert cells(page, 'href="/ui/models/churn"')[:4] == ["churn", "", "—", "no versions"]
    assert 'href="/ui/models" aria-current="true">Models</a>' in page
    assert "Acting as tester" in text(page)  # the X-Runstone-User header of the test client
    found = browser.get("/ui/models", params={"q": "FRA"}).text
    assert "/ui/models/fraud" in found and "/ui/models/churn" not in found
    assert "No model name contains “zzz”" in browser.get("/ui/models", params={"q": "zzz"}).text


def test_model_page_lists_versions_holders_and_policy(browser, fraud):
    protect(fraud, gates=[Gate("accuracy", ">=")], required_approvals=2)

    page = browser.get("/ui/models/fraud").text

    version_two = cells(page, 'data-version="2"')
    assert version_two[:4] == ["Version 2", "None", "@champion", "train-b"]
    assert version_two[4].startswith("runs:/") and version_two[6] == "alice"
    assert cells(page, 'data-version="1"')[7] == "First cut"
    holders = element(page, "section", "holders")
    assert cells(holders, 'data-target="Production"')[:2] == ["Production", "version 1"]
    assert "protected 2 approvals" in cells(holders, 'data-target="champion"')[3]
    assert cells(holders, 'data-target="Staging"')[1] == "nobody"
    policy = text(holders)
    assert "Protected stages Production" in policy
    assert "metrics.accuracy >= the current holder's" in policy
    assert "Production (protected: needs a request)" in policy
    assert "<h1>Fraud detector</h1>" in page  # the description is markdown


def test_description_and_tags_are_edited_in_place(browser, fraud):
    saved = browser.post("/ui/models/fraud/description", {"description": "Now with **recall** numbers."})
    assert "<strong>recall</strong>" in saved.text
    assert "Saved the description." in text(element(saved.text, "section", "description"))
    assert fraud.get_registered_model("fraud").description == "Now with **recall** numbers."

    browser.post("/ui/models/fraud/tags", {"key": "team", "value": "risk"})
    tagged = browser.post("/ui/models/fraud/tags", {"key": "team", "value": "payments"})
    assert cells(tagged.text, '<th scope="row">team</th>')[:2] == ["team", "payments"]
    browser.post("/ui/models/fraud/tags/delete", {"key": "team"})
    assert fraud.get_registered_model("fraud").tags == {}
    missing_key = browser.post("/ui/models/fraud/tags", {"key": " ", "value": "x"})
    assert "Give the tag a key" in text(element(missing_key.text, "section", "tags"))


def test_stage_and_alias_changes_show_in_the_timeline(browser, fraud):
    moved = browser.post(
        "/ui/models/fraud/stage", {"version": "2", "stage": "staging", "archive_existing": "1", "comment": "try it"}
    )
    assert "Moved version 2 to Staging" in text(element(moved.text, "section", "holders"))
    browser.post("/ui/models/fraud/alias", {"alias": "challenger", "version": "2", "comment": "shadow traffic"})
    page = browser.post("/ui/models/fraud/alias/delete", {"alias": "champion"}).text

    assert fraud.get_model_version("fraud", "2").current_stage == "Staging"
    assert fraud.get_registered_model("fraud").aliases == {"challenger": "2"}
    history = element(page, "section", "timeline")
    newest = [cells(row, "<td") for row in re.findall(r"<tr class=[^>]*>.*?</tr>", history, re.S)][:3]
    assert [row[1:4] for row in newest] == [
        ["@champion", "removed", "version 2"],
        ["@challenger", "version 2", "—"],
        ["Staging", "version 2", "—"],
    ]
    assert newest[1][4:6] == ["tester", "shadow traffic"]
    staging = re.search(r'<div class="tl-row" data-target="Staging".*?</div>\s*</div>', history, re.S)
    assert staging and 'data-version="2"' in staging.group(0)
    assert "holding" in staging.group(0)  # still in Staging: the bar reaches "now"


def test_a_protected_target_leads_to_the_request_form(browser, fraud):
    protect(fraud)

    stage = browser.post(
        "/ui/models/fraud/stage", {"version": "2", "stage": "Production", "comment": "better"}, follow=False
    )
    form = browser.get(stage.headers["location"]).text
    alias = browser.post("/ui/models/fraud/alias", {"alias": "champion", "version": "1"})

    assert fraud.get_model_version("fraud", "2").current_stage == "None"
    assert fraud.get_registered_model("fraud").aliases == {"champion": "2"}
    target = urllib.parse.urlsplit(stage.headers["location"])
    assert target.path == "/ui/models/fraud/request"
    assert urllib.parse.parse_qs(target.query) == {"version": ["2"], "stage": ["Production"], "comment": ["better"]}
    assert (
        "Stage 'Production' of 'fraud' is protected: it changes only through a request approved by 1 approver."
        in text(form)
    )
    assert '<option value="2" selected>' in form
    assert '<option value="Production" selected>' in form
    assert ">better</textarea>" in form
    assert 'Now held by <a href="/ui/models/fraud/versions/1">version 1</a>.' in form
    assert alias.url.path == "/ui/models/fraud/request" and alias.url.params["alias"] == "champion"
    assert "Alias 'champion' of 'fraud' is protected" in text(alias.text)


def test_moving_a_version_out_of_a_protected_stage_leads_to_the_request_form(browser, fraud):
    protect(fraud)

    moved = browser.post("/ui/models/fraud/stage", {"version": "1", "stage": "Archived", "comment": "retire"})

    assert fraud.get_model_version("fraud", "1").current_stage == "Production"
    assert moved.url.path == "/ui/models/fraud/request" and moved.url.params["stage"] == "Archived"
    assert (
        "Version 1 of 'fraud' is in the protected stage 'Production': it leaves it only through a request "
        "approved by 1 approver." in text(moved.text)
    )


def test_rollback_goes_back_and_is_marked_or_asks_for_a_request_when_the_policy_says_so(browser, fraud):
    fraud.transition_model_version_stage("fraud", "2", "Production", archive_existing_versions=True)
    protect(fraud, rollback_requires_approval=True)

    protected = browser.get("/ui/models/fraud").text
    posted = browser.post("/ui/models/fraud/rollback", {"kind": "stage", "target": "Production"}, follow=False)

    link = re.search(r'<a href="([^"]+)">Request rollback to version 1</a>', protected)
    assert link is not None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query["version"] == ["1"] and query["stage"] == ["Production"]
    assert fraud.get_model_version("fraud", "2").current_stage == "Production"
    assert "version=1" in posted.headers["location"] and "stage=Production" in posted.headers["location"]
    form = browser.get(posted.headers["location"]).text
    assert "is protected: it is rolled back only through a request" in text(form)

    fraud.set_policy("fraud", Policy())
    before = element(browser.get("/ui/models/fraud").text, "section", "holders")
    assert "Roll back to version 1" in cells(before, 'data-target="Production"')[4]
    page = browser.post(
        "/ui/models/fraud/rollback", {"kind": "stage", "target": "Production", "comment": "latency regression"}
    ).text

    assert fraud.get_model_version("fraud", "1").current_stage == "Production"
    assert "Rolled Production back to version 1." in text(element(page, "section", "holders"))
    newest = cells(page, 'class="rollback"')
    assert newest[1:3] == ["Production", "version 1 rollback"]
    assert newest[5] == "rollback from version 2: latency regression"
    assert re.search(r'class="tl-bar holding rollback"[^>]*data-version="1"', page)


def test_version_page_links_to_its_run_metrics_and_datasets(browser, fraud, as_user):
    version = fraud.get_model_version("fraud", "1")
    tracking = as_user("alice").tracking
    tracking.log_inputs(version.run_id, [(Dataset("payments", "d1g35t", "path", "/data/p"), {})])
    fraud.set_model_version_tag("fraud", "1", "validated", "yes")
    fraud.transition_model_version_stage("fraud", "2", "Production", archive_existing_versions=True)

    page = browser.get("/ui/models/fraud/versions/1").text

    assert f'<a href="/ui/runs/{version.run_id}">train-a</a>' in page
    assert f'href="/ui/runs/{version.run_id}#metrics"' in page
    assert f'href="/ui/runs/{version.run_id}#datasets"' in page
    assert f'href="/ui/runs/{version.run_id}/artifacts?path=model"' in page
    assert cells(page, '<th scope="row">accuracy</th>') == ["accuracy", "0.9"]
    assert cells(page, "d1g35t")[:3] == ["payments", "", "d1g35t"]
    assert cells(page, '<th scope="row">validated</th>')[:2] == ["validated", "yes"]
    history = element(page, "section", "history")
    assert [cells(row, "<td")[1] for row in re.findall(r"<tr class=.*?</tr>", history, re.S)] == [
        "Archived",
        "Production",
    ]
    edited = browser.post("/ui/models/fraud/versions/1/description", {"description": "Retired: _slow_."})
    assert "<em>slow</em>" in edited.text
    browser.post("/ui/models/fraud/versions/1/tags/delete", {"key": "validated"})
    assert fraud.get_model_version("fraud", "1").tags == {}


def test_odd_model_names_have_working_links(browser, as_user, logged_model):
    name = "fraud #2? 100% sure"
    alice = as_user("alice")
    alice.create_registered_model(name)
    alice.create_model_version(name, logged_model(0.5))

    listing = browser.get("/ui/models").text
    url = "/ui/models/" + urllib.parse.quote(name, safe="")

    assert f'href="{url}"' in listing
    assert browser.get(url).status_code == 200
    assert browser.get(url + "/versions/1").status_code == 200
    browser.post(url + "/alias", {"alias": "best", "version": "1"})
    assert alice.get_registered_model(name).aliases == {"best": "1"}


def test_mistakes_are_shown_on_the_page_not_as_server_errors(browser, fraud):
    bad_alias = browser.post("/ui/models/fraud/alias", {"alias": "no spaces", "version": "1"})
    no_version = browser.post("/ui/models/fraud/stage", {"version": "9", "stage": "Staging"})
    nothing_before = browser.post("/ui/models/fraud/rollback", {"kind": "alias", "target": "champion"})

    assert bad_alias.status_code == 200
    assert "may contain only letters" in text(element(bad_alias.text, "section", "holders"))
    assert "version 9" in text(element(no_version.text, "section", "holders")).lower()
    assert "no earlier version" in text(element(nothing_before.text, "section", "holders"))
    missing = browser.get("/ui/models/nope")
    assert missing.status_code == 404 and "Registered model 'nope' not found" in text(missing.text)
    assert browser.get("/ui/models/fraud/versions/x").status_code == 400
    assert browser.get("/ui/models/fraud/versions/7").status_code == 404


def test_version_page_shows_the_manifest_digest_of_its_files(browser, fraud):
    digest = fraud.get_model_version("fraud", "1").manifest_digest
    assert digest is not None and re.fullmatch(r"[0-9a-f]{64}", digest)
    page = browser.get("/ui/models/fraud/versions/1").text
    assert re.search(rf"<dt>Manifest</dt><dd><code class=\"digest\"[^>]*>{digest}</code>", page)
