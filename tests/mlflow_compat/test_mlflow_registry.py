"""MLflow's model registry protocol over runstone's governed registry."""

from __future__ import annotations

from mlflow_api import Mlflow

from runstone.backend import Backend
from runstone.entities import Policy


def _logged_model(mlflow_api: Mlflow) -> tuple[str, str]:
    """A READY logged model with an MLmodel file, from a new run: (model id, run id)."""
    run_id = mlflow_api.create_run()["info"]["run_id"]
    info = mlflow_api.post("logged-models", experiment_id="0", name="model", source_run_id=run_id)["model"]["info"]
    mlflow_api.upload(info["artifact_uri"].removeprefix("mlflow-artifacts:/"), "MLmodel", b"flavors: {}\n")
    mlflow_api.call("PATCH", f"logged-models/{info['model_id']}", status="LOGGED_MODEL_READY")
    return info["model_id"], run_id


def test_versions_from_logged_models_and_run_artifacts(mlflow_api: Mlflow, backend: Backend):
    registered = mlflow_api.post("registered-models/create", name="iris", description="flowers")["registered_model"]
    assert registered["name"] == "iris" and registered["description"] == "flowers"
    duplicate = mlflow_api.error("POST", "registered-models/create", 400, name="iris")
    assert duplicate["error_code"] == "RESOURCE_ALREADY_EXISTS"

    model_id, run_id = _logged_model(mlflow_api)
    v1 = mlflow_api.post("model-versions/create", name="iris", source=f"models:/{model_id}", model_id=model_id)
    v1 = v1["model_version"]
    assert (v1["version"], v1["source"], v1["run_id"], v1["model_id"], v1["status"]) == (
        "1",
        f"models:/{model_id}",
        run_id,
        model_id,
        "READY",
    )
    assert v1["current_stage"] == "None"
    registrations = mlflow_api.get(f"logged-models/{model_id}")["model"]["info"]["registrations"]
    assert registrations == [{"name": "iris", "version": "1"}]
    assert mlflow_api.get("model-versions/get-download-uri", name="iris", version="1") == {
        "artifact_uri": f"mlflow-artifacts:/0/models/{model_id}/artifacts"
    }

    # A model in a run's artifacts, given as its artifact location, is kept as runs:/.
    run = mlflow_api.create_run()["info"]
    mlflow_api.upload(run["artifact_uri"].removeprefix("mlflow-artifacts:/"), "model/MLmodel", b"flavors: {}\n")
    v2 = mlflow_api.post(
        "model-versions/create", name="iris", source=f"{run['artifact_uri']}/model", run_id=run["run_id"]
    )["model_version"]
    assert v2["source"] == f"runs:/{run['run_id']}/model" and "model_id" not in v2
    assert backend.registry().get_model_version("iris", 2).source == f"runs:/{run['run_id']}/model"
    assert mlflow_api.get("model-versions/get-download-uri", name="iris", version=2) == {
        "artifact_uri": f"{run['artifact_uri']}/model"
    }
    # Never a local path or a foreign URL.
    for source in ("/etc", "file:///etc", "s3://bucket/model", f"models:/{'m-' + 'a' * 32}"):
        body = mlflow_api.error("POST", "model-versions/create", None, name="iris", source=source)
        assert body["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"), source


def test_aliases_stages_tags_and_searches(mlflow_api: Mlflow):
    mlflow_api.post("registered-models/create", name="churn", tags=[{"key": "team", "value": "a"}])
    model_id, _ = _logged_model(mlflow_api)
    for _ in range(3):
        mlflow_api.post("model-versions/create", name="churn", source=f"models:/{model_id}")

    assert mlflow_api.post("registered-models/alias", name="churn", alias="champion", version="2") == {}
    by_alias = mlflow_api.get("registered-models/alias", name="churn", alias="champion")["model_version"]
    assert by_alias["version"] == "2" and by_alias["aliases"] == ["champion"]
    model = mlflow_api.get("registered-models/get", name="churn")["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "2"}]
    assert model["tags"] == [{"key": "team", "value": "a"}]

    moved = mlflow_api.post(
        "model-versions/transition-stage",
        name="churn",
        version="1",
        stage="Production",
        archive_existing_versions=False,
    )["model_version"]
    assert moved["current_stage"] == "Production"
    mlflow_api.post(
        "model-versions/transition-stage", name="churn", version="3", stage="production", archive_existing_versions=True
    )
    stages = {
        v["version"]: v["current_stage"]
        for v in mlflow_api.get("model-versions/search", filter="name='churn'")["model_versions"]
    }
    assert stages == {"1": "Archived", "2": "None", "3": "Production"}
    latest = mlflow_api.post("registered-models/get-latest-versions", name="churn", stages=["Production"])
    assert [v["version"] for v in latest["model_versions"]] == ["3"]
    by_get = mlflow_api.get("registered-models/get-latest-versions", name="churn", stages=["Archived", "None"])
    assert sorted(v["version"] for v in by_get["model_versions"]) == ["1", "2"]

    updated = mlflow_api.call("PATCH", "registered-models/update", name="churn", description="churn models")
    assert updated["registered_model"]["description"] == "churn models"
    assert mlflow_api.post("registered-models/set-tag", name="churn", key="owner", value="growth") == {}
    assert mlflow_api.call("DELETE", "registered-models/delete-tag", name="churn", key="team") == {}
    assert mlflow_api.get("registered-models/get", name="churn")["registered_model"]["tags"] == [
        {"key": "owner", "value": "growth"}
    ]
    got = mlflow_api.get("model-versions/get", name="churn", version="3")["model_version"]
    assert (got["current_stage"], got["source"]) == ("Production", f"models:/{model_id}")

    mlflow_api.post("model-versions/set-tag", name="churn", version="3", key="validated", value="yes")
    tagged = mlflow_api.get("model-versions/search", filter="tags.validated = 'yes'")["model_versions"]
    assert [(v["name"], v["version"]) for v in tagged] == [("churn", "3")]
    assert mlflow_api.call("DELETE", "model-versions/delete-tag", name="churn", version="3", key="validated") == {}
    updated = mlflow_api.call("PATCH", "model-versions/update", name="churn", version="3", description="best")
    assert updated["model_version"]["description"] == "best"

    # The stock client adds a clause that keeps prompts out of every registered-model search.
    prompt_free = "name LIKE 'ch%' AND tag.`mlflow.prompt.is_prompt` != 'true'"
    found = mlflow_api.get("registered-models/search", filter=prompt_free)
    assert [m["name"] for m in found["registered_models"]] == ["churn"]
    assert mlflow_api.get("registered-models/search", filter="tags.`mlflow.prompt.is_prompt` = 'true'") == {}

    renamed = mlflow_api.post("registered-models/rename", name="churn", new_name="churn2")["registered_model"]
    assert renamed["name"] == "churn2"
    assert mlflow_api.call("DELETE", "registered-models/alias", name="churn2", alias="champion") == {}
    assert mlflow_api.error("GET", "registered-models/alias", 404, name="churn2", alias="champion")
    assert mlflow_api.call("DELETE", "model-versions/delete", name="churn2", version="1") == {}
    assert mlflow_api.call("DELETE", "registered-models/delete", name="churn2") == {}
    assert (
        mlflow_api.error("GET", "registered-models/get", 404, name="churn2")["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    )


def test_protected_stages_and_aliases_refuse_direct_changes(mlflow_api: Mlflow, backend: Backend):
    mlflow_api.post("registered-models/create", name="fraud")
    model_id, _ = _logged_model(mlflow_api)
    mlflow_api.post("model-versions/create", name="fraud", source=f"models:/{model_id}")
    backend.registry().set_policy("fraud", Policy(protected_stages=["Production"], protected_aliases=["champion"]))

    stage = mlflow_api.error(
        "POST", "model-versions/transition-stage", 403, name="fraud", version="1", stage="Production"
    )
    alias = mlflow_api.error("POST", "registered-models/alias", 403, name="fraud", alias="champion", version="1")
    assert stage["error_code"] == alias["error_code"] == "PERMISSION_DENIED"
    assert "request" in alias["message"]
    assert backend.registry().get_model_version("fraud", 1).current_stage == "None"
    # Unprotected targets still move directly.
    assert mlflow_api.post("registered-models/alias", name="fraud", alias="challenger", version="1") == {}
