"""--follow: a server on models:/<name>@<alias> (or /<stage>) switches to the version the
registry points at, without dropping requests; a version that cannot load never replaces a
working one."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from scrape import sample

from runstone.sdk.client import RunstoneClient


@pytest.fixture
def registry_client(tmp_path) -> RunstoneClient:
    from runstone.config import Settings

    return RunstoneClient(settings=Settings(home=tmp_path / "registry-home"))


def register(client: RunstoneClient, name: str, package: Path) -> str:
    """Log a package into a new run and register it; returns the new version number."""
    from runstone.errors import AlreadyExists

    run_id = client.create_run("0").info.run_id
    client.log_artifacts(run_id, package, "model")
    try:
        client.create_registered_model(name)
    except AlreadyExists:
        pass
    return str(client.create_model_version(name, f"runs:/{run_id}/model", run_id).version)


def score(http) -> tuple[str, list[float]]:
    answer = http.post("/invocations", json={"dataframe_records": [{"amount": 1.0, "items": 1}]})
    assert answer.status_code == 200, answer.text
    return answer.headers["x-runstone-model-version"], answer.json()["predictions"]


def test_following_an_alias_switches_to_the_new_version(serve, echo_model, registry_client):
    v1 = register(registry_client, "fraud", echo_model(2.0))
    v2 = register(registry_client, "fraud", echo_model(3.0))
    registry_client.set_registered_model_alias("fraud", "champion", v1)
    http = serve("models:/fraud@champion", client=registry_client, follow=True, follow_interval=3600)
    follower = http.app.state.scoring.follower
    assert score(http) == (v1, [2.0])
    follower.check_all()  # nothing moved: nothing happens
    assert score(http) == (v1, [2.0])
    registry_client.set_registered_model_alias("fraud", "champion", v2)
    follower.check_all()
    assert score(http) == (v2, [3.0])
    meta = http.get("/metadata").json()
    assert (meta["model_name"], meta["model_version"], meta["model_uri"]) == ("fraud", v2, "models:/fraud@champion")
    assert meta["follow"] is True
    assert meta["run_id"] == registry_client.get_model_version("fraud", v2).run_id
    metrics = http.get("/metrics").text
    info = {"role": "primary", "model": "fraud", "uri": "models:/fraud@champion"}
    assert sample(metrics, "runstone_serving_model_info", **info, version=v2) == 1
    assert sample(metrics, "runstone_serving_model_info", **info, version=v1) == 0  # swapped out


def test_following_a_stage(serve, echo_model, registry_client):
    v1 = register(registry_client, "churn", echo_model(2.0))
    v2 = register(registry_client, "churn", echo_model(3.0))
    registry_client.transition_model_version_stage("churn", v1, "Production")
    http = serve("models:/churn/Production", client=registry_client, follow=True, follow_interval=3600)
    assert score(http)[0] == v1
    registry_client.transition_model_version_stage("churn", v2, "Production", archive_existing_versions=True)
    http.app.state.scoring.follower.check_all()
    assert score(http) == (v2, [3.0])


def test_a_version_that_cannot_load_never_replaces_a_working_one(serve, echo_model, registry_client, tmp_path):
    v1 = register(registry_client, "fraud", echo_model(2.0))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "MLmodel").write_text("flavors: {}\n")  # no python_function flavor: cannot be served
    v2 = register(registry_client, "fraud", broken)
    registry_client.set_registered_model_alias("fraud", "champion", v1)
    http = serve("models:/fraud@champion", client=registry_client, follow=True, follow_interval=3600)
    registry_client.set_registered_model_alias("fraud", "champion", v2)
    follower = http.app.state.scoring.follower
    follower.check_all()
    assert follower.failures == 1
    assert score(http) == (v1, [2.0])


def test_the_follower_thread_polls_the_registry(serve, echo_model, registry_client):
    v1 = register(registry_client, "fraud", echo_model(2.0))
    v2 = register(registry_client, "fraud", echo_model(3.0))
    registry_client.set_registered_model_alias("fraud", "champion", v1)
    http = serve("models:/fraud@champion", client=registry_client, follow=True, follow_interval=0.05)
    registry_client.set_registered_model_alias("fraud", "champion", v2)
    deadline = time.monotonic() + 30
    while http.get("/metadata").json()["model_version"] != v2:
        assert time.monotonic() < deadline, "the server did not switch within 30 s"
        time.sleep(0.05)
    assert score(http) == (v2, [3.0])


def test_without_follow_the_version_stays(serve, echo_model, registry_client):
    v1 = register(registry_client, "fraud", echo_model(2.0))
    v2 = register(registry_client, "fraud", echo_model(3.0))
    registry_client.set_registered_model_alias("fraud", "champion", v1)
    http = serve("models:/fraud@champion", client=registry_client)
    registry_client.set_registered_model_alias("fraud", "champion", v2)
    assert http.app.state.scoring.follower.slots == []
    assert score(http) == (v1, [2.0])


def test_a_swap_keeps_the_old_model_for_requests_in_flight(echo_model, registry_client):
    from runstone.serving.live import Slot, load

    v1 = register(registry_client, "fraud", echo_model(2.0))
    v2 = register(registry_client, "fraud", echo_model(3.0))
    old = load(f"models:/fraud/{v1}", registry_client)
    slot = Slot("primary", "models:/fraud@champion", old)
    in_flight = slot.current  # a request read the slot before the swap
    slot.swap(load(f"models:/fraud/{v2}", registry_client))
    assert in_flight.path.exists(), "the replaced model's files stay while requests may use them"
    assert in_flight.model.predict(pd.DataFrame({"amount": [1.0], "items": [1]})).tolist() == [2.0]
    assert slot.current.version == v2
    slot.swap(load(f"models:/fraud/{v1}", registry_client))
    assert not in_flight.path.exists(), "two swaps later its download is removed"
    slot.close()


def test_an_approved_promotion_and_a_rollback_are_followed(serve, echo_model, registry_client, tmp_path):
    from runstone.config import Settings
    from runstone.entities import Policy

    v1 = register(registry_client, "fraud", echo_model(2.0))
    v2 = register(registry_client, "fraud", echo_model(3.0))
    registry_client.set_registered_model_alias("fraud", "champion", v1)
    registry_client.set_model_policy("fraud", Policy(protected_aliases=["champion"], required_approvals=1))
    http = serve("models:/fraud@champion", client=registry_client, follow=True, follow_interval=3600)
    follower = http.app.state.scoring.follower
    request = registry_client.request_transition("fraud", v2, alias="champion")
    follower.check_all()
    assert score(http) == (v1, [2.0]), "a request waiting for approval changes nothing"
    approver = RunstoneClient(settings=Settings(home=tmp_path / "registry-home", user="approver"))
    approver.approve_request(request.id, "metrics look right")
    follower.check_all()
    assert score(http) == (v2, [3.0])
    registry_client.rollback("fraud", alias="champion", comment="v2 misbehaves")
    follower.check_all()
    assert score(http) == (v1, [2.0])
    assert http.get("/metadata").json()["model_version"] == v1


def test_a_canary_follows_both_of_its_aliases(serve, echo_model, registry_client):
    from runstone.serving.traffic import TrafficPolicy

    v1 = register(registry_client, "fraud", echo_model(2.0))
    v2 = register(registry_client, "fraud", echo_model(3.0))
    v3 = register(registry_client, "fraud", echo_model(5.0))
    registry_client.set_registered_model_alias("fraud", "champion", v1)
    registry_client.set_registered_model_alias("fraud", "challenger", v2)
    policy = TrafficPolicy.from_dict(
        {
            "routes": [
                {"model": "models:/fraud@champion", "weight": 1},
                {"model": "models:/fraud@challenger", "weight": 1},
            ],
            "seed": 5,
        }
    )
    http = serve(policy, client=registry_client, follow=True, follow_interval=3600)
    registry_client.set_registered_model_alias("fraud", "challenger", v3)
    http.app.state.scoring.follower.check_all()
    routes = http.get("/metadata").json()["routes"]
    assert [(r["role"], r["model_version"]) for r in routes] == [("primary", v1), ("challenger", v3)]
    answers = {(version, tuple(predictions)) for version, predictions in (score(http) for _ in range(60))}
    assert answers == {(v1, (2.0,)), (v3, (5.0,))}


def test_deployment_records_move_with_the_server_and_end_when_it_stops(serve, echo_model, registry_client):
    from runstone.serving.deployment import DeploymentRecords

    v1 = register(registry_client, "fraud", echo_model(2.0))
    v2 = register(registry_client, "fraud", echo_model(3.0))
    registry_client.set_registered_model_alias("fraud", "champion", v1)
    records = DeploymentRecords.for_server("fraud-api", "127.0.0.1", 8080)
    records.record_start(registry_client, [("models:/fraud@champion", 100.0)])
    http = serve(
        "models:/fraud@champion", client=registry_client, follow=True, follow_interval=3600, deployment=records
    )
    registry_client.set_registered_model_alias("fraud", "champion", v2)
    http.app.state.scoring.follower.check_all()
    assert score(http)[0] == v2
    active = registry_client.list_deployments("fraud", active_only=True)
    assert [(d.name, d.version, d.target) for d in active] == [("fraud-api", v2, "http://127.0.0.1:8080")]
    # Another worker of the same server switching too finds the record up to date.
    records.switched(registry_client, "primary", 1, "fraud", v2, "runstone models serve models:/fraud@champion")
    assert [d.version for d in registry_client.list_deployments(name="fraud-api")] == [v2, v1]
    assert records.end(registry_client, 1) == []
    assert registry_client.list_deployments("fraud", active_only=True) == []
