"""runstone: experiment tracking, a governed model registry, packaging, serving, monitoring.

import runstone
runstone.set_experiment("iris")
with runstone.start_run(run_name="baseline"):
    runstone.log_params({"C": 1.0})
    runstone.log_metric("loss", 0.1, step=1)
"""

from __future__ import annotations

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
from runstone.version import VERSION as __version__

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
    "create_experiment",
    "data",
    "delete_tag",
    "end_run",
    "flush",
    "get_experiment",
    "get_experiment_by_name",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
