"""PyTorch autologging through torch's global hooks, for a hand-written loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import runstone
import runstone.models
import runstone.pytorch


def train(X: np.ndarray, y: np.ndarray, epochs: int = 2) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y).unsqueeze(1)), batch_size=16)
    for _ in range(epochs):
        for features, target in loader:
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(features), target)
            loss.backward()
            optimizer.step()
    return model


def test_steps_log_params_loss_lr_and_the_dataset(matrix, client) -> None:
    X, y = matrix
    runstone.pytorch.autolog()

    with runstone.start_run() as run:
        train(X, y)

    logged = client.get_run(run.info.run_id)
    assert logged.data.params["optimizer_name"] == "SGD"
    assert logged.data.params["lr"] == "0.05"
    assert logged.data.params["momentum"] == "0.9"
    loss = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in loss] == list(range(1, 9))  # 64 rows / 16 per batch * 2 epochs
    assert loss[-1].value < loss[0].value
    assert [m.value for m in client.get_metric_history(run.info.run_id, "lr")] == [0.05] * 8
    assert logged.inputs.dataset_inputs[0].dataset.digest == runstone.data.from_numpy(X, targets=y[:, None]).digest


def test_log_model_gets_the_trained_batch_as_input_example(matrix) -> None:
    X, y = matrix
    runstone.pytorch.autolog()

    with runstone.start_run():
        model = train(X, y, epochs=1)
        info = runstone.pytorch.log_model(model, "model")

    assert info.signature is not None and info.signature.inputs is not None
    assert info.signature.inputs.to_list() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}
    ]
    loaded = runstone.models.load_model(info.model_uri)
    with torch.no_grad():
        expected = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(loaded.predict(X), expected)


def test_a_step_without_a_run_starts_one_that_stays_active(matrix) -> None:
    X, y = matrix
    runstone.pytorch.autolog(log_every_n_steps=4)

    train(X, y, epochs=1)

    run = runstone.active_run()
    assert run is not None
    runstone.end_run()


def test_disable_removes_the_hooks(matrix) -> None:
    X, y = matrix
    backward = torch.Tensor.backward

    runstone.pytorch.autolog()
    runstone.pytorch.autolog(disable=True)
    train(X, y, epochs=1)

    assert torch.Tensor.backward is backward
    assert runstone.active_run() is None
    assert runstone.last_active_run() is None


@pytest.mark.parametrize("missing", ["torch", "xgboost"])
def test_autolog_skips_a_library_that_is_not_installed(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    import sys

    monkeypatch.setitem(sys.modules, missing, None)  # import now fails as if not installed

    applied = runstone.autolog()

    flavor = {"torch": "pytorch", "xgboost": "xgboost"}[missing]
    assert flavor not in applied
    assert "sklearn" in applied
    getattr(runstone, flavor).autolog()  # says so in the log, does not raise
