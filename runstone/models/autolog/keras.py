"""Keras autologging: ``keras.Model.fit`` (Keras 3, any backend; ``tf.keras`` is the same class).

Logged: the arguments of ``fit`` (``epochs``, ``batch_size``, ``validation_split``, ``shuffle``
...) and the optimizer's configuration as ``optimizer_<key>`` (``optimizer_name``,
``optimizer_learning_rate`` ...) as params, with an ``EarlyStopping`` callback's settings;
every metric Keras reports at the end of an epoch (``loss``, ``val_loss``, compiled metrics) at
step = epoch; ``stopped_epoch`` when early stopping ended training; the training data's digest
when it is an array or a DataFrame; and, at the end, the fitted model with its signature and
input example (the first five training rows), with the ``keras`` flavor
(``runstone.keras.autolog``) or the ``tensorflow`` one (``runstone.tensorflow.autolog``).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from runstone.models import runs
from runstone.models.autolog import patching
from runstone.models.autolog.patching import Config

FLAVOR = "keras"
log = logging.getLogger("runstone.autolog")
# fit's arguments that are data or objects, not settings.
_NOT_PARAMS = frozenset(("self", "x", "y", "callbacks", "validation_data", "verbose", "sample_weight"))
_EARLY_STOPPING = ("monitor", "min_delta", "patience", "baseline", "restore_best_weights", "mode")
_log_with = {"flavor": "keras"}


def autolog(
    *,
    disable: bool = False,
    log_models: bool = True,
    log_input_examples: bool = True,
    log_datasets: bool = True,
    silent: bool = False,
    flavor: str = "keras",
) -> None:
    """Log ``keras.Model.fit`` (see the module docs); ``disable=True`` removes the patch."""
    if disable:
        patching.disable(FLAVOR)
        return
    try:
        import keras
    except ImportError:
        log.warning("keras is not installed; nothing to autolog.")
        return
    if flavor not in ("keras", "tensorflow"):
        raise ValueError(f"flavor must be 'keras' or 'tensorflow'; got {flavor!r}")
    _log_with["flavor"] = flavor
    if not patching.enable(FLAVOR, Config(log_models, log_input_examples, log_datasets, silent)):
        return
    patching.patch(FLAVOR, keras.Model, "fit", _make_fit)


def _params(arguments: dict[str, Any], model: object) -> dict[str, object]:
    params = {k: v for k, v in arguments.items() if k not in _NOT_PARAMS and k != "kwargs"}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        try:
            config = optimizer.get_config()
        except Exception:
            config = {"name": type(optimizer).__name__}
        params.update({f"optimizer_{k}": v for k, v in config.items() if v is not None})
    for callback in arguments.get("callbacks") or []:
        if type(callback).__name__ == "EarlyStopping":
            params.update(
                {f"early_stopping_{k}": getattr(callback, k) for k in _EARLY_STOPPING if hasattr(callback, k)}
            )
    return params


def _callback(run_id: str) -> Any:
    import keras

    class EpochMetrics(keras.callbacks.Callback):
        """Logs what Keras reports at the end of each epoch, at step = epoch."""

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            metrics = {}
            for key, value in (logs or {}).items():
                try:
                    metrics[str(key)] = float(value)
                except (TypeError, ValueError):
                    continue
            if metrics:
                patching.safely(FLAVOR, "log metrics", lambda: runs.log_metrics(run_id, metrics, step=epoch))

    return EpochMetrics()


def _make_fit(original: Any) -> Any:
    signature = inspect.signature(original)

    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        with patching.outermost(FLAVOR) as outer:
            config = patching.configs.get(FLAVOR)
            if not outer or config is None:
                return original(self, *args, **kwargs)
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError:
                return original(self, *args, **kwargs)  # let Keras say what is wrong
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            x, y = arguments.get("x"), arguments.get("y")
            with patching.training_run() as run_id:
                params = _params(arguments, self)
                patching.safely(FLAVOR, "log params", lambda: runs.log_params(run_id, patching.params_text(params)))
                callbacks = list(arguments.get("callbacks") or [])
                bound.arguments["callbacks"] = [*callbacks, _callback(run_id)]
                history = original(*bound.args, **bound.kwargs)
                stopped = [getattr(c, "stopped_epoch", 0) for c in callbacks if type(c).__name__ == "EarlyStopping"]
                if stopped and stopped[0]:
                    patching.safely(
                        FLAVOR,
                        "log metrics",
                        lambda: runs.log_metrics(run_id, {"stopped_epoch": float(stopped[0])}),
                    )
                example = patching.head(x)
                if config.log_datasets and example is not None:
                    patching.safely(
                        FLAVOR,
                        "log the dataset",
                        lambda: runs.log_input(run_id, patching.dataset_of(x, y), "training"),
                    )
                if config.log_models:
                    given = example if config.log_input_examples else None
                    patching.safely(FLAVOR, "log the model", lambda: _log_model(self, given))
            return history

    return fit


def _log_model(model: object, example: object) -> None:
    from runstone.models.flavors import keras, tensorflow

    flavor = tensorflow if _log_with["flavor"] == "tensorflow" else keras
    flavor.log_model(model, "model", input_example=example)
