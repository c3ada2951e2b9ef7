"""Deployment records: where each model version is served, since when, by whom, as audit
events; through the service, the REST API, the SDK (embedded and over HTTP) and the CLI."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from runstone.errors import InvalidInput, NotFound
from runstone.governance.context import Principal
from runstone.registry.deployments import DeploymentService


@pytest.fixture(params=["local", "remote"])
def client(request, local_client, remote_client):
    return local_client if request.param == "local" else remote_client


def registered(client, name: str = "fraud", versions: int = 2) -> None:
    client.create_registered_model(name)
    for _ in range(versions):
        run = client.create_run("0")
        client.log_text(run.info.run_id, "flavors: {}\n", "model/MLmodel")
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)


def test_recording_listing_and_ending(client):
    registered(client)
    first = client.record_deployment("fraud-api", "fraud", 1, target="https://score.example/fraud", description="k8s")
    assert (first.name, first.model_name, first.version, first.target) == (
        "fraud-api", "fraud", "1", "https://score.example/fraud",
    )  # fmt: skip
    assert first.active and first.end_time is None and first.start_time > 0
    batch = client.record_deployment("nightly-batch", "fraud", "1", target="airflow:score_fraud")
    # The same name serving a new version: the previous record ends.
    second = client.record_deployment("fraud-api", "fraud", 2, target="https://score.example/fraud")
    assert client.get_deployment(first.id).end_time == second.start_time
    active = client.list_deployments("fraud", active_only=True)
    assert [(d.name, d.version) for d in active] == [("fraud-api", "2"), ("nightly-batch", "1")]
    history = client.list_deployments(name="fraud-api")
    assert [d.version for d in history] == ["2", "1"]
    assert [d.id for d in client.list_deployments("fraud", version=1)] == [batch.id, first.id]
    ended = client.end_deployment(batch.id)
    assert not ended.active and ended.ended_by == client.user
    assert client.end_deployment(batch.id).end_time == ended.end_time  # ending twice changes nothing
    assert [d.name for d in client.list_deployments(active_only=True)] == ["fraud-api"]


def test_unknown_models_versions_and_bad_names_are_refused(client):
    registered(client, versions=1)
    with pytest.raises(NotFound, match="nope"):
        client.record_deployment("x", "nope", 1)
    with pytest.raises(NotFound, match="version 9"):
        client.record_deployment("x", "fraud", 9)
    with pytest.raises(InvalidInput, match="Deployment name"):
        client.record_deployment("bad\nname", "fraud", 1)
    with pytest.raises(NotFound, match="Deployment 404"):
        client.end_deployment(404)


def test_each_change_is_an_audit_event_on_the_model(backend, clock):
    ctx = backend.context(Principal("deployer"), clock=clock)
    tracking = backend.tracking(ctx)
    registry = backend.registry(ctx)
    registry.create_registered_model("fraud")
    run_id = tracking.create_run().info.run_id
    registry.artifacts.log_artifact(run_id, "model/MLmodel", [b"flavors: {}\n"])
    registry.create_model_version("fraud", f"runs:/{run_id}/model")
    service = DeploymentService(ctx)
    clock.advance(1000)
    recorded = service.record_deployment("fraud-api", "fraud", 1, target="http://a")
    assert recorded.start_time == clock.now and recorded.created_by == "deployer"
    clock.advance(1000)
    service.end_deployment(recorded.id)
    from runstone.governance.audit import AuditService

    trail = AuditService(backend.db).events(target_type="registered_model", target_id="fraud")
    events = [e for e in trail if e.action.startswith("deployment.")]
    assert [(e.action, e.actor) for e in events] == [("deployment.record", "deployer"), ("deployment.end", "deployer")]
    digest = registry.get_model_version("fraud", 1).manifest_digest
    assert digest is not None and recorded.manifest_digest == digest
    assert events[0].after == {
        "deployment": recorded.id, "name": "fraud-api", "target": "http://a", "version": 1, "manifest_digest": digest
    }  # fmt: skip


def test_rest_routes(http):
    assert http.post("/api/v1/deployments", json={"name": "x", "model_name": "none", "version": 1}).status_code == 404
    listed = http.get("/api/v1/deployments", params={"active": "true"})
    assert listed.status_code == 200 and listed.json() == {"deployments": []}
    assert http.get("/api/v1/deployments/1").json()["error"]["code"] == "not_found"


def test_cli_record_list_end(local_client, settings):
    from runstone.cli.main import cli

    registered(local_client, versions=1)
    env = {"RUNSTONE_TRACKING_URI": settings.database_uri, "RUNSTONE_USER": "ops"}
    runner = CliRunner()
    done = runner.invoke(
        cli,
        ["deployments", "record", "fraud-api", "--model", "fraud", "--version", "1", "--target", "http://h:8080"],
        env=env,
    )
    assert done.exit_code == 0, done.output
    assert "serves fraud version 1" in done.output
    listed = runner.invoke(cli, ["deployments", "list", "--model", "fraud", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    import json

    rows = json.loads(listed.output)
    assert [(r["name"], r["version"], r["target"], r["created_by"], r["active"]) for r in rows] == [
        ("fraud-api", "1", "http://h:8080", "ops", True)
    ]
    ended = runner.invoke(cli, ["deployments", "end", str(rows[0]["id"])], env=env)
    assert ended.exit_code == 0 and "ended" in ended.output
    assert json.loads(runner.invoke(cli, ["deployments", "list", "--json"], env=env).output) == []
    bad = runner.invoke(cli, ["deployments", "record", "x", "--model", "nope", "--version", "1"], env=env)
    assert bad.exit_code == 1 and "Error:" in bad.output
