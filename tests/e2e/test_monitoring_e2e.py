"""The monitoring loop end to end, on SQLite and PostgreSQL: a real tracking server and a real
scoring server; traffic that shifts on two features halfway; drift flagged on those two only;
late labels and quality falling; a signed webhook received; a retraining run, a new version and
an approval request opened (the champion alias never moves by itself)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from e2e_support import free_port, remote, run_cli, runstone_command

from runstone.entities import Policy
from runstone.sdk.monitoring import HttpMonitoring
from tests.serving.serving_support import start_scoring

pytestmark = pytest.mark.e2e

FEATURES = ["x1", "x2", "x3", "x4"]
WINDOW_MS = 5000

TRAIN = """
import argparse

import pandas as pd
from sklearn.linear_model import LogisticRegression

import runstone
import runstone.data
import runstone.sklearn

parser = argparse.ArgumentParser()
parser.add_argument("--data")
path = parser.parse_args().data
frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
frame = frame[frame["label"].notna()]
features = frame[["x1", "x2", "x3", "x4"]].astype(float)
model = LogisticRegression().fit(features, frame["label"].astype(int))
with runstone.start_run():
    runstone.log_input(runstone.data.from_file(path, name="training"), context="training")
    runstone.log_metric("train_accuracy", float(model.score(features, frame["label"].astype(int))))
    runstone.sklearn.log_model(model, "model", input_example=features.head(5))
"""


def concept_a(frame: pd.DataFrame) -> Any:
    return (frame["x1"] + frame["x3"] > 0).astype(int)


def concept_b(frame: pd.DataFrame) -> Any:
    return (frame["x3"] - frame["x4"] > 0).astype(int)


def features(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(0.0, 1.0, n) for name in FEATURES})
    frame["x1"] += shift
    frame["x2"] += shift
    return frame


class Listener:
    """A local HTTP endpoint that records the webhook deliveries it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


def _wait_for_boundary() -> None:
    now = time.time() * 1000
    time.sleep((WINDOW_MS - now % WINDOW_MS) / 1000 + 0.05)


def _send(url: str, frame: pd.DataFrame, prefix: str, rows: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=url, timeout=30.0) as http:
        for i in range(0, len(frame), rows):
            request_id = f"{prefix}{i // rows:05d}"
            part = frame.iloc[i : i + rows]
            body = {"dataframe_split": {"columns": FEATURES, "data": part.to_numpy().tolist()}}
            answer = http.post("/invocations", json=body, headers={"X-Request-Id": request_id})
            assert answer.status_code == 200, answer.text
            ids.append(request_id)
    return ids


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_monitoring_loop_closes(database: str, servers, listener: Listener, tmp_path: Path, request) -> None:
    args = ["--backend-store-uri", request.getfixturevalue("pg_schema_url")] if database == "postgresql" else []
    env = {"RUNSTONE_WEBHOOK_ALLOW_PRIVATE": "true", "RUNSTONE_WEBHOOK_INTERVAL": "0.2",
           "RUNSTONE_MONITORING_INTERVAL": "0"}  # fmt: skip  # the worker below evaluates, once labels are in
    server = servers.start(*args, env=env)
    client_env = {**server.env(), "RUNSTONE_ENV_CACHE": str(tmp_path / "envs")}

    # A project that trains the model; version 1 is the champion, protected by the policy.
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(TRAIN)
    (project / "runstone.yaml").write_text(
        "name: fraud\nenvironment: local\nentry_points:\n  main:\n    parameters:\n      data: path\n"
        "    command: python train.py --data {data}\n"
    )
    train = features(3000, seed=1)
    train["label"] = concept_a(train)
    train.to_csv(tmp_path / "train.csv", index=False)
    done = run_cli("run", str(project), "-P", f"data={tmp_path / 'train.csv'}", "--json", env=client_env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    with remote(server.url) as client:
        client.create_registered_model("fraud")
        client.create_model_version("fraud", f"runs:/{run_id}/model", run_id)
        client.set_registered_model_alias("fraud", "champion", "1")
        client.set_model_policy("fraud", Policy(protected_aliases=["champion"]))
        _, secret = client.create_webhook("alerts", f"http://127.0.0.1:{listener.port}/hook", ["monitoring.alert"])

    # The server profiled the version's inputs when it was registered, from the dataset the
    # training run recorded (label left out by the signature), with no monitoring call.
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        deadline = time.monotonic() + 60
        while (shown := http.get("/api/v1/monitoring/models/fraud/versions/1/profile")).status_code == 404:
            assert time.monotonic() < deadline, shown.text
            time.sleep(0.2)
        made = shown.json()["profile"]
        assert sorted(made["profile"]["features"]) == FEATURES and made["profile"]["origin"] == "registration"
        assert made["profile"]["rows"] == 3000 and not made["profile"]["outputs"]

    # `monitor profile` adds the model's outputs on that data (it loads the model; the server never does).
    done = run_cli("monitor", "profile", "fraud@champion", "--target", "label", env=client_env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3000 rows, 4 features" in done.stdout

    holdout = features(1000, seed=9, shift=3.0)
    holdout["label"] = concept_b(holdout)
    holdout.to_csv(tmp_path / "holdout.csv", index=False)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"""
- name: drift
  metric: drifted
  feature: "*"
  actions:
    - type: webhook
    - type: log
    - type: retrain
      project: {project}
      data_param: data
      holdout: {tmp_path / "holdout.csv"}
      target: label
      alias: champion
- name: accuracy
  metric: accuracy
  op: "<"
  threshold: 0.8
  actions: [{{type: log}}]
"""
    )
    done = run_cli("monitor", "rules", "add", "fraud", str(rules), env=client_env)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: typo\nmetric: psi\nfeature: x9\nthreshold: 0.2\n")
    done = run_cli("monitor", "rules", "add", "fraud", str(bad), env=client_env)
    assert done.returncode == 1 and "'x9', which the model does not have" in done.stderr

    # Traffic: one window as in training, the next shifted on x1 and x2 (and a new concept).
    logs = tmp_path / "predictions"
    scoring = start_scoring(
        [*runstone_command(), "models", "serve", "-m", "models:/fraud@champion", "--port", "{port}",
         "--log-predictions", str(logs)],
        tmp_path / "scoring.log", env=client_env,
    )  # fmt: skip
    calm, shifted = features(1200, seed=2), features(1200, seed=3, shift=3.0)
    try:
        _wait_for_boundary()
        calm_ids = _send(scoring.url, calm, "a", 8)
        _wait_for_boundary()
        shifted_ids = _send(scoring.url, shifted, "b", 8)
        _wait_for_boundary()
    finally:
        scoring.stop()  # completes the open log file

    done = run_cli("monitor", "ingest", str(logs), env=client_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Stored 300 requests (2400 rows)" in done.stdout
    # Each scored row is labelled by its key, <request id>:<row>.
    row_keys = [f"{rid}:{j}" for rid in [*calm_ids, *shifted_ids] for j in range(8)]
    api_labels = [*concept_a(calm).tolist(), *concept_b(shifted).tolist()]
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        monitoring = HttpMonitoring(_transport(server.url, http))
        unknown = http.post("/api/v1/monitoring/labels", json={"request_ids": ["zz"], "labels": [1]})
        assert unknown.status_code == 400 and "zz" in unknown.json()["error"]["message"]
        assert monitoring.log_labels(row_keys, api_labels)["labelled"] == 2400

        done = run_cli("monitor", "run", "--once", "--window", "5s", env=client_env, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr

        windows = sorted(monitoring.windows("fraud"), key=lambda w: w.start_time)
        by_requests = [w for w in windows if (w.result or {}).get("requests", 0) >= 100]
        assert len(by_requests) == 2, [w.result for w in windows]
        before, after = (w.result or {} for w in by_requests)
        assert before["drifted"] == [] and after["drifted"] == ["x1", "x2"]
        assert after["prediction"]["drifted"] is True
        assert before["quality"]["accuracy"] > 0.85 > 0.7 > after["quality"]["accuracy"]

        alerts = {a.rule: a for a in monitoring.alerts("fraud")}
        assert set(alerts) == {"drift", "accuracy"}
        drift = alerts["drift"]
        assert drift.action_status == "done", drift.action_note
        assert drift.run_id and drift.new_version == 2 and drift.approval_request_id
        assert alerts["accuracy"].action_status == "none"

    with remote(server.url) as client:
        opened = client.get_request(drift.approval_request_id)
        assert (opened.status, opened.version, opened.target) == ("open", "2", "champion")
        assert client.get_model_version_by_alias("fraud", "champion").version == "1"
        assert client.get_model_version("fraud", "2").run_id == drift.run_id
        assert client.get_run(drift.run_id).data.tags["runstone.monitoring.alert_id"] == str(drift.id)

    deadline = time.monotonic() + 30
    while not listener.received and time.monotonic() < deadline:
        time.sleep(0.1)
    assert listener.received, "the webhook was not delivered"
    headers, body = listener.received[0]
    assert headers["x-runstone-event"] == "monitoring.alert"
    assert headers["x-runstone-signature"] == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    payload = json.loads(body)
    assert payload["data"]["rule"] == "drift" and set(payload["data"]["hits"]) == {"x1", "x2"}


def _transport(url: str, http: httpx.Client) -> Any:
    from runstone.sdk.remote import Transport

    return Transport(url, user="tester", client=http)
