"""The transformers Trainer reporting to MLflow (its MLflowCallback) with the stock mlflow client:
a tiny BERT classifier built here from a config (nothing is downloaded), trained on
pre-tokenized sequences, its training arguments and model config logged as params, its loss per
logging step as metrics, and the checkpoint saved after each epoch as a model logged in the run.

Run with MLFLOW_TRACKING_URI set; prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import os

import mlflow
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

os.environ.update(
    MLFLOW_EXPERIMENT_NAME="transformers",
    HF_MLFLOW_LOG_ARTIFACTS="1",  # each saved checkpoint, as a model logged in the run
    MLFLOW_FLATTEN_PARAMS="1",
    HF_HUB_OFFLINE="1",
)


class Sequences(torch.utils.data.Dataset):
    """Token ids from a made-up vocabulary: label 1 when token 7 occurs, else 0."""

    def __init__(self, count: int) -> None:
        generator = torch.Generator().manual_seed(count)
        self.ids = torch.randint(10, 50, (count, 12), generator=generator)
        self.ids[: count // 2, 3] = 7
        self.labels = (self.ids == 7).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(12, dtype=torch.long), "labels": self.labels[i]}


torch.manual_seed(0)
config = BertConfig(
    vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
    max_position_embeddings=16, num_labels=2,
)  # fmt: skip
args = TrainingArguments(
    output_dir="out",
    num_train_epochs=2,
    per_device_train_batch_size=8,
    learning_rate=1e-3,
    logging_steps=2,
    eval_strategy="epoch",
    save_strategy="epoch",
    run_name="tiny-bert",
    report_to=["mlflow"],
    use_cpu=True,
    disable_tqdm=True,
    seed=0,
)
trainer = Trainer(
    model=BertForSequenceClassification(config), args=args, train_dataset=Sequences(32), eval_dataset=Sequences(16)
)
trainer.train()
run = mlflow.last_active_run()
classifier = trainer.model.classifier.weight.detach()
print(
    json.dumps(
        {
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "global_step": trainer.state.global_step,
            "log_history": trainer.state.log_history,
            "classifier_weight": classifier.tolist(),
        }
    )
)
