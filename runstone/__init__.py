"""runstone: experiment tracking, a governed model registry, packaging, serving, monitoring.

import runstone
runstone.set_experiment("iris")
with runstone.start_run(run_name="baseline"):
    runstone.log_params({"C": 1.0})
    runstone.log_metric("loss", 0.1, step=1)
"""

from __future__ import annotations

import typing

from runstone import data
from runstone.entities import Experiment, FileInfo, Metric, Param, Run, RunTag, ViewType
from runstone.errors import (
    AlreadyExists,
    InvalidInput,
    InvalidState,
    NotFound,
    RunstoneError,
    Unavailable,
)
from runstone.sdk.client import RunstoneClient
from runstone.sdk.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_tag,
    disable_system_metrics_logging,
    enable_system_metrics_logging,
    end_run,
    flush,
    get_experiment,
    get_experiment_by_name,
    get_run,
    get_tracking_uri,
    last_active_run,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_input,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_text,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)
from runstone.sdk.fluent_media import log_image, log_table
from runstone.version import VERSION as __version__

# Loaded on first use (``runstone.sklearn.log_model(...)`` after ``import runstone``), so that
# importing runstone never imports numpy, pandas or a model library.
_LAZY_MODULES = (
    "models",
    "pyfunc",
    "sklearn",
    "xgboost",
    "lightgbm",
    "pytorch",
    "onnx",
    "keras",
    "tensorflow",
    "projects",
)


def __getattr__(name: str) -> object:
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"runstone.{name}")
    raise AttributeError(f"module 'runstone' has no attribute {name!r}")


def autolog(
    *,
    disable: bool = False,
    log_models: bool = True,
    log_input_examples: bool = True,
    log_datasets: bool = True,
    silent: bool = False,
) -> list[str]:
    """Autolog training with every supported library that is installed (scikit-learn, XGBoost,
    LightGBM, PyTorch, Keras): params, per-iteration metrics, the fitted model and the training data's
    digest. ``disable=True`` undoes it. Returns the flavors it applied to."""
    from runstone.models.autolog import autolog as apply

    return apply(
        disable=disable,
        log_models=log_models,
        log_input_examples=log_input_examples,
        log_datasets=log_datasets,
        silent=silent,
    )


def sweep(project: str | None = None, entry_point: str = "main", **options: typing.Any) -> typing.Any:
    """Run a hyperparameter sweep of a project's entry point as child runs of one sweep run:
    ``runstone.sweep("proj", "train", metric="val_loss", grid={"alpha": [0.1, 1]},
    random={"l1_ratio": "uniform(0,1)"}, trials=20, parallel=4, early_stop="median",
    backend="dask://host:8786")``. Returns the parent run id, the best trial and every trial."""
    from runstone.projects.sweep import sweep as run_sweep

    return run_sweep(project, entry_point, **options)


__all__ = [
    "ActiveRun",
    "AlreadyExists",
    "Experiment",
    "FileInfo",
    "InvalidInput",
    "InvalidState",
    "Metric",
    "NotFound",
    "Param",
    "Run",
    "RunTag",
    "RunstoneClient",
    "RunstoneError",
    "Unavailable",
    "ViewType",
    "__version__",
    "active_run",
    "autolog",
    "create_experiment",
    "data",
    "delete_tag",
    "disable_system_metrics_logging",
    "enable_system_metrics_logging",
    "end_run",
    "flush",
    "get_experiment",
    "get_experiment_by_name",
    "get_run",
    "get_tracking_uri",
    "keras",
    "last_active_run",
    "lightgbm",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "models",
    "onnx",
    "projects",
    "pyfunc",
    "pytorch",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "sklearn",
    "start_run",
    "sweep",
    "tensorflow",
    "xgboost",
]
