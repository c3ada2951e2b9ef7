"""LightGBM autologging: ``lightgbm.train`` and the scikit-learn API's ``fit``.

Logged: the training params (plus ``num_boost_round`` / ``n_estimators``), each validation
set's metrics per boosting round as ``<set>-<metric>`` at step = round (recorded with
LightGBM's own ``record_evaluation`` callback), the best iteration when early stopping ran,
the fitted model with signature and input example, and the training data's digest.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from runstone.models import runs
from runstone.models.autolog import patching
from runstone.models.autolog.patching import Config

FLAVOR = "lightgbm"
log = logging.getLogger("runstone.autolog")


def autolog(
    *,
    disable: bool = False,
    log_models: bool = True,
    log_input_examples: bool = True,
    log_datasets: bool = True,
    silent: bool = False,
) -> None:
    """Log LightGBM training (see the module docs); ``disable=True`` removes the patches."""
    if disable:
        patching.disable(FLAVOR)
        return
    try:
        import lightgbm
        import lightgbm.engine
        import lightgbm.sklearn
    except ImportError:
        log.warning("lightgbm is not installed; nothing to autolog.")
        return
    if not patching.enable(FLAVOR, Config(log_models, log_input_examples, log_datasets, silent)):
        return
    patching.patch(FLAVOR, lightgbm.engine, "train", _make_train)
    train = lightgbm.engine.train
    patching.patch(FLAVOR, lightgbm, "train", lambda original: train)
    for cls in vars(lightgbm.sklearn).values():
        if isinstance(cls, type) and issubclass(cls, lightgbm.LGBMModel) and "fit" in vars(cls):
            patching.patch(FLAVOR, cls, "fit", _make_fit)


def _raw(train_set: object) -> tuple[Any, Any] | None:
    """The training data a Dataset was built from, while it still holds it (not a file)."""
    data = getattr(train_set, "data", None)
    if data is None or isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        return None
    if patching.head(data) is None:
        return None
    return data, getattr(train_set, "label", None)


def _make_train(original: Any) -> Any:
    signature = inspect.signature(original)

    def train(*args: Any, **kwargs: Any) -> Any:
        import lightgbm

        with patching.outermost(FLAVOR) as outer:
            config = patching.configs.get(FLAVOR)
            if not outer or config is None:
                return original(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            history: dict[str, Any] = {}
            bound.arguments["callbacks"] = [
                *(bound.arguments.get("callbacks") or []),
                lightgbm.record_evaluation(history),
            ]
            raw = _raw(bound.arguments["train_set"])
            with patching.training_run() as run_id:
                params = dict(bound.arguments.get("params") or {})
                params["num_boost_round"] = bound.arguments.get("num_boost_round")
                patching.safely(FLAVOR, "log params", lambda: runs.log_params(run_id, patching.params_text(params)))
                booster = original(*bound.args, **bound.kwargs)
                patching.safely(FLAVOR, "log metrics", lambda: _log_history(run_id, history, booster.best_iteration))
                if raw is not None and config.log_datasets:
                    patching.safely(
                        FLAVOR,
                        "log the dataset",
                        lambda: runs.log_input(run_id, patching.dataset_of(*raw), "training"),
                    )
                if config.log_models:
                    example = patching.head(raw[0]) if raw is not None and config.log_input_examples else None
                    patching.safely(FLAVOR, "log the model", lambda: _log_model(booster, example))
            return booster

    return train


def _log_history(run_id: str, history: dict[str, Any], best_iteration: int | None) -> None:
    patching.log_history(run_id, history)
    if best_iteration:  # 0 when early stopping did not run
        runs.log_metrics(run_id, {"best_iteration": float(best_iteration)})


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
                    FLAVOR, "log params", lambda: runs.log_params(run_id, patching.params_text(self.get_params()))
                )
                result = original(self, *args, **kwargs)
                patching.safely(
                    FLAVOR, "log metrics", lambda: _log_history(run_id, dict(self.evals_result_), self.best_iteration_)
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
    from runstone.models.flavors.lightgbm import log_model

    log_model(model, "model", input_example=example)
