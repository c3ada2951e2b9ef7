"""The MLmodel manifest: MLflow's keys, runstone's additions, unknown keys kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from runstone.errors import NotFound
from runstone.models import Model, infer_signature


def test_manifest_round_trips_and_keeps_unknown_keys(tmp_path: Path) -> None:
    model = Model(artifact_path="model", run_id="r" * 32, signature=infer_signature(params={"k": 1}))
    model.add_flavor("python_function", loader_module="mlflow.sklearn", data="model.pkl")
    model.extra["some_future_key"] = {"nested": [1, 2]}
    model.save(tmp_path)

    again = Model.load(tmp_path)
    again.save(tmp_path / "copy.yaml")

    written = yaml.safe_load((tmp_path / "copy.yaml").read_text())
    assert written["some_future_key"] == {"nested": [1, 2]}
    assert written["run_id"] == "r" * 32
    assert written["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
    assert again.signature == model.signature
    assert len(written["model_uuid"]) == 32


def test_a_folder_without_mlmodel_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="No MLmodel file"):
        Model.load(tmp_path)


def test_mlflow_reads_the_manifest(tmp_path: Path) -> None:
    from mlflow.models import Model as MlflowModel

    model = Model(artifact_path="model", signature=infer_signature(params={"k": 1}))
    model.runstone_version = "0.1.0"
    model.save(tmp_path)

    theirs = MlflowModel.load(str(tmp_path))

    assert theirs.signature.params.to_dict() == [{"name": "k", "default": 1, "shape": None, "type": "long"}]
    assert theirs.model_uuid == model.model_uuid
