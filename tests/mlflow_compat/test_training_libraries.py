"""Training libraries that report to MLflow, against a real ``runstone server`` with the stock
client: Lightning's ``MLFlowLogger`` and the transformers ``Trainer`` (its MLflowCallback), each
training a small model it builds itself. (Optuna's callback is in test_optuna.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from e2e_support import Server, remote
from safetensors.numpy import load_file
from stock_client import run_client

from runstone.models.uri import local_path

pytestmark = pytest.mark.e2e


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
