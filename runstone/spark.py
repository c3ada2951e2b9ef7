"""Batch scoring on Apache Spark: a pandas UDF that runs a model package on each executor.

    from runstone.spark import spark_udf

    predict = spark_udf(spark, "models:/fraud@champion", result_type="double")
    scored = df.withColumn("prediction", predict("amount", "items"))
    # or predict(struct("amount", "items")), or predict(*df.columns)

The driver resolves the URI and ships the package to the executors with ``SparkContext.addFile``.
Each executor's Python worker loads it once and keeps it (cached by package) for every batch and
task it runs after; Spark's default ``spark.python.worker.reuse`` keeps those workers alive.
Columns passed one by one are named by the model's signature, in order; a struct column keeps
its field names. ``result_type`` is a Spark type or a DDL string (``double``, ``long``,
``string``, ``array<double>``, or a struct for models that return a table).
"""

# No ``from __future__ import annotations`` here: pyspark reads the UDF's type hints at runtime.

import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput
from runstone.models.pyfunc_model import PyFuncModel, load_package
from runstone.models.uri import local_path

_cache: dict[str, PyFuncModel] = {}
_cache_lock = threading.Lock()
loads = 0  # models loaded by this process (what the cache saves)


def _model(name: str) -> PyFuncModel:
    """The package shipped as ``name``, loaded once per Python worker process."""
    global loads
    with _cache_lock:
        model = _cache.get(name)
        if model is None:
            from pyspark import SparkFiles

            model = load_package(Path(SparkFiles.get(name)))
            _cache[name] = model
            loads += 1
        return model


def _frame(batch: Any, names: list[str] | None) -> Any:
    import pandas as pd

    if isinstance(batch, pd.DataFrame):
        return batch
    columns = list(batch) if isinstance(batch, tuple) else [batch]
    if len(columns) == 1 and isinstance(columns[0], pd.DataFrame):
        return columns[0]  # a struct column
    if names is not None and len(names) == len(columns):
        labels: list[Any] = list(names)
    elif names is not None:
        raise InvalidInput(
            f"The model takes {len(names)} columns ({', '.join(names)}); the UDF was called with {len(columns)}."
        )
    else:
        labels = list(range(len(columns)))
    return pd.DataFrame({label: col.reset_index(drop=True) for label, col in zip(labels, columns, strict=True)})


def _output(predictions: object, kind: str) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        if kind.startswith("struct"):
            return predictions.reset_index(drop=True)
        if predictions.shape[1] == 1:
            predictions = predictions.iloc[:, 0]
        else:
            return pd.Series(list(predictions.to_numpy()))
    values = predictions.to_numpy() if isinstance(predictions, pd.Series) else np.asarray(predictions)
    if values.ndim > 1:
        return pd.Series(list(values))
    casts = {"double": "float64", "float": "float32", "long": "int64", "bigint": "int64", "int": "int32"}
    if kind in casts:
        return pd.Series(values.astype(casts[kind]))
    if kind == "string":
        return pd.Series(values.astype(str))
    if kind in ("boolean", "bool"):
        return pd.Series(values.astype(bool))
    return pd.Series(values)


def spark_udf(
    spark: Any,
    model_uri: str,
    result_type: Any = "double",
    *,
    params: dict[str, Any] | None = None,
    client: Any = None,
) -> Any:
    """A pandas UDF scoring rows with the model ``model_uri`` names (any model URI)."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import DataType

    path = local_path(model_uri, client=client)
    package = load_package(path)  # fail on the driver, not on every executor
    schema = package.metadata.get_input_schema()
    names = schema.names() if schema is not None and schema.has_names and not schema.is_tensor else None
    # A uniquely named copy: addFile refuses two different files under one name.
    name = f"runstone-model-{uuid.uuid4().hex[:12]}"
    staged = Path(tempfile.mkdtemp(prefix="runstone-spark-")) / name
    shutil.copytree(path, staged)
    spark.sparkContext.addFile(str(staged), recursive=True)
    kind = result_type.simpleString() if isinstance(result_type, DataType) else str(result_type).strip().lower()

    def predict(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        model = _model(name)
        for batch in batches:
            yield _output(model.predict(_frame(batch, names), params), kind)

    def predict_columns(batches: Iterator[tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        model = _model(name)
        for batch in batches:
            yield _output(model.predict(_frame(batch, names), params), kind)

    single = pandas_udf(predict, returnType=result_type)  # type: ignore[call-overload]
    several = pandas_udf(predict_columns, returnType=result_type)  # type: ignore[call-overload]

    def udf(*columns: Any) -> Any:
        if not columns:
            if names is None:
                raise InvalidInput("The model's signature names no columns; pass the columns to score.")
            columns = tuple(names)
        return single(*columns) if len(columns) == 1 else several(*columns)

    udf.__doc__ = f"Scores rows with {model_uri}."
    return udf
