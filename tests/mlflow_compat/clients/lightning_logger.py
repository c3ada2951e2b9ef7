"""Lightning's MLFlowLogger with the stock mlflow client: a small model trained for three epochs,
its hyperparameters, per-step and per-epoch metrics and its checkpoint logged to the run.

Run with MLFLOW_TRACKING_URI set; prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import os

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger
from torch.utils.data import DataLoader, TensorDataset


class Regressor(L.LightningModule):
    def __init__(self, hidden: int = 8, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


torch.manual_seed(0)
x = torch.randn(64, 4)
y = x.sum(dim=1, keepdim=True)
train = DataLoader(TensorDataset(x, y), batch_size=16)
val = DataLoader(TensorDataset(x[:16], y[:16]), batch_size=16)
logger = MLFlowLogger(
    experiment_name="lightning", tracking_uri=os.environ["MLFLOW_TRACKING_URI"], run_name="regressor", log_model=True
)
trainer = L.Trainer(
    max_epochs=3,
    logger=logger,
    log_every_n_steps=1,
    enable_progress_bar=False,
    enable_model_summary=False,
    accelerator="cpu",
    default_root_dir=os.getcwd(),
)
trainer.fit(Regressor(), train, val)
print(
    json.dumps(
        {
            "run_id": logger.run_id,
            "experiment_id": logger.experiment_id,
            "steps": trainer.global_step,
            "final": {k: float(v) for k, v in trainer.callback_metrics.items()},
        }
    )
)
