"""Scoring on Spark: runstone.spark.spark_udf in local[2] mode with real pyspark."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from serving_models import fraud_data

import runstone.pyfunc
import runstone.sklearn


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as env:
        env.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        env.setenv("PYSPARK_PYTHON", sys.executable)
        env.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
        session = (
            SparkSession.builder.master("local[2]")
            .appName("runstone-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()


# Spark's Python workers import the model's class from the package's code/ folder, not from
# this test module: it is written to a file shipped with the package (code_paths).
COUNTING_MODEL = """
import os
from pathlib import Path

import runstone.pyfunc


class CountingLoads(runstone.pyfunc.PythonModel):
    \"\"\"Appends its process id to a file each time it is loaded; predicts amount * 10.\"\"\"

    def load_context(self, context):
        counter = Path(context.artifacts["counter"]).read_text().strip()
        with open(counter, "a") as f:
            f.write(f"{os.getpid()}\\n")

    def predict(self, context, model_input, params=None):
        return (model_input["amount"] * 10).to_numpy()
"""


def test_spark_udf_scores_like_the_model_by_columns_and_by_struct(spark, sklearn_model):
    from pyspark.sql.functions import struct

    from runstone.spark import spark_udf

    frame = fraud_data(500, seed=4)[0].assign(id=np.arange(500))
    df = spark.createDataFrame(frame).repartition(4)  # type: ignore[attr-defined]
    predict = spark_udf(spark, str(sklearn_model), result_type="long")
    scored = (
        df.withColumn("by_columns", predict("amount", "items"))
        .withColumn("by_struct", predict(struct("amount", "items")))
        .withColumn("by_signature", predict())
        .toPandas()
        .sort_values("id")
    )
    expected = runstone.sklearn.load_model(sklearn_model).predict(frame[["amount", "items"]])
    for column in ("by_columns", "by_struct", "by_signature"):
        assert scored[column].tolist() == expected.tolist(), column


def test_the_model_is_loaded_once_per_worker_not_per_batch(spark, tmp_path):
    from runstone.spark import spark_udf

    counter = tmp_path / "loads.txt"
    (tmp_path / "counter-path.txt").write_text(str(counter))
    code = tmp_path / "code" / "spark_counting_model.py"
    code.parent.mkdir()
    code.write_text(COUNTING_MODEL)
    sys.path.insert(0, str(code.parent))
    try:
        import spark_counting_model

        runstone.pyfunc.save_model(
            tmp_path / "counting",
            python_model=spark_counting_model.CountingLoads(),
            artifacts={"counter": str(tmp_path / "counter-path.txt")},
            code_paths=[str(code)],
            input_example=pd.DataFrame({"amount": [1.0]}),
        )
    finally:
        sys.path.remove(str(code.parent))
        sys.modules.pop("spark_counting_model", None)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "50")  # type: ignore[attr-defined]
    try:
        df = spark.range(2_000).selectExpr("cast(id as double) as amount").repartition(8)  # type: ignore[attr-defined]
        predict = spark_udf(spark, str(tmp_path / "counting"), result_type="double")
        counter.write_text("")  # saving and spark_udf loaded it here, on the driver, to check it
        out = df.withColumn("p", predict("amount")).toPandas()
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")  # type: ignore[attr-defined]
    assert (out.p == out.amount * 10).all()
    loads = counter.read_text().split()
    # 8 tasks of 5 Arrow batches each ran in local[2]'s reused Python worker processes: each
    # process loaded the model once, whatever number of tasks and batches it ran (without the
    # cache: one load per task or per batch, 8 or 40).
    assert len(set(loads)) == len(loads), f"a process loaded the model twice: {loads}"
    assert 1 <= len(loads) < 8, loads
