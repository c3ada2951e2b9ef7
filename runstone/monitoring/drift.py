"""Drift of one column: current values against the column's reference profile.

Every statistic is computed for every column; the verdict ("drifted") uses the test suited to
the column's type and the window's size, with these documented defaults:

- numbers, at most 1,000 values: Kolmogorov-Smirnov, drifted when p < 0.05;
- numbers, more: Wasserstein distance divided by the reference standard deviation > 0.1;
- categories, at most 1,000 values: chi-square, drifted when p < 0.05;
- categories, more: Jensen-Shannon distance (base 2) > 0.1.

The population stability index (PSI, on the reference deciles or categories) is reported for
every column; rules often use it ("PSI > 0.2").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runstone.monitoring.profile import as_numbers, category_counts

SMALL_SAMPLE = 1000
P_VALUE = 0.05
WASSERSTEIN_THRESHOLD = 0.1
JS_THRESHOLD = 0.1
_EPS = 1e-4


def psi(reference: object, current: object) -> float:
    """Population stability index of two share vectors over the same bins."""
    import numpy as np

    ref = np.clip(np.asarray(reference, dtype=np.float64), _EPS, None)
    cur = np.clip(np.asarray(current, dtype=np.float64), _EPS, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _sorted_quantiles(ordered: Any, probs: Any) -> Any:
    """Quantiles of sorted values (numpy's default linear interpolation) without sorting again."""
    import numpy as np

    return np.interp(probs * (len(ordered) - 1), np.arange(len(ordered)), ordered)


def numeric_summary(reference: Mapping[str, Any], values: object) -> dict[str, Any]:
    """What the drift statistics of a numeric column need from its current values: counts,
    counts per reference bin, quantiles at the reference's inner probabilities, the KS statistic
    against the reference CDF, mean and out-of-range share. (The Spark engine computes the same
    summary with aggregates.)"""
    import numpy as np

    numbers = as_numbers(values)
    present = numbers[~np.isnan(numbers)]
    summary: dict[str, Any] = {"total": len(numbers), "count": len(present)}
    if not len(present) or not reference.get("count"):
        return summary
    edges = np.asarray(reference["histogram"]["edges"], dtype=np.float64)
    # One sort serves the histogram, the quantiles and the KS statistic.
    ordered = np.sort(present)
    n = len(ordered)
    cuts = np.searchsorted(ordered, edges, side="left")
    probs = np.asarray(reference["quantiles"]["probs"], dtype=np.float64)
    qvalues = np.asarray(reference["quantiles"]["values"], dtype=np.float64)
    # Kolmogorov-Smirnov against the reference CDF interpolated between its quantiles.
    ref_cdf = np.interp(ordered, qvalues, probs, left=0.0, right=1.0)
    ranks = np.arange(1, n + 1) / n
    inner = (probs > 0) & (probs < 1)
    summary.update(
        bins=np.diff(np.concatenate(([0], cuts, [n]))).tolist(),
        quantiles=_sorted_quantiles(ordered, probs[inner]).tolist(),
        ks_statistic=float(max(np.max(ranks - ref_cdf), np.max(ref_cdf - (ranks - 1 / n)))),
        mean=float(present.mean()),
        out_of_range=float(np.mean((present < reference["min"]) | (present > reference["max"]))),
    )
    return summary


def numeric_drift(reference: Mapping[str, Any], values: object) -> dict[str, Any]:
    return numeric_drift_of(reference, numeric_summary(reference, values))


def numeric_drift_of(reference: Mapping[str, Any], summary: Mapping[str, Any]) -> dict[str, Any]:
    """The drift statistics and verdict of a numeric column from its summary."""
    import numpy as np
    from scipy.special import kolmogorov

    total, n = int(summary["total"]), int(summary["count"])
    result: dict[str, Any] = {"type": "numeric", "count": n, "missing": (total - n) / total if total else 0.0}
    if not n or not reference.get("count"):
        result.update(drifted=False, test=None)
        return result
    edges = np.asarray(reference["histogram"]["edges"], dtype=np.float64)
    ref_shares = np.asarray(reference["histogram"]["shares"], dtype=np.float64)
    shares = np.asarray(summary["bins"], dtype=np.float64) / n
    probs = np.asarray(reference["quantiles"]["probs"], dtype=np.float64)
    qvalues = np.asarray(reference["quantiles"]["values"], dtype=np.float64)
    statistic = float(summary["ks_statistic"])
    effective = n * reference["count"] / (n + reference["count"])
    p_value = float(kolmogorov(statistic * np.sqrt(effective)))
    # Wasserstein-1 as the mean gap between the two quantile functions.
    # Interior quantiles only: the extremes (min and max) of two samples differ by chance alone.
    # Integrated over p (trapezoids), so the 1% and 99% quantiles weigh what their share of p is.
    inner = (probs > 0) & (probs < 1)
    gaps = np.abs(np.asarray(summary["quantiles"], dtype=np.float64) - qvalues[inner])
    span = probs[inner][-1] - probs[inner][0]
    wasserstein = float(np.sum((gaps[1:] + gaps[:-1]) / 2 * np.diff(probs[inner])) / span)
    scale = reference.get("std") or (qvalues[-1] - qvalues[0]) or 1.0
    result.update(
        psi=psi(ref_shares, shares),
        ks_statistic=statistic,
        ks_pvalue=p_value,
        wasserstein=wasserstein,
        wasserstein_norm=wasserstein / scale,
        out_of_range=float(summary["out_of_range"]),
        mean=float(summary["mean"]),
        histogram={"edges": [float(e) for e in edges], "shares": [float(s) for s in shares]},
    )
    if n <= SMALL_SAMPLE:
        result.update(test="ks", drifted=p_value < P_VALUE)
    else:
        result.update(test="wasserstein", drifted=wasserstein / scale > WASSERSTEIN_THRESHOLD)
    return result


def categorical_drift(reference: Mapping[str, Any], values: object) -> dict[str, Any]:
    counts, missing = category_counts(values)
    return categorical_drift_of(reference, counts, missing)


def categorical_drift_of(reference: Mapping[str, Any], counts: Mapping[str, int], missing: int) -> dict[str, Any]:
    """The drift statistics and verdict of a categorical column from its category counts."""
    import numpy as np
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chisquare

    present = sum(counts.values())
    total = present + missing
    result: dict[str, Any] = {
        "type": "categorical",
        "count": present,
        "missing": (total - present) / total if total else 0.0,
    }
    if not present or not reference.get("count"):
        result.update(drifted=False, test=None)
        return result
    top: Mapping[str, float] = reference["top"]
    categories = list(top)
    ref_shares = np.array([*(top[c] for c in categories), reference.get("other", 0.0)])
    observed = np.array([*(counts.get(c, 0) for c in categories), present - sum(counts.get(c, 0) for c in categories)])
    shares = observed / present
    # Expected counts never zero: a category the reference never saw is a large, finite surprise.
    expected = np.clip(ref_shares, _EPS, None)
    expected = expected / expected.sum() * present
    statistic, p_value = chisquare(observed, expected)
    js = float(jensenshannon(ref_shares, shares, base=2))
    unseen = float(shares[-1]) if not reference.get("other") else 0.0
    result.update(
        psi=psi(ref_shares, shares),
        chi2_statistic=float(statistic),
        chi2_pvalue=float(p_value),
        js_distance=js,
        out_of_range=unseen,
        shares={**{c: float(s) for c, s in zip(categories, shares[:-1], strict=True)}, "other": float(shares[-1])},
    )
    if present <= SMALL_SAMPLE:
        result.update(test="chi2", drifted=float(p_value) < P_VALUE)
    else:
        result.update(test="js", drifted=js > JS_THRESHOLD)
    return result


def column_drift(reference: Mapping[str, Any], values: object) -> dict[str, object]:
    result = (numeric_drift if reference["type"] == "numeric" else categorical_drift)(reference, values)
    return with_missing_change(reference, result)


def with_missing_change(reference: Mapping[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    result["missing_change"] = result["missing"] - float(reference.get("missing", 0.0))
    return result
