"""Models the stock mlflow 3 client logs to a real ``runstone server`` — named ``models:/m-<id>``,
scikit-learn ones in skops format by default — served, scored, packaged, rebuilt and loaded by
runstone's commands, SDK loaders and Spark UDF, each given the URI the client returned (or the
``runs:/<run>/<name>`` URI MLflow resolves to the model logged in the run)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from e2e_support import Server, remote, run_cli, run_python
from serving_support import serve_command, start_scoring
from stock_client import run_client

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def logged(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the stock client logged once for the module (URIs, rows, expected predictions)."""
    seen = run_client("mlflow3_models", server.url, cwd=tmp_path_factory.mktemp("client"), timeout=600)
    for key in ("sklearn", "pinned", "keras"):
        assert seen[key].startswith("models:/m-"), seen[key]
    return seen


def rows(logged: dict[str, Any]) -> pd.DataFrame:
    split = logged["rows"]
    return pd.DataFrame(split["data"], columns=split["columns"])


def test_a_skops_model_logged_with_every_default_is_served_by_its_models_uri(server, logged, tmp_path):
    with remote(server.url) as client:
        folder = Path(client.download_logged_model_artifacts(logged["sklearn_id"], "", tmp_path / "pkg"))
    flavor = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["sklearn"]
    assert flavor["serialization_format"] == "skops" and (folder / "model.skops").is_file()

    scoring = start_scoring(serve_command("-m", logged["sklearn"]), tmp_path / "serve.log", env=server.env())
    try:
        frame = rows(logged)
        body = {"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}
        answer = httpx.post(f"{scoring.url}/invocations", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": logged["expected"]}
        meta = httpx.get(f"{scoring.url}/metadata", timeout=30).json()
        assert meta["model_uri"] == logged["sklearn"] and meta["model_name"] == logged["sklearn_id"]
    finally:
        scoring.stop()


def test_a_keras_model_the_stock_client_logged_is_served_by_its_models_uri(server, logged, tmp_path):
    scoring = start_scoring(serve_command("-m", logged["keras"]), tmp_path / "serve.log", env=server.env())
    try:
        body = {"inputs": rows(logged).to_numpy().tolist()}  # decimals, for a float32 input
        answer = httpx.post(f"{scoring.url}/invocations", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(answer.json()["predictions"], logged["probabilities"], rtol=1e-5)
    finally:
        scoring.stop()


def test_batch_scoring_and_docker_contexts_take_logged_model_uris(server, logged, tmp_path):
    rows(logged).to_csv(tmp_path / "in.csv", index=False)

    scored = run_cli(
        "models", "predict", "-m", logged["sklearn"], "-i", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"),
        "--no-progress", "--tracking-uri", server.url,
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    assert pd.read_csv(tmp_path / "out.csv")["prediction"].tolist() == logged["expected"]

    built = run_cli("models", "build-docker", "-m", logged["sklearn"], "-o", str(tmp_path / "image"),
                    "--tracking-uri", server.url)  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "image" / "model" / "model.skops").is_file()
    assert (tmp_path / "image" / "Dockerfile").is_file()

    # A logged model is not a registered version: recording a deployment of it says so.
    refused = run_cli("models", "serve", "-m", logged["sklearn"], "--deployment-name", "api",
                      "--tracking-uri", server.url)  # fmt: skip
    assert refused.returncode == 1
    assert "is not a registered model version" in refused.stdout + refused.stderr


def test_a_runs_uri_names_the_model_the_stock_client_logged_in_the_run(server, logged, tmp_path):
    # MLflow 3 keeps log_model's files with the logged model, not in the run's artifacts; a
    # runs:/<run>/<name> URI still names it, as MLflow resolves it.
    by_run = f"runs:/{logged['run_id']}/model"
    rows(logged).to_csv(tmp_path / "in.csv", index=False)
    scored = run_cli(
        "models", "predict", "-m", by_run, "-i", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"),
        "--no-progress", "--tracking-uri", server.url,
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    assert pd.read_csv(tmp_path / "out.csv")["prediction"].tolist() == logged["expected"]

    scoring = start_scoring(serve_command("-m", by_run), tmp_path / "serve.log", env=server.env())
    try:
        frame = rows(logged)
        body = {"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}
        answer = httpx.post(f"{scoring.url}/invocations", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": logged["expected"]}
    finally:
        scoring.stop()

    # Registering it records the logged model as the version's source, which loads as any other.
    registered = run_cli("registry", "register", "from-run", by_run, "--create-model", "--tracking-uri", server.url)
    assert registered.returncode == 0, registered.stderr
    assert f"from {logged['sklearn']}" in registered.stdout
    again = run_cli(
        "models", "predict", "-m", "models:/from-run/1", "-i", str(tmp_path / "in.csv"), "-o",
        str(tmp_path / "again.csv"), "--no-progress", "--tracking-uri", server.url,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert pd.read_csv(tmp_path / "again.csv")["prediction"].tolist() == logged["expected"]

    # A name the run has neither as an artifact nor as a logged model is refused, naming both.
    missing = run_cli(
        "models", "predict", "-m", f"runs:/{logged['run_id']}/absent", "-i", str(tmp_path / "in.csv"), "-o",
        str(tmp_path / "none.csv"), "--no-progress", "--tracking-uri", server.url,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "has no artifact at 'absent'" in missing.stderr and "no logged model named 'absent'" in missing.stderr


def test_env_create_and_verify_take_logged_model_uris(server, logged, tmp_path):
    env = tmp_path / "env"

    created = run_cli("models", "env", "create", logged["pinned"], str(env), "--tracking-uri", server.url, timeout=900)
    assert created.returncode == 0, created.stdout + created.stderr
    verified = run_cli("models", "verify", logged["pinned"], "--env", str(env), "--tracking-uri", server.url,
                       timeout=300)  # fmt: skip

    # MLflow records no output with a model: the rebuilt environment is compared with this one.
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "PASS: the output equals the one computed here (none was recorded)" in verified.stdout


SDK = textwrap.dedent(
    """
    import json, sys
    import pandas as pd
    import runstone.keras, runstone.models, runstone.sklearn

    seen = json.loads(sys.argv[1])
    frame = pd.DataFrame(seen["rows"]["data"], columns=seen["rows"]["columns"])
    print(json.dumps({
        "pyfunc": runstone.models.load_model(seen["sklearn"]).predict(frame).tolist(),
        "native": runstone.sklearn.load_model(seen["sklearn"]).predict(frame).tolist(),
        "by_run": runstone.models.load_model(f"runs:/{seen['run_id']}/model").predict(frame).tolist(),
        "native_by_run": runstone.sklearn.load_model(f"runs:/{seen['run_id']}/model").predict(frame).tolist(),
        "keras": runstone.keras.load_model(seen["keras"]).predict_on_batch(frame.to_numpy("float32")).tolist(),
    }))
    """
)


def test_the_sdk_loaders_take_logged_model_uris(server, logged, tmp_path):
    script = tmp_path / "load.py"
    script.write_text(SDK)

    done = run_python(script, json.dumps(logged), env=server.env(), timeout=300)

    assert done.returncode == 0, done.stderr[-5000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["pyfunc"] == seen["native"] == logged["expected"]
    assert seen["by_run"] == seen["native_by_run"] == logged["expected"]
    np.testing.assert_allclose(seen["keras"], logged["probabilities"], rtol=1e-5)


def test_spark_udf_takes_logged_model_uris(server, logged, monkeypatch):
    from pyspark.sql import SparkSession

    from runstone.spark import spark_udf

    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    monkeypatch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("runstone-mlflow3-uris")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    try:
        spark.sparkContext.setLogLevel("ERROR")
        with remote(server.url) as client:
            predict = spark_udf(spark, logged["sklearn"], result_type="long", client=client)
            by_run = spark_udf(spark, f"runs:/{logged['run_id']}/model", result_type="long", client=client)
        frame = spark.createDataFrame(rows(logged))
        scored = frame.withColumns({"prediction": predict(*frame.columns), "by_run": by_run(*frame.columns)}).toPandas()
    finally:
        spark.stop()

    assert scored["prediction"].tolist() == scored["by_run"].tolist() == logged["expected"]
