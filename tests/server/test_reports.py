"""Reports in the native API: created, listed, edited into revisions, read at any revision; bad
input refused with what was wrong (a bad embed names its line), every change audited."""

from __future__ import annotations


def test_reports_are_created_edited_into_revisions_and_listed(http):
    created = http.post(
        "/api/v1/reports", json={"title": " Study ", "body": "# One\n\n@panel experiment=0 metric=loss\n"}
    )
    assert created.status_code == 201
    report = created.json()["report"]
    assert report["title"] == "Study" and report["revision"] == 1 and report["latest_revision"] == 1
    base = f"/api/v1/reports/{report['report_id']}"
    edited = http.patch(base, json={"body": "# Two\n"}).json()["report"]
    assert edited["revision"] == 2 and edited["title"] == "Study" and edited["body"] == "# Two\n"
    assert http.get(base).json()["report"]["body"] == "# Two\n"
    old = http.get(base, params={"revision": 1}).json()["report"]
    assert old["body"].startswith("# One") and old["latest_revision"] == 2
    assert [r["revision"] for r in http.get(f"{base}/revisions").json()["revisions"]] == [2, 1]
    assert report["report_id"] in [r["report_id"] for r in http.get("/api/v1/reports").json()["reports"]]
    assert http.get(base, params={"revision": 9}).status_code == 404
    events = http.get("/api/v1/audit", params={"target_type": "report"}).json()["events"]
    assert [e["action"] for e in events if e["target_id"] == report["report_id"]] == ["report.create", "report.update"]


def test_bad_reports_are_refused_and_nothing_is_written(http):
    def refused(body):
        response = http.post("/api/v1/reports", json=body)
        assert response.status_code == 400, response.text
        return response.json()["error"]["message"]

    before = len(http.get("/api/v1/reports").json()["reports"])
    assert refused({"title": " "}) == "Give the report a title."
    assert (
        refused({"title": "t", "body": "text\n@panel metric=loss"})
        == "Line 2: @panel needs experiment=<experiment id>."
    )
    assert refused({"title": "t", "body": "@panel experiment=1"}) == "Line 1: @panel needs metric=<metric key>."
    assert refused({"title": "t", "body": "@table experiment=1 columns=loss"}).startswith(
        "Line 1: a column is metrics.<key>"
    )
    assert (
        refused({"title": "t", "body": "@table experiment=1 colour=red"})
        == "Line 1: @table takes columns, experiment, runs, not 'colour'."
    )
    assert "at most 30 panels and tables" in refused({"title": "t", "body": "@panel experiment=1 metric=x\n" * 31})
    assert "at most 200,000 characters" in refused({"title": "t", "body": "x" * 200_001})
    assert len(http.get("/api/v1/reports").json()["reports"]) == before
    assert http.get("/api/v1/reports/abc").status_code == 400
    assert http.get("/api/v1/reports/999999").status_code == 404


def test_a_run_and_a_model_version_can_be_attached(http):
    run_id = "ab" * 16
    body = f"@run id={run_id}\n@model name=fraud version=3\n"
    assert http.post("/api/v1/reports", json={"title": "attached", "body": body}).status_code == 201
    refused = http.post("/api/v1/reports", json={"title": "t", "body": "@run id=xyz"})
    assert refused.json()["error"]["message"] == "Line 1: @run needs id=<run id> (32 hex characters)."
    refused = http.post("/api/v1/reports", json={"title": "t", "body": "@model name=fraud"})
    assert "@model needs name=<registered model> and version=<number>" in refused.json()["error"]["message"]
