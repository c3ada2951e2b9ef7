"""The registry through RunstoneClient, embedded and over HTTP: same calls, same answers."""

from __future__ import annotations

import pytest

from runstone.entities import Gate, Policy
from runstone.errors import AlreadyExists, NotFound, PermissionDenied


@pytest.fixture(params=["local", "remote"])
def client(request, local_client, remote_client):
    return local_client if request.param == "local" else remote_client


def logged_model(client, accuracy: float) -> str:
    run = client.create_run("0")
    client.log_metric(run.info.run_id, "accuracy", accuracy)
    client.log_text(run.info.run_id, "flavors: {}\n", "model/MLmodel")
    return f"runs:/{run.info.run_id}/model"


def test_mlflow_named_registry_calls(client):
    client.create_registered_model("fraud", tags={"team": "risk"}, description="fraud detector")
    with pytest.raises(AlreadyExists):
        client.create_registered_model("fraud")
    v1 = client.create_model_version("fraud", logged_model(client, 0.9), tags={"k": "v"})
    v2 = client.create_model_version("fraud", logged_model(client, 0.95))
    assert (v1.version, v2.version) == ("1", "2")
    assert client.get_model_version("fraud", 1).tags == {"k": "v"}
    assert client.get_model_version_download_uri("fraud", 2) == v2.source
    client.set_registered_model_alias("fraud", "champion", 2)
    assert client.get_model_version_by_alias("fraud", "champion").version == "2"
    client.transition_model_version_stage("fraud", 1, "Production")
    assert [v.version for v in client.get_latest_versions("fraud", ["Production"])] == ["1"]
    client.set_registered_model_tag("fraud", "owner", "ana")
    client.set_model_version_tag("fraud", 2, "validated", True)
    model = client.get_registered_model("fraud")
    assert model.tags == {"team": "risk", "owner": "ana"}
    assert model.aliases == {"champion": "2"}
    assert [m.name for m in client.search_registered_models("name LIKE 'fr%'")] == ["fraud"]
    assert [v.version for v in client.search_model_versions("name = 'fraud' and tags.validated = 'True'")] == ["2"]
    client.update_model_version("fraud", 2, "the better one")
    client.rename_registered_model("fraud", "fraud-detector")
    assert client.get_model_version("fraud-detector", 2).description == "the better one"
    client.delete_registered_model_alias("fraud-detector", "champion")
    with pytest.raises(NotFound):
        client.get_model_version_by_alias("fraud-detector", "champion")
    client.delete_model_version("fraud-detector", 1)
    client.delete_registered_model("fraud-detector")
    with pytest.raises(NotFound):
        client.get_registered_model("fraud-detector")


def test_governance_calls(client):
    client.create_registered_model("m")
    client.create_model_version("m", logged_model(client, 0.9))
    client.create_model_version("m", logged_model(client, 0.8))
    client.set_model_policy("m", Policy(protected_aliases=["champion"], gates=[Gate("accuracy", ">=", 0.85)]))
    assert client.get_model_policy("m").gates == [Gate("accuracy", ">=", 0.85)]
    with pytest.raises(PermissionDenied):
        client.set_registered_model_alias("m", "champion", 1)
    request = client.request_transition("m", 1, alias="champion", comment="first champion")
    assert request.evidence["gates"][0]["passed"] is True
    with pytest.raises(PermissionDenied, match="own request"):
        client.approve_request(request.id)
    assert [r.id for r in client.search_requests("m", "open")] == [request.id]
    assert client.get_request(request.id).comment == "first champion"
    assert client.cancel_request(request.id).status == "cancelled"
    history = client.get_model_history("m")
    assert history == []
    client.set_model_policy("m", Policy())
    client.set_registered_model_alias("m", "champion", 1)
    client.set_registered_model_alias("m", "champion", 2)
    assert client.rollback("m", alias="champion", comment="v2 misbehaves").version == "1"
    assert [a.version for a in client.get_model_history("m", kind="alias")] == ["1", "2", "1"]
    assert client.get_model_holders("m", time=history[-1].time if history else 10**15, alias="champion") == ["1"]


def test_over_http_the_approver_is_another_caller(remote_client, http, settings):
    from runstone.sdk.client import RunstoneClient

    def as_user(user: str) -> RunstoneClient:
        return RunstoneClient(
            "http://testserver",
            http_client=http,
            settings=settings.model_copy(update={"user": user, "http_retries": 0}),
        )

    alice, bob = as_user("alice"), as_user("bob")
    alice.create_registered_model("m")
    alice.create_model_version("m", logged_model(alice, 0.9))
    alice.set_model_policy("m", Policy(protected_stages=["Production"], required_approvals=1))
    request = alice.request_transition("m", 1, stage="Production", comment="ship")
    assert request.requested_by == "alice"
    with pytest.raises(PermissionDenied, match="own request"):
        alice.approve_request(request.id)
    approved = bob.approve_request(request.id, "checked")
    assert approved.status == "approved" and [a.approver for a in approved.approvals] == ["bob"]
    assert alice.get_model_version("m", 1).current_stage == "Production"
    [event] = alice.get_model_history("m")
    assert (event.actor, event.request_id, event.reason) == ("bob", request.id, f"approved request {request.id}")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        (
            "GET",
            "/api/v1/registered-models/m/versions/99999999999999999999",
            None,
            404,
            "Model version 99999999999999999999",
        ),
        ("GET", "/api/v1/registered-models/m/versions/-1", None, 400, "positive integer"),
        ("PUT", "/api/v1/registered-models/m/aliases/champion", {"version": "3000000000"}, 404, "not found"),
        ("GET", "/api/v1/approval-requests/99999999999999999999", None, 404, "Approval request"),
        ("POST", "/api/v1/approval-requests/99999999999999999999/approve", {}, 404, "Approval request"),
        ("GET", "/api/v1/registered-models/m/holders?time=99999999999999999999&stage=Production", None, 200, ""),
        ("DELETE", "/api/v1/webhooks/99999999999999999999", None, 404, "Webhook"),
        ("POST", "/api/v1/webhooks", {"name": "x", "url": "http://[::1/x", "events": ["*"]}, 400, "not a valid URL"),
        ("POST", "/api/v1/webhooks", {"name": "x", "url": "http://h:99999/x", "events": ["*"]}, 400, "not a valid URL"),
        ("POST", "/api/v1/webhooks", {"name": "x", "url": "http://h/" + "x" * 3000, "events": ["*"]}, 400, "at most"),
        (
            "POST",
            "/api/v1/webhooks",
            {"name": "x", "url": "http://8.8.8.8/", "events": ["*"], "secret": "short"},
            400,
            "secret",
        ),
    ],
)
def test_out_of_range_and_malformed_input_is_a_clear_4xx(http, method, path, body, status, fragment):
    http.post("/api/v1/registered-models", json={"name": "m"})
    response = http.request(method, path, json=body)
    assert response.status_code == status, response.text
    if fragment:
        assert fragment in response.json()["error"]["message"]
