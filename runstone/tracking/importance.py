"""Which parameters matter for a metric, over a set of runs: each param's correlation with the
metric (numeric params) and its importance in a random forest that predicts the metric from all
the params (scikit-learn's, when it is installed; otherwise a message says how to get it).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from runstone.entities import Run

MIN_RUNS = 3
FOREST_SEED = 0


@dataclass(frozen=True)
class ParamImportance:
    param: str
    runs: int  # runs that have both the param and the metric
    numeric: bool
    correlation: float | None  # Pearson's r, numeric params only
    importance: float | None  # the forest's share, summing to 1 over the params


@dataclass(frozen=True)
class Importance:
    metric: str
    runs: int  # runs with a finite value of the metric
    params: list[ParamImportance]
    model_message: str | None  # why there is no model-based importance, when there is none


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(xs) < MIN_RUNS or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return statistics.correlation(xs, ys)


def importance(runs: Sequence[Run], metric: str) -> Importance:
    scored = [(r, r.data.metrics[metric]) for r in runs if math.isfinite(r.data.metrics.get(metric, math.nan))]
    keys = sorted({k for r, _ in scored for k in r.data.params})
    varying = [k for k in keys if len({r.data.params.get(k) for r, _ in scored}) > 1]
    numeric = {
        k for k in varying if all(_number(r.data.params[k]) is not None for r, _ in scored if k in r.data.params)
    }
    correlations: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    for key in varying:
        having = [(r.data.params[key], y) for r, y in scored if key in r.data.params]
        counts[key] = len(having)
        correlations[key] = (
            _pearson([_number(x) or 0.0 for x, _ in having], [y for _, y in having]) if key in numeric else None
        )
    message = None
    shares: dict[str, float] = {}
    if len(scored) < MIN_RUNS or not varying:
        message = f"Model-based importance needs {MIN_RUNS} runs or more with the metric and a param that varies."
    else:
        try:
            shares = _forest(scored, varying, numeric)
        except ModuleNotFoundError:
            message = "Model-based importance needs scikit-learn on the server (pip install 'runstone[sklearn]')."
    params = [ParamImportance(key, counts[key], key in numeric, correlations[key], shares.get(key)) for key in varying]
    params.sort(key=lambda p: (-(p.importance or 0.0), -abs(p.correlation or 0.0), p.param))
    return Importance(metric, len(scored), params, message)


def _forest(scored: Sequence[tuple[Run, float]], keys: Sequence[str], numeric: set[str]) -> dict[str, float]:
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    columns: list[list[float]] = []
    owners: list[str] = []
    for key in keys:
        values = [r.data.params.get(key) for r, _ in scored]
        if key in numeric:
            filled = [_number(v) for v in values]
            present = [v for v in filled if v is not None]
            fallback = statistics.median(present) if present else 0.0
            columns.append([fallback if v is None else v for v in filled])
            owners.append(key)
        else:  # one column per value, the importance of all of them the param's
            for level in sorted({v for v in values if v is not None}):
                columns.append([1.0 if v == level else 0.0 for v in values])
                owners.append(key)
    x = np.array(columns, dtype=float).T
    y = np.array([value for _, value in scored], dtype=float)
    forest = RandomForestRegressor(n_estimators=100, random_state=FOREST_SEED, n_jobs=1).fit(x, y)
    out = dict.fromkeys(keys, 0.0)
    for owner, share in zip(owners, forest.feature_importances_, strict=True):
        out[owner] += float(share)
    return out
