"""`runstone monitor` on the embedded store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from runstone.cli.main import cli
from runstone.sdk import client as client_module
from runstone.sdk.client import RunstoneClient
from tests.monitoring.conftest import records, reference_frame

T0 = 1_699_999_200_000
HOUR = 3_600_000


@pytest.fixture
def run(settings, monkeypatch):
    client_module.close_local_backends()
    monkeypatch.setenv("RUNSTONE_BACKEND_STORE_URI", settings.database_uri)
    monkeypatch.setenv("RUNSTONE_ARTIFACTS_DESTINATION", str(settings.artifact_root))

    def invoke(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == code, f"{result.stdout}\n{result.stderr}"
        return result.stdout if code == 0 else result.stderr

    yield invoke
    client_module.close_local_backends()


def test_profile_ingest_labels_report_and_rules(run, version, tmp_path: Path):
    version()
    reference = tmp_path / "train.csv"
    reference_frame().to_csv(reference, index=False)
    assert "has no recorded dataset" in run("monitor", "profile", "fraud@1", code=1)
    out = run("monitor", "profile", "fraud@1", "--data", str(reference), "--no-outputs")
    assert "2000 rows, 3 features" in out and "amount" in out

    logs = tmp_path / "logs"
    logs.mkdir()
    lines = [
        *records(200, start=T0, rows=5),
        *records(200, start=T0 + HOUR, rows=5, shift=30, country="DE", prefix="s"),
    ]
    (logs / "predictions-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert "Stored 400 requests (2000 rows)" in run("monitor", "ingest", str(logs))
    assert "0 requests" in run("monitor", "ingest", str(logs))

    labels = tmp_path / "labels.csv"
    # Each scored row has its key: <request id>:<row>.
    labels.write_text("request_id,label\n" + "".join(f"s{i}:{j},1\n" for i in range(200) for j in range(5)))
    assert "Recorded 1000 labels." in run("monitor", "labels", str(labels))
    # Or the row in a column of its own.
    labels.write_text("request_id,row,label\n" + "".join(f"s{i},{j},1\n" for i in range(200) for j in range(5)))
    assert "Recorded 1000 labels." in run("monitor", "labels", str(labels), "--row-column", "row")
    bad = tmp_path / "bad.csv"
    bad.write_text("request_id,label\nghost,1\n")
    assert "no logged prediction has: ghost" in run("monitor", "labels", str(bad), code=1)

    html = tmp_path / "report.html"
    out = run("monitor", "report", "fraud@1", "--window", "1h", "--end", str(T0 + 2 * HOUR), "--html", str(html))
    assert "2 of 3 features drifted (amount, country)" in out
    assert "quality on 1000 labelled rows: accuracy" in out
    page = html.read_text()
    assert "<svg" in page and "<script" not in page and "amount" in page
    calm = run("monitor", "report", "fraud@1", "--window", "1h", "--end", str(T0 + HOUR))
    assert "0 of 3 features drifted" in calm and "no labels yet" in calm

    rules = tmp_path / "rules.yaml"
    rules.write_text("- name: drift\n  metric: psi\n  feature: colour\n  threshold: 0.2\n")
    assert "'colour', which the model does not have" in run("monitor", "rules", "add", "fraud", str(rules), code=1)
    rules.write_text("- name: drift\n  metric: psi\n  feature: '*'\n  threshold: 0.2\n  consecutive: 2\n")
    run("monitor", "rules", "add", "fraud", str(rules))
    assert "drift" in run("monitor", "rules", "list", "fraud")


def test_the_worker_profiles_a_serving_version_from_its_recorded_dataset(run, settings, tmp_path: Path):
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import runstone
    import runstone.data
    import runstone.sklearn
    from runstone.sdk import fluent

    frame = reference_frame().drop(columns=["country"])
    frame["label"] = (frame["amount"] > 100).astype(int)
    frame.to_csv(tmp_path / "train.csv", index=False)
    features = frame[["amount", "items"]]
    # A client of this test's stores (the fluent API would reuse settings read by an earlier test).
    fluent.set_tracking_uri(RunstoneClient(settings.database_uri, settings=settings))
    try:
        with runstone.start_run():
            runstone.log_input(runstone.data.from_file(tmp_path / "train.csv"), context="training")
            model = LogisticRegression().fit(features, frame["label"])
            runstone.sklearn.log_model(model, "model", input_example=features.head(3), registered_model_name="fraud")
    finally:
        fluent.set_tracking_uri(None)
    logs = tmp_path / "logs"
    logs.mkdir()
    recs = records(20, start=T0)
    for r in recs:
        r["inputs"] = {"columns": ["amount", "items"], "data": [row[:2] for row in r["inputs"]["data"]]}
    (logs / "predictions-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = run("monitor", "run", "--once", "--logs", str(logs), "--window", "1h")
    assert "Ingested 20 requests" in out and "Profiled fraud version 1 from" in out
    assert (logs / "ingested" / "predictions-1.jsonl").exists()
    shown = run("monitor", "report", "fraud@1", "--window", "1h", "--end", str(T0 + HOUR), "--json")
    assert set(json.loads(shown)["features"]) == {"amount", "items"}  # the label column was left out
    assert pd.notna(json.loads(shown)["prediction"]["psi"])


def test_batch_scoring_with_monitor_stores_rows_that_labels_join_by_key(run, settings, tmp_path: Path):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import runstone
    import runstone.sklearn
    from runstone.sdk import fluent

    frame = reference_frame().drop(columns=["country"])
    label = (frame["amount"] > 100).astype(int)
    # A client of this test's stores (the fluent API would reuse settings read by an earlier test).
    fluent.set_tracking_uri(RunstoneClient(settings.database_uri, settings=settings))
    try:
        with runstone.start_run():
            model = LogisticRegression().fit(frame, label)
            runstone.sklearn.log_model(model, "model", input_example=frame.head(3), registered_model_name="fraud")
    finally:
        fluent.set_tracking_uri(None)
    run("registry", "alias", "fraud", "champion", "1")
    frame.assign(label=label).to_csv(tmp_path / "train.csv", index=False)
    assert "label" in run("monitor", "profile", "fraud@champion", "--data", str(tmp_path / "train.csv"))
    scored = frame.head(500).assign(order_id=[f"o{i}" for i in range(500)])
    scored.to_csv(tmp_path / "in.csv", index=False)
    out = run("models", "predict", "-m", "models:/fraud@champion", "-i", str(tmp_path / "in.csv"), "-o",
              str(tmp_path / "out.parquet"), "-k", "order_id", "--monitor", "--no-progress")  # fmt: skip
    assert "Stored 500 rows as prediction logs of fraud version 1" in out
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\n" + "".join(f"o{i},{int(v)}\n" for i, v in enumerate(np.asarray(label)[:500])))
    assert "Recorded 500 labels." in run("monitor", "labels", str(labels))
    report = json.loads(run("monitor", "report", "fraud@1", "--window", "1h", "--json"))
    assert report["rows"] == 500 and set(report["features"]) == {"amount", "items"}
    assert report["quality"]["accuracy"] > 0.9
    error = run("models", "predict", "-m", str(tmp_path), "-i", str(tmp_path / "in.csv"), "-o",
                str(tmp_path / "o.parquet"), "--monitor", code=1)  # fmt: skip
    assert "--monitor needs a registered version" in error
