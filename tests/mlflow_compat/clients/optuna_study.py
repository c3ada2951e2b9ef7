"""Optuna's MLflowCallback with the stock mlflow client: each trial of a study is a run.

Run with MLFLOW_TRACKING_URI set; prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import os

import optuna
from optuna_integration.mlflow import MLflowCallback

optuna.logging.set_verbosity(optuna.logging.WARNING)
callback = MLflowCallback(tracking_uri=os.environ["MLFLOW_TRACKING_URI"], metric_name="loss")
study = optuna.create_study(study_name="optuna-study", sampler=optuna.samplers.TPESampler(seed=0))
study.optimize(lambda trial: (trial.suggest_float("x", -10, 10) - 2) ** 2, n_trials=5, callbacks=[callback])
print(json.dumps({"values": [t.value for t in study.trials], "xs": [t.params["x"] for t in study.trials]}))
