"""Prediction logs as Parquet: one row per scored input row.

The scoring server writes JSON lines (runstone.serving.predlog); ``records_to_tables`` turns
them into one Arrow table per model version with these columns:

    request_id  string   the request the row came in
    row         int32    its position in the request
    timestamp   int64    ms since the epoch
    status      int32    HTTP status of the answer
    latency_ms  float64
    in.<name>   float64 (numbers) or string (anything else), one per input column
    prediction  float64 or string, the model's answer for the row (null on errors)

A failed request is one row with its status and no inputs, so error rates come from the same
files.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runstone.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

INPUT_PREFIX = "in."
REQUIRED = ("request_id", "row", "timestamp", "status", "latency_ms")
MAX_ROWS_PER_FILE = 500_000


def _rows_of_inputs(inputs: object) -> list[dict[str, Any]]:
    if isinstance(inputs, Mapping) and "columns" in inputs and "data" in inputs:
        columns = [str(c) for c in inputs["columns"]]
        return [dict(zip(columns, row, strict=False)) for row in inputs["data"]]
    if isinstance(inputs, Mapping):
        named = {str(k): v if isinstance(v, list) else [v] for k, v in inputs.items()}
        length = max((len(v) for v in named.values()), default=0)
        return [{k: (v[i] if i < len(v) else None) for k, v in named.items()} for i in range(length)]
    if isinstance(inputs, list):
        rows = []
        for item in inputs:
            if isinstance(item, Mapping):
                rows.append({str(k): v for k, v in item.items()})
            elif isinstance(item, list):
                rows.append({str(i): v for i, v in enumerate(item)})
            else:
                rows.append({"0": item})
        return rows
    return [{"0": inputs}]


def _outputs_per_row(outputs: object, count: int) -> list[Any]:
    if isinstance(outputs, Mapping):
        for key in ("predictions", "prediction", "outputs"):
            if key in outputs:
                return _outputs_per_row(outputs[key], count)
        if len(outputs) == 1:
            return _outputs_per_row(next(iter(outputs.values())), count)
    if isinstance(outputs, list) and len(outputs) == count:
        return [_scalar(o) for o in outputs]
    return [_scalar(outputs)] * count if count == 1 else [None] * count


def _scalar(value: object) -> Any:
    if isinstance(value, Mapping) and len(value) == 1:
        return _scalar(next(iter(value.values())))
    if isinstance(value, list) and len(value) == 1:
        return _scalar(value[0])
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return value


def _typed(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array([None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in values], pa.string())


def records_to_tables(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], pa.Table]:
    """Prediction-log records grouped by (model name, model version) as Arrow tables."""
    import pyarrow as pa

    grouped: dict[tuple[str, str], list[tuple[Mapping[str, Any], list[dict[str, Any]], list[Any]]]] = {}
    for record in records:
        name, version = record.get("model_name"), record.get("model_version")
        if not name or not version or not record.get("request_id"):
            continue  # a model served from a path has no registry version to monitor
        ok = record.get("status") == 200 and record.get("outputs") is not None
        rows = _rows_of_inputs(record.get("inputs")) if ok else []
        outputs = _outputs_per_row(record.get("outputs"), len(rows)) if ok else []
        grouped.setdefault((str(name), str(version)), []).append((record, rows, outputs))
    tables = {}
    for key, entries in grouped.items():
        columns: dict[str, list[Any]] = {c: [] for c in REQUIRED}
        features: dict[str, list[Any]] = {}
        predictions: list[Any] = []
        count = 0
        for record, rows, outputs in entries:
            for i, row in enumerate(rows or [{}]):
                columns["request_id"].append(str(record["request_id"]))
                columns["row"].append(i)
                columns["timestamp"].append(int(record.get("timestamp") or 0))
                columns["status"].append(int(record.get("status") or 0))
                columns["latency_ms"].append(float(record.get("latency_ms") or 0.0))
                predictions.append(outputs[i] if rows else None)
                for name in row:
                    features.setdefault(name, [None] * count)
                for name, values in features.items():
                    values.append(row.get(name))
                count += 1
        arrays = {
            "request_id": pa.array(columns["request_id"], pa.string()),
            "row": pa.array(columns["row"], pa.int32()),
            "timestamp": pa.array(columns["timestamp"], pa.int64()),
            "status": pa.array(columns["status"], pa.int32()),
            "latency_ms": pa.array(columns["latency_ms"], pa.float64()),
            **{INPUT_PREFIX + name: _typed(values) for name, values in features.items()},
            "prediction": _typed(predictions),
        }
        tables[key] = pa.table(arrays)
    return tables


def read_jsonl(paths: Iterable[Path]) -> list[dict[str, Any]]:
    records = []
    for path in paths:
        with open(path, "rb") as src:
            for number, line in enumerate(src, 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        raise InvalidInput(f"{path}:{number} is not a JSON prediction-log record.") from None
    return records


def to_parquet(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def from_parquet(data: bytes) -> pa.Table:
    """A log table sent by a client, checked: the required columns with their types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"The prediction log is not a readable Parquet file: {exc}") from None
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise InvalidInput(f"The prediction log lacks the columns {missing}; it needs {list(REQUIRED)}.")
    if table.num_rows > MAX_ROWS_PER_FILE:
        raise InvalidInput(f"A prediction log file holds at most {MAX_ROWS_PER_FILE} rows; send it in parts.")
    types = wire_types()
    try:
        return table.cast(pa.schema([pa.field(f.name, types.get(f.name, f.type)) for f in table.schema]))
    except (pa.ArrowException, ValueError) as exc:
        raise InvalidInput(f"A required column of the prediction log has the wrong type: {exc}") from None


_WIRE_TYPES: dict[str, Any] = {}


def wire_types() -> dict[str, object]:
    import pyarrow as pa

    if not _WIRE_TYPES:
        _WIRE_TYPES.update(
            request_id=pa.string(), row=pa.int32(), timestamp=pa.int64(), status=pa.int32(), latency_ms=pa.float64()
        )
    return _WIRE_TYPES
