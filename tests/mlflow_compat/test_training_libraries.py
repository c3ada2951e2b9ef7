"""Training libraries that report to MLflow, against a real ``runstone server`` with the stock
client: MLflow's autologging of XGBoost, LightGBM and Keras, Lightning's ``MLFlowLogger`` and the
transformers ``Trainer`` (its MLflowCallback), each training a small model it builds itself.
(scikit-learn's autologging is in test_stock_client.py, Optuna's callback in test_optuna.py.)"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from e2e_support import Server, remote, run_python
from safetensors.numpy import load_file
from stock_client import run_client

from runstone.models.uri import local_path

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def autologged(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_client("autolog_frameworks", server.url, cwd=tmp_path_factory.mktemp("autolog"), timeout=600)


@pytest.fixture(scope="module")
def lightning(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_client("lightning_logger", server.url, cwd=tmp_path_factory.mktemp("lightning"), timeout=600)


@pytest.fixture(scope="module")
def trainer(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_client("transformers_trainer", server.url, cwd=tmp_path_factory.mktemp("hf"), timeout=600)


def test_lightning_logs_hyperparameters_metrics_by_step_and_the_checkpoint(server, lightning, tmp_path):
    with remote(server.url) as client:
        run = client.get_run(lightning["run_id"])
        assert run.info.status == "FINISHED" and run.info.run_name == "regressor"
        assert run.data.params == {"hidden": "8", "lr": "0.05"}
        # 4 batches an epoch, 3 epochs: a training loss at each of the 12 steps, one a epoch.
        steps = client.get_metric_history(run.info.run_id, "train_loss_step")
        assert [m.step for m in steps] == list(range(12))
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss_epoch")] == [3, 7, 11]
        assert run.data.metrics["val_loss"] == pytest.approx(lightning["final"]["val_loss"])
        assert steps[-1].value == pytest.approx(lightning["final"]["train_loss_step"])
        # log_model=True: the checkpoint is an artifact of the run, and loads.
        folder = next(f for f in client.list_artifacts(run.info.run_id) if f.is_dir)
        files = [f.path for f in client.list_artifacts(run.info.run_id, folder.path)]
        checkpoint = next(p for p in files if p.endswith(".ckpt"))
        local = client.download_artifacts(run.info.run_id, checkpoint, tmp_path)
    state = torch.load(local, map_location="cpu", weights_only=False)
    assert state["hyper_parameters"] == {"hidden": 8, "lr": 0.05}
    assert state["global_step"] == lightning["steps"] == 12


def test_the_transformers_trainer_logs_its_arguments_losses_and_checkpoints(server, trainer, tmp_path):
    with remote(server.url) as client:
        run = client.get_run(trainer["run_id"])
        assert run.info.status == "FINISHED" and run.info.run_name == "tiny-bert"
        # The training arguments and the model's config, flattened, as params (well over 100).
        params = run.data.params
        assert len(params) > 100
        assert params["learning_rate"] == "0.001" and params["num_train_epochs"] == "2"
        assert params["hidden_size"] == "16" and params["model_type"] == "bert"
        # The loss of each logging step (every 2 steps), as the Trainer recorded it.
        logged = [(e["step"], e["loss"]) for e in trainer["log_history"] if "loss" in e]
        history = client.get_metric_history(run.info.run_id, "loss")
        assert [(m.step, m.value) for m in history] == [(s, pytest.approx(v)) for s, v in logged]
        assert [m.step for m in client.get_metric_history(run.info.run_id, "eval_loss")] == [4, 8]
        # Each epoch's checkpoint is a model logged in the run (MLflow 3), named after it ...
        models = client.search_logged_models([trainer["experiment_id"]])
        assert sorted(m.name for m in models if m.source_run_id == run.info.run_id) == ["checkpoint-4", "checkpoint-8"]
        # ... which runs:/<run>/checkpoint-8 names, holding the trained weights.
        folder = local_path(f"runs:/{run.info.run_id}/checkpoint-8", tmp_path / "pkg", client=client)
    weights = load_file(Path(folder) / "artifacts" / "checkpoint-8" / "model.safetensors")
    np.testing.assert_allclose(weights["classifier.weight"], trainer["classifier_weight"], rtol=1e-6)


AUTOLOGGED = {
    # framework: (params it records, metric, its steps)
    "xgboost": ({"max_depth": "2", "num_boost_round": "5", "objective": "multi:softprob"}, "train-mlogloss", 5),
    "lightgbm": ({"num_leaves": "4", "num_boost_round": "5", "objective": "multiclass"}, "train-multi_logloss", 5),
    "keras": ({"epochs": "3", "batch_size": "50", "optimizer_name": "adam"}, "loss", 3),
}

LOAD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import runstone.models
    from sklearn.datasets import load_iris

    X = load_iris(return_X_y=True)[0][:3].astype("float32")
    runs = json.loads(sys.argv[1])
    print(json.dumps({name: np.asarray(runstone.models.load_model(f"runs:/{run}/model").predict(X)).tolist()
                      for name, run in runs.items()}))
    """
)


def test_autologging_of_xgboost_lightgbm_and_keras_records_params_metrics_and_the_model(server, autologged, tmp_path):
    with remote(server.url) as client:
        for framework, (params, metric, steps) in AUTOLOGGED.items():
            run = client.get_run(autologged[framework]["run_id"])
            assert run.info.status == "FINISHED" and run.info.run_name == framework
            assert params.items() <= run.data.params.items(), (framework, run.data.params)
            history = client.get_metric_history(run.info.run_id, metric)
            assert [m.step for m in history] == list(range(steps)), framework
            assert len(autologged[framework]["models"]) == 1, framework
    # The model each logged (MLflow 3: a logged model of the run) loads through runstone's SDK by
    # its runs:/<run>/model URI and predicts what the trained model did.
    script = tmp_path / "load.py"
    script.write_text(LOAD)
    runs = {framework: autologged[framework]["run_id"] for framework in AUTOLOGGED}
    done = run_python(script, json.dumps(runs), env=server.env(), timeout=300)
    assert done.returncode == 0, done.stderr[-5000:]
    predicted = json.loads(done.stdout.strip().splitlines()[-1])
    for framework in AUTOLOGGED:
        np.testing.assert_allclose(predicted[framework], autologged[framework]["prediction"], rtol=1e-5)
