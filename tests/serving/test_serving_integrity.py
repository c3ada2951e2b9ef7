"""Approved versions cannot change under a running server (issue "Hardening", item 1).

Writes through the API are refused (tests/e2e/test_registered_versions.py), so these attacks
change the files where an intruder with disk access, or a misconfigured bucket, would: in the
artifact store's folder. Every loader checks a registered version's files against the manifest
recorded at registration and refuses, naming the file; a server following an alias keeps
serving the approved version."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from e2e_support import remote, run_cli, run_python, wait_flushed
from serving_support import serve_command, start_scoring

import runstone.models
from runstone.config import Settings
from runstone.entities import Policy
from runstone.errors import Immutable, ManifestMismatch
from runstone.sdk.client import RunstoneClient

pytestmark = pytest.mark.e2e

TRAIN = textwrap.dedent(
    """
    import sys

    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import runstone
    import runstone.sklearn

    rng = np.random.RandomState(0)
    X = pd.DataFrame({"amount": rng.rand(300) * 100, "items": rng.randint(1, 9, 300).astype("int64")})
    y = (X.amount / X["items"] > 20).astype("int64")
    runstone.set_experiment("fraud")
    with runstone.start_run():  # the approved model: version 1
        runstone.sklearn.log_model(
            LogisticRegression().fit(X, y), "model", input_example=X.head(3), registered_model_name="fraud"
        )
    # The intruder's model answers the opposite; it is saved, never logged.
    runstone.sklearn.save_model(LogisticRegression().fit(X, 1 - y), sys.argv[1], input_example=X.head(3))
    """
)
PROBE = {"dataframe_records": [{"amount": 90.0, "items": 1}]}  # version 1 answers 1, the intruder's 0


def _train(server, tmp_path: Path) -> Path:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    evil = tmp_path / "evil-model"
    trained = run_python(script, str(evil), env=server.env(), timeout=300)
    assert trained.returncode == 0, trained.stderr
    return evil


def _stored(server, run_id: str, path: str) -> Path:
    """The file of a run's artifact in the server's folder, once the server has flushed it."""
    wait_flushed(server.home)
    (found,) = (server.home / "artifacts").glob(f"*/{run_id}/artifacts/{path}")
    return found


def _approve(server, name: str, version: str, **target: str) -> None:
    """Move a protected stage or alias to ``version`` the governed way: a request and an approval."""
    with remote(server.url) as requester, httpx.Client(base_url=server.url, timeout=30) as http:
        request = requester.request_transition(name, version, **target)
        approver = RunstoneClient(server.url, http_client=http, settings=Settings(user="approver"))
        approver.approve_request(request.id, "same bytes as the approved version")


def test_a_following_server_refuses_a_switch_to_altered_files_and_keeps_serving_the_approved_version(server, tmp_path):
    evil = _train(server, tmp_path)
    with remote(server.url) as client:
        client.set_registered_model_alias("fraud", "champion", "1")
        client.set_model_policy("fraud", Policy(protected_aliases=["champion"], required_approvals=1))
        # The intruder copies version 1's files into a run of their own and registers them: the
        # same bytes as the approved version, so the promotion is approved without a second look.
        v1 = client.get_model_version("fraud", "1")
        copied = Path(client.download_artifacts(v1.run_id, "model", tmp_path / "copy"))
        run_id = client.create_run("0").info.run_id
        client.log_artifacts(run_id, copied, "model")
        v2 = client.create_model_version("fraud", f"runs:/{run_id}/model", run_id)
        assert v2.manifest_digest == v1.manifest_digest
        scoring = start_scoring(
            serve_command("-m", "models:/fraud@champion", "--follow", "--follow-interval", "0.2",
                          "--deployment-name", "fraud-api"),
            tmp_path / "serve.log",
            env=server.env(),
        )  # fmt: skip
        try:
            assert httpx.post(f"{scoring.url}/invocations", json=PROBE).json() == {"predictions": [1]}
            # Overwriting the copy through the API is refused now that it is a version...
            with pytest.raises(Immutable, match="version 2 of registered model 'fraud'"):
                client.log_artifact(run_id, evil / "model.pkl", "model")
            # ...so the intruder swaps the file in storage, then the promotion is approved.
            _stored(server, run_id, "model/model.pkl").write_bytes((evil / "model.pkl").read_bytes())
            _approve(server, "fraud", v2.version, alias="champion")
            assert client.get_model_version_by_alias("fraud", "champion").version == "2"

            deadline = time.monotonic() + 60
            while "following models:/fraud@champion failed" not in scoring.log():
                assert time.monotonic() < deadline, f"the follower never tried version 2:\n{scoring.log()[-3000:]}"
                time.sleep(0.1)
            time.sleep(1.0)  # several more polls: each one refuses again
            for _ in range(5):
                answer = httpx.post(f"{scoring.url}/invocations", json=PROBE)
                assert answer.json() == {"predictions": [1]}, "the altered files must never answer"
                assert answer.headers["x-runstone-model-version"] == "1"
            assert httpx.get(f"{scoring.url}/metadata").json()["model_version"] == "1"
            log = scoring.log()
            assert "model.pkl" in log and "version 2 of registered model 'fraud'" in log
            assert "model switched" not in log
            (record,) = client.list_deployments("fraud", active_only=True)
            assert (record.version, record.manifest_digest) == ("1", v1.manifest_digest)
        finally:
            scoring.stop()


def test_every_loader_refuses_an_approved_version_altered_in_storage(server, tmp_path):
    evil = _train(server, tmp_path)
    with remote(server.url) as client:
        client.set_model_policy("fraud", Policy(protected_stages=["Production"], required_approvals=1))
        _approve(server, "fraud", "1", stage="Production")
        run_id = client.get_model_version("fraud", "1").run_id
        uri = "models:/fraud/Production"
        loaded = runstone.models.load_model(uri, client=client)
        assert loaded.predict(pd.DataFrame(PROBE["dataframe_records"])).tolist() == [1]
        # The reproduction of the issue: an overwrite through the API once answered 200.
        put = httpx.put(f"{server.url}/api/v1/runs/{run_id}/artifacts/model/model.pkl", content=b"other bytes")
        assert put.status_code == 409 and "version 1 of registered model 'fraud'" in put.text

        _stored(server, run_id, "model/model.pkl").write_bytes((evil / "model.pkl").read_bytes())

        for target in (uri, f"runs:/{run_id}/model"):
            with pytest.raises(ManifestMismatch, match=r"model\.pkl"):
                runstone.models.load_model(target, client=client)
        from runstone.spark import spark_udf

        with pytest.raises(ManifestMismatch, match=r"model\.pkl"):
            spark_udf(None, uri, client=client)  # refused on the driver, before Spark is touched

    rows = tmp_path / "rows.csv"
    rows.write_text("amount,items\n90.0,1\n")
    commands = {
        "predict": ["models", "predict", "-m", uri, "-i", str(rows), "-o", str(tmp_path / "out.csv")],
        "verify": ["models", "verify", uri],
        "build-docker": ["models", "build-docker", "-m", uri, "-o", str(tmp_path / "context")],
        "serve": ["models", "serve", "-m", uri, "--port", "0"],
    }
    for name, argv in commands.items():
        done = run_cli(*argv, env=server.env(), timeout=300)
        assert done.returncode != 0, f"{name} accepted altered files:\n{done.stdout}\n{done.stderr}"
        said = done.stdout + done.stderr
        assert "model.pkl" in said and "version 1 of registered model 'fraud'" in said, f"{name}: {said[-2000:]}"
        assert "Traceback" not in said, f"{name}: {said[-2000:]}"
    assert not (tmp_path / "out.csv").exists()
    assert not (tmp_path / "context" / "model").exists()
