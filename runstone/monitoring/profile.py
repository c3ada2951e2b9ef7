"""Reference profiles: a few kilobytes that describe a model's training input and outputs.

Per column: its type and missing rate; for numbers, quantiles (every 5%, plus 1% and 99%),
mean, standard deviation, range and a histogram on the reference deciles; for categories,
the most frequent values with their shares plus the share of all the others. A profile never
holds raw rows, so drift is measured later without keeping the training data.

    {"format": 1, "rows": 1000, "task": "classification",
     "features": {"amount": {"type": "numeric", "missing": 0.0, "count": 1000, "mean": ...,
                             "quantiles": {"probs": [...], "values": [...]},
                             "histogram": {"edges": [...], "shares": [...]}},
                  "country": {"type": "categorical", "missing": 0.01, "count": 990,
                              "top": {"FR": 0.4, ...}, "other": 0.05, "distinct": 31}},
     "outputs": {"prediction": {...}}, "quality": {"accuracy": 0.93}}
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from runstone.errors import InvalidInput

FORMAT = 1
TOP_K = 20
QUANTILE_PROBS = [0.0, 0.01, *[round(0.05 * i, 2) for i in range(1, 20)], 0.99, 1.0]
HISTOGRAM_BINS = 10
DISCRETE = 20
PREDICTION = "prediction"


def column_kind(values: object) -> str:
    """ "numeric" for numbers (booleans excepted), else "categorical"."""
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind in "iuf":
        return "numeric"
    if array.dtype.kind == "O":
        present = [v for v in array if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            return "numeric"
    return "categorical"


def as_numbers(values: object) -> Any:
    """Values as float64 with NaN for missing ones."""
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind in "iuf":
        return array.astype(np.float64, copy=False)
    return np.array([np.nan if v is None else float(v) for v in array], dtype=np.float64)


def as_labels(values: Any) -> list[str | None]:
    """Values as category labels (strings) with None for missing ones."""
    out: list[str | None] = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v))
    return out


def category_counts(values: object) -> tuple[dict[str, int], int]:
    """Count of each category (as labels) and the number of missing values, in vectorized code."""
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind in "iufb":
        numbers = array.astype(np.float64)
        present = numbers[~np.isnan(numbers)]
        unique, counts = np.unique(present, return_counts=True)
        labels = as_labels(unique.tolist()) if array.dtype.kind != "b" else [str(bool(u)) for u in unique]
        return {str(k): int(c) for k, c in zip(labels, counts, strict=True)}, len(array) - len(present)
    import pandas as pd

    series = pd.Series(array, dtype=object)
    found = series.value_counts(dropna=True)
    merged: dict[str, int] = {}
    for value, count in zip(as_labels(found.index.tolist()), found.tolist(), strict=True):
        if value is not None:
            merged[value] = merged.get(value, 0) + int(count)
    return merged, len(array) - sum(merged.values())


def numeric_profile(values: object) -> dict[str, object]:
    import numpy as np

    numbers = as_numbers(values)
    total = len(numbers)
    present = numbers[~np.isnan(numbers)]
    result: dict[str, object] = {
        "type": "numeric",
        "missing": _share(total - len(present), total),
        "count": len(present),
    }
    if not len(present):
        return result
    quantiles = np.quantile(present, QUANTILE_PROBS)
    inner = np.unique(np.quantile(present, np.linspace(0, 1, HISTOGRAM_BINS + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(inner, present, side="right"), minlength=len(inner) + 1)
    result.update(
        mean=float(present.mean()),
        std=float(present.std()),
        min=float(present.min()),
        max=float(present.max()),
        quantiles={"probs": QUANTILE_PROBS, "values": [float(v) for v in quantiles]},
        # Inner edges only: the first and last bins are open-ended, so production values outside
        # the reference range still fall in a bin.
        histogram={"edges": [float(e) for e in inner], "shares": [float(c) / len(present) for c in counts]},
    )
    return result


def categorical_profile(values: object) -> dict[str, object]:
    from collections import Counter

    found, missing = category_counts(values)
    counts = Counter(found)
    present = sum(counts.values())
    total = present + missing
    top = counts.most_common(TOP_K)
    kept = sum(c for _, c in top)
    return {
        "type": "categorical",
        "missing": _share(total - present, total),
        "count": present,
        "top": {k: c / present for k, c in top} if present else {},
        "other": (present - kept) / present if present else 0.0,
        "distinct": len(counts),
    }


def is_discrete(values: object) -> bool:
    """Whole numbers with few distinct values (counts, codes, class labels): compared as categories,
    since tests of continuous distributions misjudge them."""
    import numpy as np

    numbers = as_numbers(values)
    present = numbers[~np.isnan(numbers)]
    return bool(len(present)) and bool(np.all(present == np.round(present))) and len(np.unique(present)) <= DISCRETE


def column_profile(values: object, kind: str | None = None) -> dict[str, object]:
    kind = kind or column_kind(values)
    if kind == "numeric" and is_discrete(values):
        kind = "categorical"
    return numeric_profile(values) if kind == "numeric" else categorical_profile(values)


def _share(part: int, total: int) -> float:
    return part / total if total else 0.0


def infer_task(outputs: object) -> str:
    """ "classification" when the model answers labels or few integers, else "regression"."""
    import numpy as np

    if column_kind(outputs) == "categorical":
        return "classification"
    numbers = as_numbers(outputs)
    present = numbers[~np.isnan(numbers)]
    if len(present) and np.all(present == np.round(present)) and len(np.unique(present)) <= 20:
        return "classification"
    return "regression"


def build_profile(
    frame: Any,
    *,
    outputs: Sequence[Any] | None = None,
    quality: Mapping[str, float] | None = None,
    task: str | None = None,
) -> dict[str, object]:
    """The profile of a pandas DataFrame of model inputs (and the model's outputs on it)."""
    if not hasattr(frame, "columns"):
        raise InvalidInput("A reference profile is computed from a table of named columns.")
    features = {str(c): column_profile(frame[c].to_numpy()) for c in frame.columns}
    profile: dict[str, Any] = {"format": FORMAT, "rows": len(frame), "features": features, "outputs": {}}
    if outputs is not None:
        profile["outputs"] = {PREDICTION: column_profile(list(outputs))}
        profile["task"] = task or infer_task(list(outputs))
    elif task:
        profile["task"] = task
    if quality:
        profile["quality"] = {k: float(v) for k, v in quality.items()}
    return profile


def digest(profile: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(profile, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def check_profile(profile: object) -> dict[str, Any]:
    """Refuse a profile this version of runstone cannot read; returns it as a dict."""
    if not isinstance(profile, dict) or profile.get("format") != FORMAT:
        raise InvalidInput(f'A reference profile must be an object with "format": {FORMAT}.')
    features = profile.get("features")
    if not isinstance(features, dict) or not features:
        raise InvalidInput('A reference profile must describe at least one feature under "features".')
    for name, column in [*features.items(), *dict(profile.get("outputs") or {}).items()]:
        if not isinstance(column, dict) or column.get("type") not in ("numeric", "categorical"):
            raise InvalidInput(f"Profile column {name!r} must be an object whose type is numeric or categorical.")
        if column["type"] == "numeric" and column.get("count") and "histogram" not in column:
            raise InvalidInput(f"Numeric profile column {name!r} has values but no histogram.")
    if len(json.dumps(profile)) > 1024 * 1024:
        raise InvalidInput("A reference profile must be at most 1 MiB of JSON.")
    return profile
