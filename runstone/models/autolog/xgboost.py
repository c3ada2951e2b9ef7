"""XGBoost autologging: ``xgboost.train`` and the scikit-learn API's ``fit``.

Logged: the training params (plus ``num_boost_round`` / ``n_estimators``), each evaluation
set's metrics per boosting round as ``<set>-<metric>`` at step = round, the booster's best
iteration and score when early stopping ran, the fitted model with signature and input example,
and the training data's digest.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from runstone.models import runs
from runstone.models.autolog import patching
from runstone.models.autolog.patching import Config

FLAVOR = "xgboost"
log = logging.getLogger("runstone.autolog")
# Training data larger than this many cells is not copied to digest it.
MAX_DIGEST_CELLS = 10_000_000


def autolog(
    *,
    disable: bool = False,
    log_models: bool = True,
    log_input_examples: bool = True,
    log_datasets: bool = True,
    silent: bool = False,
) -> None:
    """Log XGBoost training (see the module docs); ``disable=True`` removes the patches."""
    if disable:
        patching.disable(FLAVOR)
        return
    try:
        import xgboost
        import xgboost.sklearn
        import xgboost.training
    except ImportError:
        log.warning("xgboost is not installed; nothing to autolog.")
        return
    if not patching.enable(FLAVOR, Config(log_models, log_input_examples, log_datasets, silent)):
        return
    patching.patch(FLAVOR, xgboost.training, "train", _make_train)
    train = xgboost.training.train
    patching.patch(FLAVOR, xgboost, "train", lambda original: train)
    for cls in vars(xgboost.sklearn).values():
        if isinstance(cls, type) and issubclass(cls, xgboost.XGBModel) and "fit" in vars(cls):
            patching.patch(FLAVOR, cls, "fit", _make_fit)


def _dense(dtrain: Any) -> tuple[Any, Any] | None:
    """The training matrix as a dense array or DataFrame (with the DMatrix's feature names),
    when it is small enough to copy."""
    if dtrain.num_row() * dtrain.num_col() > MAX_DIGEST_CELLS:
        return None
    array = dtrain.get_data().toarray()
    names = dtrain.feature_names
    if names:
        import pandas as pd

        return pd.DataFrame(array, columns=names), dtrain.get_label()
    return array, dtrain.get_label()


def _make_train(original: Any) -> Any:
    signature = inspect.signature(original)

    def train(*args: Any, **kwargs: Any) -> Any:
        with patching.outermost(FLAVOR) as outer:
            config = patching.configs.get(FLAVOR)
            if not outer or config is None:
                return original(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            history = bound.arguments.get("evals_result")
            if history is None and bound.arguments.get("evals"):
                history = bound.arguments["evals_result"] = {}
            with patching.training_run() as run_id:
                params = dict(bound.arguments.get("params") or {})
                params["num_boost_round"] = bound.arguments.get("num_boost_round")
                if bound.arguments.get("early_stopping_rounds") is not None:
                    params["early_stopping_rounds"] = bound.arguments["early_stopping_rounds"]
                patching.safely(FLAVOR, "log params", lambda: runs.log_params(run_id, patching.params_text(params)))
                booster = original(*bound.args, **bound.kwargs)
                patching.safely(FLAVOR, "log metrics", lambda: _log_history(run_id, history or {}, booster))
                dense = patching.safely(FLAVOR, "read the training data", lambda: _dense(bound.arguments["dtrain"]))
                if dense is not None and config.log_datasets:
                    patching.safely(
                        FLAVOR,
                        "log the dataset",
                        lambda: runs.log_input(run_id, patching.dataset_of(*dense), "training"),
                    )
                if config.log_models:
                    example = patching.head(dense[0]) if dense is not None and config.log_input_examples else None
                    patching.safely(FLAVOR, "log the model", lambda: _log_model(booster, example))
            return booster

    return train


def _log_history(run_id: str, history: dict[str, Any], booster: Any) -> None:
    patching.log_history(run_id, history)
    best = {}
    if getattr(booster, "best_iteration", None) is not None and "best_iteration" in booster.attributes():
        best["best_iteration"] = float(booster.best_iteration)
        best["best_score"] = float(booster.best_score)
    if best:
        runs.log_metrics(run_id, best)


def _make_fit(original: Any) -> Any:
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        with patching.outermost(FLAVOR) as outer:
            config = patching.configs.get(FLAVOR)
            if not outer or config is None:
                return original(self, *args, **kwargs)
            X = args[0] if args else kwargs.get("X")
            y = args[1] if len(args) > 1 else kwargs.get("y")
            with patching.training_run() as run_id:
                patching.safely(
                    FLAVOR,
                    "log params",
                    lambda: runs.log_params(run_id, patching.params_text(self.get_params())),
                )
                result = original(self, *args, **kwargs)
                if kwargs.get("eval_set"):
                    patching.safely(
                        FLAVOR, "log metrics", lambda: _log_history(run_id, self.evals_result(), self.get_booster())
                    )
                if config.log_datasets and patching.head(X) is not None:
                    patching.safely(
                        FLAVOR,
                        "log the dataset",
                        lambda: runs.log_input(run_id, patching.dataset_of(X, y), "training"),
                    )
                if config.log_models:
                    example = patching.head(X) if config.log_input_examples else None
                    patching.safely(FLAVOR, "log the model", lambda: _log_model(self, example))
            return result

    return fit


def _log_model(model: object, example: object) -> None:
    from runstone.models.flavors.xgboost import log_model

    log_model(model, "model", input_example=example)
