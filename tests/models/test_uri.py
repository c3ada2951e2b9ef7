"""Model URIs: runs:/, models:/ (version, alias, stage, latest), file:// and paths."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from sklearn.linear_model import LinearRegression

import runstone
import runstone.models
import runstone.sklearn
from runstone.errors import InvalidInput, NotFound
from runstone.models.uri import RegistryRef, local_path, parse_models_uri


@pytest.mark.parametrize(
    ("uri", "ref"),
    [
        ("models:/fraud/3", RegistryRef("fraud", version="3")),
        ("models:/fraud@champion", RegistryRef("fraud", alias="champion")),
        ("models:/fraud/Production", RegistryRef("fraud", stage="Production")),
        ("models:/fraud/latest", RegistryRef("fraud", latest=True)),
        ("models:/my%20model/1", RegistryRef("my model", version="1")),
    ],
)
def test_models_uris_parse(uri: str, ref: RegistryRef) -> None:
    assert parse_models_uri(uri) == ref


@pytest.mark.parametrize("uri", ["models:/", "models:/fraud", "models:/a/b/c", "s3://bucket/model", "runs:/"])
def test_bad_or_unsupported_uris_are_refused_clearly(uri: str) -> None:
    with pytest.raises(InvalidInput, match="model URI"):
        local_path(uri)


def test_paths_and_file_uris_name_local_packages(tmp_path: Path, table) -> None:
    X, y = table
    runstone.sklearn.save_model(LinearRegression().fit(X, y), tmp_path / "pkg")

    assert local_path(tmp_path / "pkg") == (tmp_path / "pkg").resolve()
    assert local_path(f"file://{tmp_path / 'pkg'}") == (tmp_path / "pkg").resolve()
    with pytest.raises(NotFound, match="No model at"):
        local_path(tmp_path / "missing")


def test_registered_versions_resolve_by_version_alias_stage_and_latest(table, client) -> None:
    X, y = table
    with runstone.start_run():
        first = runstone.sklearn.log_model(LinearRegression().fit(X, y), "model", registered_model_name="fraud")
        second = runstone.sklearn.log_model(
            LinearRegression(fit_intercept=False).fit(X, y), "model2", registered_model_name="fraud"
        )
    assert (first.registered_model_version, second.registered_model_version) == (1, 2)
    client.set_registered_model_alias("fraud", "champion", "1")
    client.transition_model_version_stage("fraud", "2", "Staging")

    def intercept(uri: str) -> bool:
        return bool(runstone.sklearn.load_model(uri).fit_intercept)

    assert intercept("models:/fraud/1") is True
    assert intercept("models:/fraud@champion") is True
    assert intercept("models:/fraud/Staging") is False
    assert intercept("models:/fraud/latest") is False
    assert runstone.models.load_model("models:/fraud/2").metadata.artifact_path == "model2"
    with pytest.raises(NotFound):
        runstone.models.load_model("models:/fraud/Production")


def test_the_resolver_calls_the_registry_by_mlflow_method_names(tmp_path: Path, table) -> None:
    """Any client with MLflow's registry methods works: here a stand-in that records calls."""
    X, y = table
    with runstone.start_run() as run:
        runstone.sklearn.log_model(LinearRegression().fit(X, y), "model")
    calls: list[tuple[str, tuple[object, ...]]] = []
    version = SimpleNamespace(version="7", source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)

    class Registry:
        def get_model_version(self, *args: object) -> object:
            calls.append(("get_model_version", args))
            return version

        def get_model_version_by_alias(self, *args: object) -> object:
            calls.append(("get_model_version_by_alias", args))
            return version

        def get_latest_versions(self, name: str, stages: object = None) -> list[object]:
            calls.append(("get_latest_versions", (name, stages)))
            return [version]

        def download_artifacts(self, run_id: str, path: str, dst: Path) -> str:
            calls.append(("download_artifacts", (run_id, path)))
            return runstone.RunstoneClient().download_artifacts(run_id, path, dst)

    for uri in ("models:/m/7", "models:/m@prod", "models:/m/Staging"):
        runstone.models.load_model(uri, client=Registry())

    assert [c for c in calls if c[0] != "download_artifacts"] == [
        ("get_model_version", ("m", "7")),
        ("get_model_version_by_alias", ("m", "prod")),
        ("get_latest_versions", ("m", ["Staging"])),
    ]
    assert ("download_artifacts", (run.info.run_id, "model")) in calls


def test_a_run_without_that_model_is_not_found(table) -> None:
    with runstone.start_run() as run:
        pass

    with pytest.raises(NotFound, match="no artifact"):
        runstone.models.load_model(f"runs:/{run.info.run_id}/model")
