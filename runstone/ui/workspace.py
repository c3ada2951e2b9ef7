"""The workspace of an experiment page: a panel grid charting every metric of the runs the
table shows, and the data its panels fetch.

The browser asks for the metric keys of the runs it draws, then for the histories of a batch of
panels at once (many runs x many keys, downsampled by the same read as the run page's charts).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from runstone.deps import browse
from runstone.entities import MetricHistory
from runstone.errors import InvalidInput
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.tracking.browse import BrowseService
from runstone.tracking.grouping import RunGroup
from runstone.ui import runs_table
from runstone.ui.web import json_response

data_router = APIRouter(include_in_schema=False)
Browse = Annotated[BrowseService, Depends(browse)]
MAX_PANEL_POINTS = 5000


def _points(h: MetricHistory) -> dict[str, object]:
    return {"steps": h.steps, "timestamps": h.timestamps, "values": h.values, "downsampled": h.downsampled}


@data_router.get("/ui/data/metric-keys")
@needs(Permission.READ, "run", "run", optional=True)
def metric_keys(info: Browse, run: Annotated[list[str] | None, Query()] = None) -> Response:
    """The metric keys any of the named runs logged."""
    return json_response({"keys": info.metric_keys_of_runs(list(dict.fromkeys(run or [])))})


@data_router.get("/ui/data/history-grid")
@needs(Permission.READ, "run", "run", optional=True)
def history_grid(
    info: Browse,
    run: Annotated[list[str] | None, Query()] = None,
    key: Annotated[list[str] | None, Query()] = None,
    max_points: Annotated[int, Query(ge=2, le=MAX_PANEL_POINTS)] = 300,
    start_step: int | None = None,
    end_step: int | None = None,
) -> Response:
    """A batch of panels' data: each key's downsampled history for each run."""
    found = info.history_grid(run or [], key or [], max_points=max_points, start_step=start_step, end_step=end_step)
    return json_response({"keys": {k: {r: _points(h) for r, h in runs.items()} for k, runs in found.items()}})


def _group_public(group: RunGroup, names: list[str]) -> dict[str, object]:
    label = ", ".join(
        f"{n.partition('.')[2]}={'(none)' if v is None else v}" for n, v in zip(names, group.values, strict=True)
    )
    return {
        "label": label,
        "values": list(group.values),
        "count": len(group.run_ids),
        "run_ids": group.run_ids,
        "run_names": group.run_names,
        "metrics": {k: vars(a) for k, a in group.metrics.items()},
    }


@data_router.get("/ui/data/groups")
@needs(Permission.READ, "experiment", "experiment")
def groups(
    info: Browse,
    experiment: str,
    group: Annotated[list[str] | None, Query()] = None,
    metric: Annotated[list[str] | None, Query()] = None,
    filter: str = "",
    view: str = "active",
    order: str = runs_table.DEFAULT_ORDER,
) -> Response:
    """The runs of the table's filter grouped by params or tags, with each metric's aggregates."""
    if view not in runs_table.VIEWS:
        raise InvalidInput(f"Unknown view {view!r}; use active, deleted or all.")
    names = list(dict.fromkeys(group or []))
    found, matching = info.group_runs(
        experiment, filter.strip() or None, runs_table.VIEWS[view], [order], names, list(dict.fromkeys(metric or []))
    )
    return json_response(
        {
            "group_by": names,
            "groups": [_group_public(g, names) for g in found],
            "matching": matching,
            "grouped": sum(len(g.run_ids) for g in found),
        }
    )


@data_router.get("/ui/data/group-keys")
@needs(Permission.READ, "experiment", "experiment")
def group_keys(info: Browse, experiment: str) -> Response:
    """The params and tags (but runstone's and MLflow's own tags) the experiment's runs can be grouped by."""
    keys = info.experiment_keys(experiment)
    tags = [t for t in keys.tags if not t.startswith(("runstone.", "mlflow."))]
    return json_response({"params": keys.params, "tags": tags})


@data_router.get("/ui/data/importance")
@needs(Permission.READ, "experiment", "experiment")
def parameter_importance(
    info: Browse, experiment: str, metric: str, filter: str = "", view: str = "active"
) -> Response:
    """Each param's correlation with a metric and its model-based importance, over the runs of the
    table's filter."""
    if view not in runs_table.VIEWS:
        raise InvalidInput(f"Unknown view {view!r}; use active, deleted or all.")
    found = info.parameter_importance(experiment, filter.strip() or None, runs_table.VIEWS[view], metric)
    return json_response(
        {
            "metric": found.metric,
            "runs": found.runs,
            "params": [vars(p) for p in found.params],
            "model_message": found.model_message,
        }
    )
