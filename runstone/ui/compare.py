"""Compare runs, and the chart data the pages fetch.

Two ways in: 2 to 100 runs named by id (``run=...``, from any experiments), side by side; or
the experiment view (``experiment=<id>``, with the runs table's ``filter``, ``view`` and
``order``), which compares every run the table lists, up to 1,000: parallel coordinates and the
scatter draw them all, the tables and metric charts the first 100.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from runstone.deps import browse, tracking
from runstone.entities import Run
from runstone.errors import InvalidInput
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.tracking import tags as system_tags
from runstone.tracking.browse import MAX_COMPARED_RUNS, BrowseService
from runstone.tracking.service import TrackingService
from runstone.ui import runs_table
from runstone.ui.colors import run_color
from runstone.ui.web import WEBGL_PAGE_CSP, PageRoute, json_response, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
data_router = APIRouter(include_in_schema=False)
Tracking = Annotated[TrackingService, Depends(tracking)]
Browse = Annotated[BrowseService, Depends(browse)]
MAX_CHART_POINTS = 5000
MAX_EXPERIMENT_VIEW = 1000  # runs that parallel coordinates and the scatter draw in the experiment view


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _as_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _differs(values: Sequence[object]) -> bool:
    return len({repr(v) for v in values}) > 1


def best_of(key: str, values: list[float | None]) -> int | None:
    """The index of a metric's best value: the lowest of a loss or error, else the highest;
    None when fewer than two runs have a value or they all have the same one."""
    finite = [(v, i) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if len(finite) < 2 or len({v for v, _ in finite}) < 2:
        return None
    pick = min if runs_table.lower_is_better(key) else max
    return pick(finite, key=lambda pair: pair[0])[1]


def comparison(runs: list[Run], drawn: list[Run] | None = None) -> dict[str, Any]:
    """Tables and chart inputs of the compare page: tables of ``runs``; parallel coordinates and
    the scatter of ``drawn`` (the same runs unless given)."""
    drawn = runs if drawn is None else drawn
    param_keys = sorted({k for r in runs for k in r.data.params})
    metric_keys = sorted({k for r in runs for k in r.data.metrics})
    params = [(k, [r.data.params.get(k) for r in runs]) for k in param_keys]
    metrics = [(k, [r.data.metrics.get(k) for r in runs]) for k in metric_keys]
    drawn_params = sorted({k for r in drawn for k in r.data.params})
    numeric_params = [
        k for k in drawn_params if all(_as_number(r.data.params[k]) is not None for r in drawn if k in r.data.params)
    ]
    palette = [run_color(r.info.run_id) for r in drawn]
    chart_runs = [
        {
            "id": r.info.run_id,
            "name": r.info.run_name,
            "color": palette[i],
            "params": {k: r.data.params[k] for k in drawn_params if k in r.data.params},
            "metrics": {k: _finite(v) for k, v in r.data.metrics.items()},
        }
        for i, r in enumerate(drawn)
    ]
    return {
        "params": params,
        "metrics": metrics,
        "param_keys": param_keys,
        "metric_keys": metric_keys,
        "numeric_params": numeric_params,
        "colors": palette,
        "chart": {"runs": chart_runs, "params": drawn_params, "numeric_params": numeric_params},
        "differs": {k: _differs(v) for k, v in params + metrics},
        "best": {k: best_of(k, v) for k, v in metrics},
    }


def _axis(value: str | None, fallback: str, allowed: set[str]) -> str:
    if value and value in allowed:
        return value
    return fallback


@router.get("/ui/compare")
@needs(Permission.READ, "run", "run", optional=True)
@needs(Permission.READ, "experiment", "experiment", optional=True)
def compare_page(
    request: Request,
    service: Tracking,
    info: Browse,
    run: Annotated[list[str] | None, Query()] = None,
    chart: Annotated[list[str] | None, Query()] = None,
    experiment: str = "",
    diff: str = "",
    metric: str = "",
    x: str = "",
    y: str = "",
    sweep: str = "",
    axis: Annotated[list[str] | None, Query()] = None,
) -> Response:
    view: dict[str, object] | None = None
    if experiment:
        service.get_experiment(experiment)  # an unknown experiment is NotFound, not an empty view
        state = runs_table.TableState.parse(request.query_params, [])
        found = service.search_runs(
            [experiment], state.filter or None, state.view_type, MAX_EXPERIMENT_VIEW, [state.order]
        )
        drawn = list(found)
        matching = info.count_runs(experiment, state.filter or None, state.view_type)
        if len(drawn) < 2:
            raise InvalidInput(f"The experiment view compares 2 runs or more; {len(drawn)} match.")
        runs = drawn[:MAX_COMPARED_RUNS]
        run_ids = [r.info.run_id for r in runs]
        view = {"experiment": experiment, "state": state, "matching": matching, "drawn": len(drawn)}
    else:
        run_ids = list(dict.fromkeys(run or []))
        if sweep:
            # A sweep's trials, with the swept parameters as the parallel coordinates' axes.
            parent = service.get_run(sweep)
            run_ids = list(dict.fromkeys([*run_ids, *service.child_run_ids(sweep)]))[:MAX_COMPARED_RUNS]
            axis = axis or [p for p in parent.data.tags.get(system_tags.SWEEP_PARAMS, "").split(",") if p]
            metric = metric or parent.data.tags.get(system_tags.SWEEP_METRIC, "")
        if not 2 <= len(run_ids) <= MAX_COMPARED_RUNS:
            raise InvalidInput(
                f"Compare between 2 and {MAX_COMPARED_RUNS} runs side by side; this link names {len(run_ids)}. "
                "To compare more, select them in the runs table and press Compare: it offers the experiment view."
            )
        runs = drawn = info.runs(run_ids)
    experiment_ids = sorted({r.info.experiment_id for r in runs}, key=int)
    experiments = {e: service.get_experiment(e) for e in experiment_ids}
    data = comparison(runs, drawn)
    metric_keys = data["metric_keys"]
    axes = {f"params.{k}" for k in data["chart"]["params"]} | {f"metrics.{k}" for k in metric_keys}
    chosen_metric = metric if metric in metric_keys else (metric_keys[0] if metric_keys else "")
    charts = [c for c in (chart or []) if c in metric_keys] or metric_keys[:4]
    first_param = f"params.{data['numeric_params'][0]}" if data["numeric_params"] else ""
    fallback_x = first_param or (f"params.{data['chart']['params'][0]}" if data["chart"]["params"] else "")
    x_axis = _axis(x, fallback_x, axes)
    y_axis = _axis(y, f"metrics.{chosen_metric}" if chosen_metric else "", axes)
    # The browser draws only the chosen metric and axes; choosing others reloads the page. With
    # 100 runs of 200 metrics, sending every value would triple the page for nothing.
    wanted = {chosen_metric} | {a.removeprefix("metrics.") for a in (x_axis, y_axis) if a.startswith("metrics.")}
    for r in data["chart"]["runs"]:
        r["metrics"] = {k: v for k, v in r["metrics"].items() if k in wanted}
    return render(
        request,
        "compare.html",
        {
            "runs": runs,
            "run_ids": run_ids,
            "experiment_view": view,
            "experiments": experiments,
            "diff": diff == "1",
            "metric": chosen_metric,
            "charts": charts,
            "x": x_axis,
            "y": y_axis,
            "axes": sorted(axes),
            "pc_axes": [a for a in dict.fromkeys(axis or []) if a in data["param_keys"]],
            "lower_is_better": runs_table.lower_is_better,
            **data,
        },
        csp=WEBGL_PAGE_CSP,
    )


def _history_public(points: Any) -> dict[str, object]:
    return {
        "steps": points.steps,
        "timestamps": points.timestamps,
        "values": points.values,  # NaN and infinities become null: gaps in the chart
        "downsampled": points.downsampled,
    }


@data_router.get("/ui/data/histories")
@needs(Permission.READ, "run", "run", optional=True)
def histories(
    info: Browse,
    key: str,
    run: Annotated[list[str] | None, Query()] = None,
    max_points: Annotated[int, Query(ge=2, le=MAX_CHART_POINTS)] = 1000,
    start_step: int | None = None,
    end_step: int | None = None,
) -> Response:
    """One metric's downsampled history for each of several runs (zooms ask for a step range)."""
    run_ids = list(dict.fromkeys(run or []))
    if not run_ids:
        raise InvalidInput("Name at least one run.")
    found = info.histories(run_ids, key, max_points=max_points, start_step=start_step, end_step=end_step)
    return json_response({"key": key, "runs": {r: _history_public(h) for r, h in found.items()}})
