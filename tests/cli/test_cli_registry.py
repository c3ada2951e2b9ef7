"""`runstone registry ...`: what a user types and reads, on SQLite and PostgreSQL, and through a
server. People are told apart by RUNSTONE_USER, as the guide does."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from sklearn.linear_model import LogisticRegression

import runstone.data
import runstone.sklearn
from runstone.cli.main import cli as runstone_cli
from runstone.entities import Metric
from runstone.sdk.client import RunstoneClient
from runstone.tracking import tags as system_tags


class Registry:
    """Runs ``runstone registry ARGS`` as a user and checks the exit code."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.runner = CliRunner()
        self.uri = tracking_uri

    def __call__(self, *args: str, user: str = "alice", code: int = 0) -> Result:
        argv = ["registry", *args]
        if self.uri:
            argv += ["--tracking-uri", self.uri]
        result = self.runner.invoke(runstone_cli, argv, env={"RUNSTONE_USER": user}, catch_exceptions=False)
        assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str, user: str = "alice") -> Any:
        return json.loads(self(*args, "--json", user=user).stdout)

    def fails(self, *args: str, user: str = "alice") -> str:
        result = self(*args, user=user, code=1)
        assert result.stderr.startswith("Error: ") and "Traceback" not in result.output, result.output
        return result.stderr.removeprefix("Error: ").strip()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model package, logged into each test's runs."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    path = tmp_path_factory.mktemp("package") / "model"
    runstone.sklearn.save_model(LogisticRegression().fit(X, X[:, 0] > 0), path, input_example=X[:3])
    return path


def log_model(client: RunstoneClient, package: Path, accuracy: float) -> str:
    run_id = client.create_run("0", tags={system_tags.GIT_COMMIT: "3f2a9c1"}).info.run_id
    client.log_batch(run_id, metrics=[Metric("accuracy", accuracy, 1_700_000_000_000, 0)])
    data = runstone.data.from_numpy(np.arange(12.0).reshape(4, 3), name="transactions")
    client.log_inputs(run_id, [(data, {system_tags.DATASET_CONTEXT: "training"})])
    client.log_artifacts(run_id, str(package), "model")
    return f"runs:/{run_id}/model"


@pytest.fixture
def store(db_url: str, monkeypatch: pytest.MonkeyPatch) -> RunstoneClient:
    """The embedded store the commands use, on SQLite or PostgreSQL."""
    monkeypatch.setenv("RUNSTONE_BACKEND_STORE_URI", db_url)
    return RunstoneClient()


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def fraud(registry: Registry, store: RunstoneClient, package: Path) -> RunstoneClient:
    """Model 'fraud' with versions 1 (accuracy 0.9) and 2 (0.95), registered with the CLI."""
    registry("create", "fraud", "--description", "Catches fraud.")
    for accuracy in (0.90, 0.95):
        registry("register", "fraud", log_model(store, package, accuracy))
    return store


def test_versions_come_only_from_models_logged_in_runs(registry, fraud, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    for source in (str(model_dir), model_dir.as_uri(), "https://models.example.com/fraud.tar.gz"):
        assert "must be a runs:/<run_id>/<path> URI" in registry.fails("register", "fraud", source)
    shown = registry("show", "fraud").stdout
    assert "Catches fraud." in shown and "runs:/" in shown
    assert [v["version"] for v in registry.json("show", "fraud")["versions"]] == ["2", "1"]


def test_a_version_shows_its_run_metrics_datasets_and_code_version(registry, fraud):
    version = registry.json("version", "fraud", "2")
    assert version["metrics"] == {"accuracy": 0.95}
    assert version["datasets"] == [
        {
            "name": "transactions",
            "digest": runstone.data.from_numpy(np.arange(12.0).reshape(4, 3)).digest,
            "context": "training",
        }
    ]
    assert version["code"] == {system_tags.GIT_COMMIT: "3f2a9c1"}
    text = registry("version", "fraud", "2").stdout
    assert "metric accuracy" in text and "0.95" in text and "3f2a9c1" in text
    digest = version["manifest_digest"]
    assert len(digest) == 64 and any("manifest" in line and digest in line for line in text.splitlines())
    assert "version 7 of registered model 'fraud' not found" in registry.fails("version", "fraud", "7").lower()


def test_describe_tag_untag_and_list_by_tag(registry, fraud):
    registry("describe", "fraud", "Flags **fraudulent** payments.")
    registry("describe", "fraud", "The better one.", "--version", "2")
    registry("tag", "fraud", "team", "risk")
    registry("tag", "fraud", "validated", "yes", "--version", "2")
    model = fraud.get_registered_model("fraud")
    assert (model.description, model.tags) == ("Flags **fraudulent** payments.", {"team": "risk"})
    version = fraud.get_model_version("fraud", "2")
    assert (version.description, version.tags) == ("The better one.", {"validated": "yes"})
    assert [m["name"] for m in registry.json("list", "--filter", "tags.team = 'risk'")] == ["fraud"]
    registry("untag", "fraud", "team")
    registry("untag", "fraud", "validated", "--version", "2")
    assert registry.json("list", "--filter", "tags.team = 'risk'") == []
    assert fraud.get_model_version("fraud", "2").tags == {}
    assert "has no tag 'team'" in registry.fails("untag", "fraud", "team")


def test_a_protected_target_changes_only_through_an_approved_request(registry, fraud):
    registry(
        "policy", "fraud", "--protect-stage", "Production", "--protect-alias", "champion", "--gate", "accuracy>=current"
    )
    assert "is protected: open a request" in registry.fails("stage", "fraud", "1", "Production")
    assert "is protected: open a request" in registry.fails("alias", "fraud", "champion", "1")

    opened = registry("request", "fraud", "1", "--stage", "Production", "-m", "first release").stdout
    assert "Request 1: fraud version 1 -> stage Production (open)" in opened
    assert "cannot approve their own request" in registry.fails("approve", "1")
    assert fraud.get_model_version("fraud", "1").current_stage == "None"
    assert registry("approve", "1", "-m", "checked", user="bob").stdout.strip() == "Request 1 is approved"
    assert fraud.get_model_version("fraud", "1").current_stage == "Production"

    # Leaving a protected stage is a change of it too.
    assert "is in the protected stage 'Production'" in registry.fails("stage", "fraud", "1", "Archived")
    assert "holds the protected stage 'Production'" in registry.fails("delete-version", "fraud", "1", "--yes")
    demotion = registry.json("request", "fraud", "1", "--stage", "Archived")
    assert demotion["status"] == "open"
    registry("reject", str(demotion["id"]), "-m", "keep it", user="bob")
    assert fraud.get_model_version("fraud", "1").current_stage == "Production"

    [request] = registry.json("requests", "fraud", "--status", "approved")
    assert (request["requested_by"], request["approvals"][0]["approver"]) == ("alice", "bob")
    assert request["evidence"]["candidate"]["metrics"] == {"accuracy": 0.9}
    rejected = registry("requests", "fraud", "--status", "rejected").stdout
    assert "bob:reject" in rejected


def test_gates_and_cancelling(registry, fraud):
    registry("policy", "fraud", "--protect-alias", "champion", "--gate", "accuracy>=current")
    registry("request", "fraud", "2", "--alias", "champion")
    registry("approve", "1", user="bob")
    worse = registry("request", "fraud", "1", "--alias", "champion").stdout
    assert "gate: metrics.accuracy 0.9 >= the current holder's 0.95: failed" in worse
    assert "does not pass its gates" in registry.fails("approve", "2", user="bob")
    assert "Only the requester can cancel" in registry.fails("cancel", "2", user="bob")
    assert registry("cancel", "2").stdout.strip() == "Request 2 is cancelled"
    assert fraud.get_model_version_by_alias("fraud", "champion").version == "2"


def test_policy_show_set_clear_and_bad_gates(registry, fraud):
    assert registry.json("policy", "fraud")["protected_stages"] == []
    registry("policy", "fraud", "--protect-stage", "production", "--approvals", "2")
    policy = registry.json("policy", "fraud")
    assert (policy["protected_stages"], policy["required_approvals"]) == (["Production"], 2)
    assert "Invalid gate 'accuracy >> 1'" in registry.fails("policy", "fraud", "--gate", "accuracy >> 1")
    assert "Unknown stage 'Live'" in registry.fails("policy", "fraud", "--protect-stage", "Live")
    assert "--clear takes no other" in registry.fails("policy", "fraud", "--clear", "--approvals", "1")
    registry("policy", "fraud", "--clear")
    assert registry.json("policy", "fraud")["protected_stages"] == []
    registry("stage", "fraud", "1", "Production")  # unprotected again


def test_history_and_who_held_a_target_when(registry, fraud):
    registry("stage", "fraud", "1", "Production")
    registry("alias", "fraud", "champion", "1")
    registry("stage", "fraud", "2", "Production", "--archive-existing", user="bob")
    events = registry.json("history", "fraud")
    assert [(e["kind"], e["target"], e["version"], e["actor"]) for e in events] == [
        ("stage", "Production", "1", "alice"),
        ("alias", "champion", "1", "alice"),
        ("stage", "Production", "2", "bob"),
        ("stage", "Archived", "1", "bob"),
    ]
    before, first = events[0]["time"] - 1, events[1]["time"]
    held = registry.json("history", "fraud", "--at", str(first))["holders"]
    assert held["stage Production"] == ["1"] and held["alias champion"] == ["1"]
    assert registry.json("history", "fraud", "--at", str(before))["holders"]["stage Production"] == []
    moment = dt.datetime.fromtimestamp(events[-1]["time"] / 1000 + 1).isoformat(timespec="seconds")
    assert registry.json("history", "fraud", "--at", moment)["holders"]["stage Production"] == ["2"]
    assert "Invalid time 'yesterday'" in registry.fails("history", "fraud", "--at", "yesterday")
    table = registry("history", "fraud").stdout
    assert "Production" in table and "bob" in table


def test_rollback_of_a_stage_and_an_alias(registry, fraud):
    registry("stage", "fraud", "1", "Production")
    registry("stage", "fraud", "2", "Production", "--archive-existing")
    registry("alias", "fraud", "champion", "1")
    registry("alias", "fraud", "champion", "2")
    rolled = registry("rollback", "fraud", "--stage", "Production", "-m", "latency", user="bob").stdout
    assert rolled.strip() == "Rolled back fraud stage Production to version 1"
    registry("rollback", "fraud", "--alias", "champion")
    assert [v.version for v in fraud.get_latest_versions("fraud", ["Production"])] == ["1"]
    assert fraud.get_model_version("fraud", "2").current_stage == "Archived"
    assert fraud.get_model_version_by_alias("fraud", "champion").version == "1"
    last = fraud.get_model_history("fraud", kind="stage", target="Production")[-1]
    assert (last.actor, last.reason, last.rollback) == ("bob", "rollback from version 2: latency", True)
    assert "no earlier version" in registry.fails("rollback", "fraud", "--alias", "champion")
    assert "exactly one of a stage or an alias" in registry.fails("rollback", "fraud")


def test_deleting_versions_and_models(registry, fraud):
    registry("alias", "fraud", "challenger", "1")
    registry("delete-version", "fraud", "1", "--yes")
    assert [v["version"] for v in registry.json("show", "fraud")["versions"]] == ["2"]
    challenger = fraud.get_model_history("fraud", kind="alias")[-1]
    assert (challenger.version, challenger.reason) == (None, "version 1 deleted")
    registry("policy", "fraud", "--protect-alias", "champion")
    registry("request", "fraud", "2", "--alias", "champion")
    registry("approve", "1", user="bob")
    assert "still holds its protected alias 'champion'" in registry.fails("delete", "fraud", "--yes")
    assert "is protected" in registry.fails("unalias", "fraud", "champion")
    registry("policy", "fraud", "--clear")
    registry("delete", "fraud", "--yes")
    assert "not found" in registry.fails("show", "fraud")


def test_webhooks_refuse_private_and_malformed_targets(registry, store):
    refused = registry.fails("webhooks", "add", "ci", "http://127.0.0.1:8080/hook")
    assert "resolves to the non-public address 127.0.0.1" in refused
    assert "RUNSTONE_WEBHOOK_ALLOW_PRIVATE=true" in refused
    assert "is not a valid URL" in registry.fails("webhooks", "add", "ci", "http://[::1/hook")
    assert "must be an http:// or https:// URL" in registry.fails("webhooks", "add", "ci", "file:///etc/passwd")
    assert registry.json("webhooks", "list") == []


def test_an_operator_may_allow_private_targets(registry, db_url, monkeypatch):
    monkeypatch.setenv("RUNSTONE_BACKEND_STORE_URI", db_url)
    monkeypatch.setenv("RUNSTONE_WEBHOOK_ALLOW_PRIVATE", "true")
    added = registry("webhooks", "add", "ci", "http://127.0.0.1:8080/hook", "--event", "request.opened").stdout
    assert "Signing secret (shown once): " in added
    [hook] = registry.json("webhooks", "list")
    assert (hook["url"], hook["events"]) == ("http://127.0.0.1:8080/hook", ["request.opened"])
    registry("webhooks", "delete", str(hook["id"]))
    assert registry.json("webhooks", "list") == []
    assert "Webhook 99999999999 not found" in registry.fails("webhooks", "delete", "99999999999")


def test_the_same_journey_through_a_server(served: RunstoneClient, package: Path):
    """With a server, the acting user is the caller the server sees."""
    registry = Registry("http://testserver")
    registry("create", "fraud")
    registry("register", "fraud", log_model(served, package, 0.9))
    registry("policy", "fraud", "--protect-alias", "champion")
    assert "is protected" in registry.fails("alias", "fraud", "champion", "1")
    registry("request", "fraud", "1", "--alias", "champion")
    assert "cannot approve their own request" in registry.fails("approve", "1")
    registry("approve", "1", user="bob")
    assert served.get_model_version_by_alias("fraud", "champion").version == "1"
    [event] = registry.json("history", "fraud")
    assert (event["actor"], event["request_id"]) == ("bob", 1)
