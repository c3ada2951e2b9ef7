"""scikit-learn autologging: every estimator's ``fit`` (pipelines and searches included).

Logged for the outermost fit: the estimator's params (``get_params(deep=True)``), the tags
``estimator_name`` and ``estimator_class``, training metrics (``training_score`` and, for
classifiers, accuracy, precision, recall, F1 and log loss; for regressors MSE, RMSE, MAE and
R²), per-iteration curves where the estimator keeps one (``loss_curve_`` as ``training_loss``,
gradient boosting's ``train_score_`` as ``training_loss``, ``validation_scores_``), the fitted
model with signature and input example, and the training data's digest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from runstone.models import runs
from runstone.models.autolog import patching
from runstone.models.autolog.patching import Config

FLAVOR = "sklearn"
log = logging.getLogger("runstone.autolog")


def autolog(
    *,
    disable: bool = False,
    log_models: bool = True,
    log_input_examples: bool = True,
    log_datasets: bool = True,
    silent: bool = False,
) -> None:
    """Log scikit-learn training (see the module docs); ``disable=True`` removes the patches."""
    if disable:
        patching.disable(FLAVOR)
        return
    try:
        from sklearn.pipeline import Pipeline
        from sklearn.utils import all_estimators
    except ImportError:
        log.warning("scikit-learn is not installed; nothing to autolog.")
        return
    if not patching.enable(FLAVOR, Config(log_models, log_input_examples, log_datasets, silent)):
        return
    owners: dict[int, type] = {}
    for _, cls in [*all_estimators(), ("Pipeline", Pipeline)]:
        for klass in cls.__mro__:
            if "fit" in vars(klass) and klass.__module__.startswith("sklearn"):
                owners[id(klass)] = klass
    for klass in owners.values():
        patching.patch(FLAVOR, klass, "fit", _make_fit)


def _make_fit(original: Any) -> Any:
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        with patching.outermost(FLAVOR) as outer:
            config = patching.configs.get(FLAVOR)
            if not outer or config is None:
                return original(self, *args, **kwargs)
            X = args[0] if args else kwargs.get("X")
            y = args[1] if len(args) > 1 else kwargs.get("y")
            with patching.training_run() as run_id:
                patching.safely(FLAVOR, "log params", lambda: _log_params(run_id, self))
                result = original(self, *args, **kwargs)
                patching.safely(FLAVOR, "log metrics", lambda: _log_metrics(run_id, self, X, y, kwargs))
                if config.log_datasets:
                    patching.safely(FLAVOR, "log the dataset", lambda: _log_dataset(run_id, X, y))
                if config.log_models:
                    patching.safely(FLAVOR, "log the model", lambda: _log_model(self, X, config))
            return result

    return fit


def _log_params(run_id: str, estimator: Any) -> None:
    runs.set_tags(
        run_id,
        {
            "estimator_name": type(estimator).__name__,
            "estimator_class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        },
    )
    runs.log_params(run_id, patching.params_text(estimator.get_params(deep=True)))


def _scores(estimator: Any, X: Any, y: Any, sample_weight: Any) -> dict[str, float]:
    from sklearn import metrics
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}

    def add(name: str, compute: Any) -> None:
        try:
            out[name] = float(compute())
        except Exception as exc:  # a metric that does not apply (e.g. log loss without probabilities)
            log.debug("skipping %s: %s", name, exc)

    add("training_score", lambda: estimator.score(X, y, sample_weight=sample_weight))
    if not hasattr(estimator, "predict"):
        return out
    if is_classifier(estimator):
        predicted = estimator.predict(X)
        w = {"sample_weight": sample_weight}
        add("training_accuracy_score", lambda: metrics.accuracy_score(y, predicted, **w))
        add(
            "training_precision_score",
            lambda: metrics.precision_score(y, predicted, average="weighted", zero_division=0, **w),
        )
        add(
            "training_recall_score",
            lambda: metrics.recall_score(y, predicted, average="weighted", zero_division=0, **w),
        )
        add("training_f1_score", lambda: metrics.f1_score(y, predicted, average="weighted", zero_division=0, **w))
        if hasattr(estimator, "predict_proba"):
            add(
                "training_log_loss",
                lambda: metrics.log_loss(y, estimator.predict_proba(X), labels=estimator.classes_, **w),
            )
    elif is_regressor(estimator):
        predicted = estimator.predict(X)
        w = {"sample_weight": sample_weight}
        add("training_mean_squared_error", lambda: metrics.mean_squared_error(y, predicted, **w))
        add("training_root_mean_squared_error", lambda: metrics.mean_squared_error(y, predicted, **w) ** 0.5)
        add("training_mean_absolute_error", lambda: metrics.mean_absolute_error(y, predicted, **w))
        add("training_r2_score", lambda: metrics.r2_score(y, predicted, **w))
    return out


def _final(estimator: object) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def _log_metrics(run_id: str, estimator: object, X: object, y: object, kwargs: Mapping[str, object]) -> None:
    if y is not None:
        runs.log_metrics(run_id, _scores(estimator, X, y, kwargs.get("sample_weight")))
    final = _final(estimator)
    curves = {
        "training_loss": getattr(final, "loss_curve_", None),
        "validation_score": getattr(final, "validation_scores_", None),
    }
    if curves["training_loss"] is None and hasattr(final, "train_score_"):
        curves["training_loss"] = final.train_score_
    for key, values in curves.items():
        for step, value in enumerate(values if values is not None else []):
            runs.log_metrics(run_id, {key: float(value)}, step=step)


def _log_dataset(run_id: str, X: object, y: object) -> None:
    if X is None or patching.head(X) is None:
        return
    runs.log_input(run_id, patching.dataset_of(X, y), "training")


def _log_model(estimator: object, X: object, config: Config) -> None:
    from runstone.models.flavors.sklearn import log_model

    method = "predict" if hasattr(estimator, "predict") else "transform" if hasattr(estimator, "transform") else None
    if method is None:
        return
    example = patching.head(X) if config.log_input_examples else None
    log_model(estimator, "model", input_example=example, pyfunc_predict_fn=method)
