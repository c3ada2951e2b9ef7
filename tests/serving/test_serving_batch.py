"""Batch scoring of files: chunks of bounded size, key columns kept, Parquet and CSV, the CLI."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from serving_models import fraud_data

import runstone.models
import runstone.sklearn
from runstone.cli.main import cli
from runstone.errors import InvalidInput
from runstone.serving.batch import predict_file


def table(rows: int, seed: int = 1) -> pd.DataFrame:
    X = fraud_data(rows, seed)[0]
    return X.assign(customer_id=np.arange(rows, dtype="int64"), region=np.where(np.arange(rows) % 2, "north", "south"))


def test_parquet_in_chunks_with_the_key_columns(sklearn_model, tmp_path):
    frame = table(2_500)
    frame.to_parquet(tmp_path / "in.parquet", row_group_size=700)
    model = runstone.models.load_model(sklearn_model)
    progress: list[tuple[int, int | None]] = []
    result = predict_file(
        model,
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        chunk_size=1_000,
        progress=lambda d, t: progress.append((d, t)),
    )
    assert (result.rows, result.chunks) == (2_500, 3)
    out = pd.read_parquet(tmp_path / "out.parquet")
    # Key columns by default: every input column the model does not take.
    assert list(out.columns) == ["customer_id", "region", "prediction"]
    assert out.customer_id.tolist() == frame.customer_id.tolist()
    expected = runstone.sklearn.load_model(sklearn_model).predict(frame[["amount", "items"]])
    assert out.prediction.tolist() == expected.tolist()
    assert progress == [(0, 2_500), (1_000, 2_500), (2_000, 2_500), (2_500, 2_500)]


def test_csv_in_csv_out_with_named_keys(sklearn_model, tmp_path):
    frame = table(1_234)
    frame.to_csv(tmp_path / "in.csv", index=False)
    model = runstone.models.load_model(sklearn_model)
    result = predict_file(model, tmp_path / "in.csv", tmp_path / "out.csv", chunk_size=500, key_columns=["customer_id"])
    assert (result.rows, result.chunks) == (1_234, 3)
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["customer_id", "prediction"]
    expected = runstone.sklearn.load_model(sklearn_model).predict(frame[["amount", "items"]])
    assert out.prediction.tolist() == expected.tolist()
    assert out.customer_id.tolist() == list(range(1_234))


def test_memory_stays_bounded_by_the_chunk_not_the_file(echo_model, tmp_path):
    rows = 400_000
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"amount": rng.rand(rows), "items": rng.randint(0, 9, rows), "id": np.arange(rows)})
    frame.to_parquet(tmp_path / "big.parquet", row_group_size=20_000)
    whole = frame.memory_usage(index=False).sum()  # ~9.6 MB in memory
    del frame
    model = runstone.models.load_model(echo_model())
    calls = model.unwrap_python_model().calls
    calls.clear()
    tracemalloc.start()
    pool = pa.default_memory_pool()
    arrow_before = pool.max_memory()
    try:
        result = predict_file(model, tmp_path / "big.parquet", tmp_path / "out.parquet", chunk_size=10_000)
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.rows == rows
    assert max(calls) == 10_000 and sum(calls) == rows, "the model saw chunks, never the file"
    assert python_peak < whole / 4, f"peak {python_peak} bytes for a {whole}-byte table"
    assert pool.max_memory() - arrow_before < whole / 2 or pool.max_memory() < whole
    out = pq.ParquetFile(tmp_path / "out.parquet")
    assert out.metadata.num_rows == rows
    assert out.schema_arrow.names == ["id", "prediction"]


def test_bad_rows_name_the_chunk_and_the_column(sklearn_model, tmp_path):
    frame = table(30)
    frame["items"] = frame["items"].astype("Int64")
    frame.loc[25, "items"] = pd.NA  # only the third chunk has a missing value
    frame.to_parquet(tmp_path / "in.parquet")
    model = runstone.models.load_model(sklearn_model)
    with pytest.raises(InvalidInput, match=r"Rows 21-30 of .*'items' has missing values"):
        predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", chunk_size=10)
    assert not (tmp_path / "out.parquet").exists(), "no half-written output"
    text = table(30).astype({"amount": "object"})
    text.loc[25, "amount"] = "lots"
    text.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(InvalidInput, match=r"in the types of the model's signature.*double.*'lots'"):
        predict_file(model, tmp_path / "in.csv", tmp_path / "out.parquet", chunk_size=10)


def test_refusals(sklearn_model, tmp_path):
    model = runstone.models.load_model(sklearn_model)
    table(5).to_parquet(tmp_path / "in.parquet")
    with pytest.raises(InvalidInput, match=r"neither \.parquet nor \.csv"):
        predict_file(model, tmp_path / "in.parquet", tmp_path / "out.json")
    with pytest.raises(InvalidInput, match="not in"):
        predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", key_columns=["nope"])
    with pytest.raises(InvalidInput, match="must not be the input"):
        predict_file(model, tmp_path / "in.parquet", tmp_path / "in.parquet")


def test_the_cli_scores_a_file_and_reports_rows_per_second(sklearn_model, tmp_path):
    table(3_000).to_parquet(tmp_path / "in.parquet")
    result = CliRunner().invoke(
        cli,
        ["models", "predict", "-m", str(sklearn_model), "-i", str(tmp_path / "in.parquet"), "-o",
         str(tmp_path / "out.parquet"), "--chunk-size", "1000", "-k", "customer_id"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Scored 3,000 rows in 3 chunk(s)" in result.output
    assert "rows/s" in result.output
    assert list(pd.read_parquet(tmp_path / "out.parquet").columns) == ["customer_id", "prediction"]
    missing = CliRunner().invoke(
        cli,
        ["models", "predict", "-m", str(sklearn_model), "-i", str(tmp_path / "no.csv"), "-o", str(tmp_path / "o.csv")],
    )
    assert missing.exit_code == 1
    assert "Error: No input file" in missing.output
