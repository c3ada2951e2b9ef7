"""`runstone monitor compute --engine spark`: Spark (local[2], real pyspark) computes the same
window as the single-machine engine from the same Parquet logs: the same verdicts, and the
statistics within the tolerances its aggregates allow (runstone.monitoring.spark_engine)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from runstone.cli.main import cli
from runstone.monitoring import logs
from runstone.monitoring.profile import build_profile
from tests.monitoring.conftest import records, reference_frame

T0 = 1_699_999_200_000
HOUR = 3_600_000


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from runstone.monitoring.spark_engine import session

    with pytest.MonkeyPatch.context() as env:
        env.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        env.setenv("PYSPARK_PYTHON", sys.executable)
        env.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
        found = session("local[2]")
        found.sparkContext.setLogLevel("ERROR")
        try:
            yield found
        finally:
            found.stop()


def _ingest(monitoring, recs) -> None:
    (table,) = logs.records_to_tables(recs).values()
    monitoring.ingest("fraud", "1", logs.to_parquet(table))


def _same(local: dict, spark: dict, path: str = "") -> None:
    """Equal results: everything to float precision but the Kolmogorov-Smirnov statistic, which
    Spark computes from 10,000 bins (off by at most 1/10,000), and its p-value."""
    assert set(local) == set(spark), path
    for key, value in local.items():
        other = spark[key]
        where = f"{path}.{key}"
        if isinstance(value, dict):
            _same(value, other, where)
        elif key == "ks_statistic":
            assert other == pytest.approx(value, abs=1e-4), where
        elif key == "ks_pvalue":
            assert other == pytest.approx(value, abs=0.01), where
        elif isinstance(value, float) or (isinstance(value, list) and value and isinstance(value[0], float)):
            assert other == pytest.approx(value, rel=1e-9, abs=1e-12), where
        else:
            assert other == value, where


@pytest.mark.parametrize("rows", [3, 20])  # KS and chi-square up to 1,000 values; Wasserstein and JS above
def test_spark_computes_the_window_the_single_machine_engine_computes(spark, monitoring, version, rows):
    version()
    frame = reference_frame(5000)
    monitoring.set_profile("fraud", "1", build_profile(frame, outputs=(frame["amount"] > 110).astype(int).tolist()))
    calm = records(150, start=T0, step=10_000, rows=rows, seed=4)
    moved = records(150, start=T0 + HOUR, step=10_000, rows=rows, shift=8, country="DE", prefix="m", seed=5)
    _ingest(monitoring, calm[:80])
    _ingest(monitoring, [*calm[80:], *moved])  # a window's rows come from several files
    monitoring.log_labels([f"r{i}:{j}" for i in range(0, 150, 3) for j in range(rows)],
                          [1 - r["outputs"][j] if i % 2 else r["outputs"][j] for i, r in list(enumerate(calm))[::3]
                           for j in range(rows)])  # fmt: skip
    for start in (T0, T0 + HOUR):
        local = monitoring.compute("fraud", "1", start, start + HOUR)
        found = monitoring.compute_spark(spark, "fraud", "1", start, start + HOUR)
        _same(local, found)
    assert local["drifted"] == found["drifted"] == ["amount", "country"]
    assert found["features"]["amount"]["test"] == ("ks" if rows * 150 <= 1000 else "wasserstein")


def test_the_compute_command_runs_on_spark(spark, monitoring, version, settings, monkeypatch):
    version()
    monitoring.set_profile("fraud", "1", build_profile(reference_frame()))
    _ingest(monitoring, records(100, start=T0, step=10_000, rows=4, shift=30))
    monkeypatch.setenv("RUNSTONE_TRACKING_URI", settings.backend_store_uri)
    monkeypatch.setenv("RUNSTONE_ARTIFACTS_DESTINATION", str(settings.artifacts_destination))
    monkeypatch.setenv("RUNSTONE_HOME", str(settings.home))
    args = ["monitor", "compute", "fraud@1", "--window", "1h", "--end", str(T0 + HOUR), "--json"]
    local = CliRunner().invoke(cli, args, catch_exceptions=False)
    on_spark = CliRunner().invoke(cli, [*args, "--engine", "spark"], catch_exceptions=False)
    assert local.exit_code == 0 and on_spark.exit_code == 0, local.output + on_spark.output
    _same(json.loads(local.stdout), json.loads(on_spark.stdout))
    assert json.loads(on_spark.stdout)["drifted"] == ["amount"]
    server = CliRunner().invoke(cli, [*args, "--engine", "spark", "--tracking-uri", "http://127.0.0.1:9"])
    assert server.exit_code == 1 and "reads the Parquet logs itself" in server.output
