"""One window's analysis on Spark, for logs too large for one machine
(``runstone monitor compute --engine spark``).

Spark reads the window's Parquet logs and aggregates them; the statistics are then computed by
the same functions as the single-machine engine (runstone.monitoring.drift), from these
aggregates:

- traffic: row, request and error counts, and latency percentiles (exact, interpolated as numpy);
- numbers: count, mean, out-of-range count and the counts per reference bin (exact); the count,
  minimum and maximum of 10,000 bins of equal reference probability, which give the
  Kolmogorov-Smirnov statistic (off by at most 1/10,000) and locate the order statistics of the
  quantiles at the reference's probabilities, read exactly from the few bins that hold them;
- categories: the count of every value (exact);
- quality: the labels joined to the logged rows by request id and row.

So verdicts match the single-machine engine's, and statistics agree to those tolerances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runstone.monitoring.drift import categorical_drift_of, numeric_drift_of, with_missing_change
from runstone.monitoring.logs import INPUT_PREFIX
from runstone.monitoring.profile import PREDICTION, as_labels
from runstone.monitoring.windows import complete

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

KS_BINS = 10_000


def session(master: str = "local[2]") -> SparkSession:
    """A Spark session; in local mode bound to loopback with its web UI off."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("runstone-monitoring")
    if master.startswith("local"):
        builder = (
            builder.config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", "8")
        )
    return builder.getOrCreate()


def analyze_spark(
    spark: SparkSession,
    paths: Sequence[str],
    profile: Mapping[str, Any] | None,
    labels: Sequence[tuple[str, int, str]],
    *,
    span: tuple[int, int],
) -> dict[str, Any]:
    """The same result as runstone.monitoring.windows.analyze, computed by Spark over the
    window's Parquet files."""
    from pyspark.sql import functions as F

    start, end = span
    result: dict[str, Any] = {"start": start, "end": end, "rows": 0, "requests": 0, "errors": 0}
    if not paths:
        return complete(result, profile, [])
    raw = spark.read.option("mergeSchema", "true").parquet(*paths)
    # Spark reads "in.amount" as a field of a struct "in": every column gets a plain name.
    names = list(raw.columns)
    alias = {c: f"c{i}" for i, c in enumerate(names)}
    frame = raw.select([F.col(f"`{c}`").alias(alias[c]) for c in names])
    frame = frame.where((F.col(alias["timestamp"]) >= start) & (F.col(alias["timestamp"]) < end)).cache()
    try:
        ok = F.col(alias["status"]) == 200
        first = F.col(alias["row"]) == 0
        traffic = frame.agg(
            F.count(F.lit(1)).alias("all"),
            F.sum(ok.cast("long")).alias("rows"),
            F.countDistinct(F.col(alias["request_id"])).alias("requests"),
            F.sum((~ok & first).cast("long")).alias("errors"),
            F.percentile(F.when(first, F.col(alias["latency_ms"])), [0.5, 0.95]).alias("latency"),
        ).first()
        if traffic is None or not traffic["all"]:
            return complete(result, profile, [])
        result.update(
            rows=int(traffic["rows"]), requests=int(traffic["requests"]), errors=int(traffic["errors"]),
            latency_p50=float(traffic["latency"][0]), latency_p95=float(traffic["latency"][1]),
        )  # fmt: skip
        result["error_rate"] = result["errors"] / result["requests"] if result["requests"] else 0.0
        good = frame.where(ok)
        if profile is not None:
            columns = {name: alias.get(INPUT_PREFIX + name) for name in profile["features"]}
            features = _drift(good, result["rows"], dict(profile["features"]), columns)
            result["features"] = features
            result["drifted"] = sorted(n for n, f in features.items() if f.get("drifted"))
            unexpected = sorted(
                c.removeprefix(INPUT_PREFIX)
                for c in names
                if c.startswith(INPUT_PREFIX) and c.removeprefix(INPUT_PREFIX) not in profile["features"]
            )
            if unexpected:
                result["unexpected_columns"] = unexpected
            reference_prediction = (profile.get("outputs") or {}).get(PREDICTION)
            if reference_prediction is not None and PREDICTION in alias:
                found = _drift(
                    good, result["rows"], {PREDICTION: reference_prediction}, {PREDICTION: alias[PREDICTION]}
                )
                result["prediction"] = found[PREDICTION]
        labelled = _labelled(spark, good, alias, labels) if PREDICTION in alias else []
        return complete(result, profile, labelled)
    finally:
        frame.unpersist()


def _drift(
    good: DataFrame, total: int, references: Mapping[str, Mapping[str, Any]], columns: Mapping[str, str | None]
) -> dict[str, dict[str, Any]]:
    numeric = {n: c for n, c in columns.items() if c is not None and references[n]["type"] == "numeric"}
    summaries = _numeric_summaries(good, total, {n: references[n] for n in numeric}, numeric)
    out: dict[str, dict[str, Any]] = {}
    for name, reference in references.items():
        column = columns.get(name)
        if reference["type"] == "numeric":
            summary = summaries.get(name) or {"total": total, "count": 0}
            out[name] = with_missing_change(reference, numeric_drift_of(reference, summary))
        else:
            counts = _category_counts(good, column) if column is not None else {}
            out[name] = with_missing_change(
                reference, categorical_drift_of(reference, counts, total - sum(counts.values()))
            )
    return out


def _number(column: str) -> Any:
    from pyspark.sql import functions as F

    value = F.col(column).cast("double")
    return F.when(F.isnan(value), F.lit(None)).otherwise(value)


def _numeric_summaries(
    good: DataFrame, total: int, references: Mapping[str, Mapping[str, Any]], columns: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """numeric_summary (runstone.monitoring.drift) of each numeric column, from three Spark jobs."""
    import numpy as np
    from pyspark.ml.feature import Bucketizer
    from pyspark.sql import functions as F

    usable = {n: c for n, c in columns.items() if references[n].get("count")}
    if not usable:
        return {}
    aggregates = []
    inner_probs: dict[str, list[float]] = {}
    for i, (name, column) in enumerate(usable.items()):
        reference = references[name]
        x = _number(column)
        probs = [p for p in reference["quantiles"]["probs"] if 0 < p < 1]
        inner_probs[name] = probs
        aggregates += [
            F.count(x).alias(f"n{i}"),
            F.avg(x).alias(f"mean{i}"),
            F.sum(((x < reference["min"]) | (x > reference["max"])).cast("long")).alias(f"out{i}"),
            *(
                F.sum((x < edge).cast("long")).alias(f"e{i}_{k}")
                for k, edge in enumerate(reference["histogram"]["edges"])
            ),
        ]
    found = good.agg(*aggregates).first()
    assert found is not None
    # Bins of equal reference probability (1/KS_BINS each) for the Kolmogorov-Smirnov statistic.
    splits, cdfs = {}, {}
    for name in usable:
        reference = references[name]
        qprobs = np.asarray(reference["quantiles"]["probs"], dtype=np.float64)
        qvalues = np.asarray(reference["quantiles"]["values"], dtype=np.float64)
        inner = np.unique(np.interp(np.linspace(0, 1, KS_BINS + 1), qprobs, qvalues))
        splits[name] = [-float("inf"), *inner.tolist(), float("inf")]
        cdfs[name] = (qvalues, qprobs)
    wide = good.select([_number(c).alias(f"x{i}") for i, c in enumerate(usable.values())])
    bucketed = Bucketizer(
        splitsArray=[splits[n] for n in usable], inputCols=[f"x{i}" for i in range(len(usable))],
        outputCols=[f"b{i}" for i in range(len(usable))], handleInvalid="keep",
    ).transform(wide)  # fmt: skip
    long = bucketed.select(
        F.explode(
            F.array(
                *(
                    F.struct(F.lit(i).alias("f"), F.col(f"b{i}").alias("b"), F.col(f"x{i}").alias("x"))
                    for i in range(len(usable))
                )
            )
        ).alias("v")
    ).select("v.f", "v.b", "v.x")
    present = long.where(F.col("x").isNotNull()).withColumn(
        "key", (F.col("f") * (KS_BINS + 10) + F.col("b")).cast("long")
    )
    bins = present.groupBy("f", "b").agg(F.count(F.lit(1)).alias("m"), F.min("x").alias("lo"), F.max("x").alias("hi"))
    by_feature: dict[int, list[tuple[float, int, float, float]]] = {}
    for row in bins.collect():
        by_feature.setdefault(int(row["f"]), []).append(
            (float(row["b"]), int(row["m"]), float(row["lo"]), float(row["hi"]))
        )
    # The quantiles: the ranks they interpolate between, found in their bins, read exactly.
    wanted: dict[int, list[tuple[int, int, int, int, float]]] = {}
    for i, name in enumerate(usable):
        ordered = sorted(by_feature.get(i, []))
        n = sum(m for _, m, _, _ in ordered)
        for p in inner_probs[name] if n else []:
            rank = p * (n - 1)
            low, high = int(np.floor(rank)), int(np.ceil(rank))
            wanted.setdefault(i, []).append((*_locate(ordered, low), *_locate(ordered, high), rank - low))
    keys = sorted(
        {i * (KS_BINS + 10) + b for i, spots in wanted.items() for b1, _, b2, _, _ in spots for b in (b1, b2)}
    )
    gathered = {
        int(row["key"]): row["xs"]
        for row in present.where(F.col("key").isin(keys))
        .groupBy("key")
        .agg(F.sort_array(F.collect_list("x")).alias("xs"))
        .collect()
    }
    summaries: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(usable):
        n = int(found[f"n{i}"])
        summary: dict[str, Any] = {"total": total, "count": n}
        if n:
            reference = references[name]
            cuts = [int(found[f"e{i}_{k}"]) for k in range(len(reference["histogram"]["edges"]))]
            summary.update(
                bins=np.diff(np.concatenate(([0], cuts, [n]))).tolist(),
                quantiles=[
                    (lo := gathered[i * (KS_BINS + 10) + b1][k1]) + frac * (gathered[i * (KS_BINS + 10) + b2][k2] - lo)
                    for b1, k1, b2, k2, frac in wanted[i]
                ],
                ks_statistic=_ks(sorted(by_feature.get(i, [])), n, *cdfs[name]),
                mean=float(found[f"mean{i}"]),
                out_of_range=int(found[f"out{i}"]) / n,
            )
        summaries[name] = summary
    return summaries


def _locate(ordered: Sequence[tuple[float, int, float, float]], rank: int) -> tuple[int, int]:
    """(bin, position in the bin) of the value of 0-based ``rank`` among bins in value order."""
    before = 0
    for b, count, _, _ in ordered:
        if rank < before + count:
            return int(b), rank - before
        before += count
    raise ValueError(rank)


def _ks(bins: Sequence[tuple[float, int, float, float]], n: int, values: Any, probs: Any) -> float:
    """The KS statistic from bins in value order (count, minimum, maximum of each): the largest
    gap between the empirical and the reference CDF at the bins' first and last values."""
    import numpy as np

    best = 0.0
    before = 0
    for _, count, lo, hi in bins:
        low, high = np.interp([lo, hi], values, probs, left=0.0, right=1.0)
        best = max(
            best, (before + count) / n - high, (before + 1) / n - low, low - before / n, high - (before + count - 1) / n
        )
        before += count
    return float(best)


def _category_counts(good: DataFrame, column: str) -> dict[str, int]:
    """The count of each category, labelled as the single-machine engine labels them."""
    rows = good.groupBy(column).count().collect()
    counts: dict[str, int] = {}
    for label, row in zip(as_labels([r[0] for r in rows]), rows, strict=True):
        if label is not None:
            counts[label] = counts.get(label, 0) + int(row["count"])
    return counts


def _labelled(
    spark: SparkSession, good: DataFrame, alias: Mapping[str, str], labels: Sequence[tuple[str, int, str]]
) -> list[tuple[Any, Any]]:
    import json

    if not labels:
        return []
    given = spark.createDataFrame(list(labels), "request_id string, row int, label string")
    scored = good.select(
        good[alias["request_id"]].alias("request_id"),
        good[alias["row"]].alias("row"),
        good[alias[PREDICTION]].alias("p"),
    )
    joined = scored.join(given, on=["request_id", "row"], how="inner").select("p", "label").collect()
    return [(r["p"], json.loads(r["label"])) for r in joined]
