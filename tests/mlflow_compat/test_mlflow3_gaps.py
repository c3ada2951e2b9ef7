"""Gaps the stock mlflow 3 client met, closed end to end against a real ``runstone server``:
copying a registered version to another model, MLflow's tag names in runstone's searches, and
the prompt registry refused before anything is written."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
from e2e_support import Server, child_env, remote, run_python
from stock_client import CLIENTS, run_client

from runstone.errors import InvalidInput, NotFound

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def seen(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """runstone's SDK registers native-clf v1 (a runs:/ source); the stock client does the rest."""
    made = run_python(CLIENTS / "native_model.py", env=server.env())
    assert made.returncode == 0, made.stderr
    native = json.loads(made.stdout.strip().splitlines()[-1])
    return {
        "native": native,
        **run_client("mlflow3_gaps", server.url, "models:/native-clf/1", cwd=tmp_path_factory.mktemp("client")),
    }


def digest(files: list[dict[str, Any]], prefix: str) -> str:
    """A package's digest as documented: SHA-256 over each file's path (below the package) and SHA-256."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f["path"]):
        h.update(f"{f['path'][len(prefix) + 1 if prefix else 0 :]}\0{f['sha256']}\n".encode())
    return "sha256:" + h.hexdigest()


def test_copy_model_version_promotes_the_same_package_with_its_digest(server, seen):
    copy = seen["copy"]
    # The copy refers to the logged model of dev-model v1: no bytes moved, and MLflow loads it.
    assert (copy["name"], copy["version"], copy["source"]) == ("prod-model", "1", f"models:/{seen['model_id']}")
    assert copy["tags"]["runstone.copiedFrom"] == "models:/dev-model/1"
    assert seen["loaded"] == seen["expected"]
    listed = httpx.get(f"{server.url}/api/v1/logged-models/{seen['model_id']}/artifacts?recursive=true", timeout=30)
    files = [f for f in listed.json()["files"] if not f["is_dir"]]
    assert "MLmodel" in {f["path"] for f in files}
    assert copy["tags"]["runstone.packageDigest"] == digest(files, "")

    # A version runstone's SDK registered from a run is copied by reference too, digest and all.
    native = seen["copied_native"]
    assert native["source"].startswith("runs:/") and native["source"].endswith("/model")
    assert native["tags"]["runstone.copiedFrom"] == "models:/native-clf/1"
    run_id = native["source"].removeprefix("runs:/").split("/")[0]
    with remote(server.url) as client:
        files = [{"path": f.path, "sha256": f.sha256} for f in client.list_artifacts(run_id, "model")]
        assert native["tags"]["runstone.packageDigest"] == digest(files, "model")
        assert client.get_model_version("native-clf", "1").source == native["source"]
        assert client.get_model_version("prod-native", "1").source == native["source"]


def test_a_copy_of_a_version_that_does_not_exist_is_refused_and_creates_no_version(server, seen):
    with remote(server.url) as client:
        client.create_registered_model("empty-target")
        with pytest.raises(NotFound, match="native-clf"):
            client.create_model_version("empty-target", "models:/native-clf/99")
        with pytest.raises(InvalidInput, match="version number or an alias"):
            client.create_model_version("empty-target", "models:/native-clf/latest-ish")
        assert list(client.search_model_versions("name = 'empty-target'")) == []


def test_runstone_searches_take_mlflow_tag_names(server, seen):
    """Runs the stock client made, found by runstone's SDK under MLflow's tag names."""
    with remote(server.url) as client:
        experiment = [seen["experiment_id"]]

        def names(filter_string: str) -> list[str]:
            return sorted(r.info.run_name for r in client.search_runs(experiment, filter_string))

        assert names("tags.mlflow.runName = 'gaps-child'") == ["gaps-child"]
        assert names(f"tags.`mlflow.parentRunId` = '{seen['parent']}'") == ["gaps-child"]
        assert names(f"tags.mlflow.user = '{seen['user']}'") == ["gaps-child", "gaps-parent"]
        assert names("tags.mlflow.source.name LIKE '%mlflow3_gaps.py'") == ["gaps-child", "gaps-parent"]
        # ... in the same filter as runstone's names, and in orderings.
        both = f"tags.runstone.parentRunId = '{seen['parent']}' AND tags.mlflow.runName != 'x'"
        assert names(both) == ["gaps-child"]
        ordered = client.search_runs(experiment, order_by=["tags.mlflow.runName DESC"])
        assert [r.info.run_name for r in ordered] == ["gaps-parent", "gaps-child"]
    # The fluent SDK goes the same way.
    script = (
        "import runstone, json; "
        f"runs = runstone.search_runs([{seen['experiment_id']!r}], filter_string=\"tags.mlflow.runName = 'gaps-parent'\"); "
        "print(json.dumps([r.info.run_id for r in runs]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=child_env(server.env()), timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == f'["{seen["parent"]}"]'


def test_the_prompt_registry_is_refused_before_anything_is_written(server, seen):
    assert "runstone has no prompt registry" in seen["prompt_error"]
    assert "nothing was created" in seen["prompt_error"]
    assert seen["prompt_model_left"] is False
    with remote(server.url) as client:
        assert [m.name for m in client.search_registered_models("name = 'greeting'")] == []


def test_models_runstones_sdk_logs_are_logged_models_mlflow_lists_and_loads(server, seen):
    (model,) = seen["native_models"]
    assert model["name"] == "model" and model["source_run_id"] == seen["native"]["run_id"]
    assert model["status"] == "READY"
    assert seen["native_loaded"] == [seen["native"]["expected"]]
    # runstone's SDK reads the same logged model: its files, and the run that produced it.
    with remote(server.url) as client:
        run = client.get_run(seen["native"]["run_id"])
        listed = httpx.get(f"{server.url}/api/v1/logged-models/{model['model_id']}/artifacts", timeout=30).json()
    assert "MLmodel" in {f["path"] for f in listed["files"]}
    assert run.info.run_id == model["source_run_id"]


def test_runstones_sdk_finds_the_logged_models_mlflow_made(server, seen):
    with remote(server.url) as client:
        found = client.search_logged_models([seen["experiment_id"]], "name = 'model'")
        assert [m.model_id for m in found] == [seen["model_id"]]
        assert found[0].source_run_id == seen["child"] and found[0].status == "READY"
        assert ("dev-model", "1") in found[0].registrations
        # Both kinds in one place: runstone's own model of the native experiment is listed too.
        native = client.get_experiment_by_name("native-models").experiment_id
        assert [m.model_id for m in client.search_logged_models([native])] == [seen["native_models"][0]["model_id"]]
        with pytest.raises(InvalidInput, match="position"):
            client.search_logged_models([native], "name = ")
