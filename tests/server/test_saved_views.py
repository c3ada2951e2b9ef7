"""Saved views in the native API: named states of an experiment page, listed, read, changed and
deleted; bad input refused with what was wrong, every change audited."""

from __future__ import annotations


def test_views_are_saved_listed_changed_and_deleted(http):
    experiment = http.post("/api/v1/experiments", json={"name": "views"}).json()["experiment"]["experiment_id"]
    base = f"/api/v1/experiments/{experiment}/views"
    state = {"query": "filter=metrics.loss+%3C+1&cols=1&col=metrics.loss", "workspace": {"group": ["params.lr"]}}
    created = http.post(base, json={"name": " best runs ", "state": state})
    assert created.status_code == 201
    view = created.json()["view"]
    assert view["name"] == "best runs" and view["state"] == state and view["experiment_id"] == experiment
    http.post(base, json={"name": "all", "state": {}})
    assert [v["name"] for v in http.get(base).json()["views"]] == ["all", "best runs"]

    changed = http.patch(f"{base}/{view['view_id']}", json={"name": "best", "state": {"query": "order=x"}}).json()
    assert changed["view"]["name"] == "best" and changed["view"]["state"] == {"query": "order=x"}
    assert http.get(f"{base}/{view['view_id']}").json()["view"]["name"] == "best"
    assert http.delete(f"{base}/{view['view_id']}").json() == {}
    assert http.get(f"{base}/{view['view_id']}").status_code == 404
    actions = [e["action"] for e in http.get("/api/v1/audit", params={"target_type": "view"}).json()["events"]]
    assert {"view.create", "view.update", "view.delete"} <= set(actions)


def test_bad_views_are_refused_and_nothing_is_written(http):
    experiment = http.post("/api/v1/experiments", json={"name": "bad-views"}).json()["experiment"]["experiment_id"]
    base = f"/api/v1/experiments/{experiment}/views"

    def refused(body, status=400):
        response = http.post(base, json=body)
        assert response.status_code == status, response.text
        return response.json()["error"]["message"]

    assert refused({"name": "  "}) == "Give the view a name."
    assert "at most 200 characters" in refused({"name": "x" * 201})
    assert refused({"name": "q", "state": {"query": 3}}) == "A view's state.query must be a query string."
    assert refused({"name": "w", "state": {"workspace": []}}) == "A view's state.workspace must be a JSON object."
    assert "at most 65,536 bytes" in refused({"name": "big", "state": {"query": "x" * 70_000}})
    assert http.get(base).json()["views"] == []
    http.post(base, json={"name": "one"})
    assert "already has a view named 'one'" in refused({"name": "one"}, 409)
    assert http.get("/api/v1/experiments/999999/views").status_code == 404
    assert http.get(f"{base}/abc").status_code == 400
    other = http.post("/api/v1/experiments", json={"name": "other"}).json()["experiment"]["experiment_id"]
    mine = http.get(base).json()["views"][0]["view_id"]
    assert http.get(f"/api/v1/experiments/{other}/views/{mine}").status_code == 404  # not another experiment's
