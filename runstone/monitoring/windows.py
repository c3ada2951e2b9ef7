"""One window's analysis: traffic, drift of every feature and of the predictions against the
reference profile, and quality on the labelled requests. Pure: tables in, a JSON-able dict out."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from runstone.errors import InvalidInput
from runstone.monitoring import quality as metrics
from runstone.monitoring.drift import column_drift
from runstone.monitoring.logs import INPUT_PREFIX
from runstone.monitoring.profile import PREDICTION

if TYPE_CHECKING:
    import pyarrow as pa

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(text: str | int | float) -> int:
    """ "90s", "15m", "1h", "1d" or a number of seconds, in milliseconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text <= 0:
            raise InvalidInput(f"A duration must be positive; got {text}.")
        return int(text * 1000)
    match = _DURATION.match(str(text))
    if not match or int(match.group(1)) <= 0:
        raise InvalidInput(f"A duration is a positive number of seconds or like 90s, 15m, 1h, 1d; got {text!r}.")
    return int(match.group(1)) * _UNIT_MS[match.group(2) or "s"]


def clean(value: object) -> Any:
    """NaN and infinities become None, so results are strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def analyze(
    table: pa.Table | None,
    profile: Mapping[str, Any] | None,
    labelled: Sequence[tuple[Any, Any]],
    *,
    span: tuple[int, int],
) -> dict[str, object]:
    import numpy as np
    import pyarrow.compute as pc

    start, end = span
    result: dict[str, Any] = {"start": start, "end": end, "rows": 0, "requests": 0, "errors": 0}
    if table is not None and table.num_rows:
        status = table.column("status").to_numpy()
        ok = status == 200
        latency = table.column("latency_ms").to_numpy()
        first = table.column("row").to_numpy() == 0
        result.update(
            rows=int(ok.sum()),
            requests=int(pc.count_distinct(table.column("request_id")).as_py()),
            errors=int((~ok & first).sum()),
            latency_p50=float(np.percentile(latency[first], 50)),
            latency_p95=float(np.percentile(latency[first], 95)),
        )
        result["error_rate"] = result["errors"] / result["requests"] if result["requests"] else 0.0
        if profile is not None:
            good = table.filter(ok) if not ok.all() else table

            def drift_of(item: tuple[str, Any]) -> dict[str, object]:
                name, reference = item
                column = INPUT_PREFIX + name
                if column in good.column_names:
                    values = good.column(column).to_numpy(zero_copy_only=False)
                else:
                    values = np.full(good.num_rows, None, dtype=object)
                return column_drift(reference, values)

            # numpy's sorts and searches release the GIL: features are analyzed side by side.
            with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
                items = list(profile["features"].items())
                features = dict(zip([n for n, _ in items], pool.map(drift_of, items), strict=True))
            result["features"] = features
            result["drifted"] = sorted(n for n, f in features.items() if f.get("drifted"))
            unexpected = sorted(
                c.removeprefix(INPUT_PREFIX)
                for c in good.column_names
                if c.startswith(INPUT_PREFIX) and c.removeprefix(INPUT_PREFIX) not in profile["features"]
            )
            if unexpected:
                result["unexpected_columns"] = unexpected
            reference_prediction = (profile.get("outputs") or {}).get(PREDICTION)
            if reference_prediction is not None and PREDICTION in good.column_names:
                result["prediction"] = column_drift(
                    reference_prediction, good.column(PREDICTION).to_numpy(zero_copy_only=False)
                )
    return complete(result, profile, labelled)


def complete(
    result: dict[str, Any], profile: Mapping[str, Any] | None, labelled: Sequence[tuple[Any, Any]]
) -> dict[str, Any]:
    """A window's result with its quality on the labelled rows, as strict JSON (shared by the
    engines)."""
    if profile is None:
        result["reference"] = None
    if labelled:
        task = (profile or {}).get("task") or metrics_task(labelled)
        predictions = [p for p, _ in labelled]
        labels = [label for _, label in labelled]
        result["labelled"] = len(labelled)
        result["quality"] = metrics.quality(task, predictions, labels)
        if profile is not None and profile.get("quality"):
            result["reference_quality"] = dict(profile["quality"])
    return dict(clean(result))


def metrics_task(labelled: Sequence[tuple[Any, Any]]) -> str:
    labels = [label for _, label in labelled]
    if any(isinstance(v, str) for v in labels):
        return "classification"
    distinct = {float(v) for v in labels if isinstance(v, int | float)}
    return "classification" if len(distinct) <= 20 and all(v.is_integer() for v in distinct) else "regression"
