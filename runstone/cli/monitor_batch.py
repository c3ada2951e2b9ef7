"""Batch scoring's predictions into the monitoring store (``runstone models predict --monitor``).

After a file is scored, its input features and the ``prediction`` column of the output are
stored as prediction logs of the scored version, one request per row: the request id is the
row's first key column (so late labels join on a business key) or ``<batch id>-<row>``.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runstone.errors import InvalidInput

if TYPE_CHECKING:
    from runstone.sdk.protocols import MonitoringBackend

_CHUNK = 50_000


def registry_version(model_uri: str, tracking_uri: str | None) -> tuple[str, str]:
    """The (model, version number) a ``models:/name/N`` or ``models:/name@alias`` URI names."""
    from runstone.sdk.client import RunstoneClient

    if not model_uri.startswith("models:/") or model_uri.startswith("models:/m-"):
        raise InvalidInput(
            "--monitor needs a registered version: a models:/<name>/<version> or models:/<name>@<alias> URI."
        )
    ref = model_uri.removeprefix("models:/").rstrip("/")
    if "@" in ref:
        name, alias = ref.rsplit("@", 1)
        return name, str(RunstoneClient(tracking_uri).get_model_version_by_alias(name, alias).version)
    name, _, version = ref.rpartition("/")
    if not name or not version.isdigit():
        raise InvalidInput(f"--monitor needs a model version number or alias in {model_uri!r}.")
    return name, version


def _table(path: Path) -> Any:
    import pyarrow.csv as csv
    import pyarrow.parquet as pq

    return pq.read_table(path) if path.suffix.lower() == ".parquet" else csv.read_csv(path)


def log_batch(
    api: MonitoringBackend, name: str, version: str, input_path: Path, output_path: Path, features: list[str] | None,
    key_columns: tuple[str, ...],
) -> dict[str, int]:  # fmt: skip
    """Store the scored rows as prediction logs; returns the ingest totals."""
    import numpy as np
    import pyarrow as pa

    from runstone.monitoring.logs import INPUT_PREFIX, to_parquet

    inputs, outputs = _table(input_path), _table(output_path)
    if "prediction" not in outputs.column_names:
        raise InvalidInput("The scored file has no single prediction column to monitor.")
    names = features or [c for c in inputs.column_names if c not in key_columns]
    rows = inputs.num_rows
    if key_columns:
        ids = pa.array([str(v) for v in inputs.column(key_columns[0]).to_pylist()], pa.string())
    else:
        batch = uuid.uuid4().hex[:12]
        ids = pa.array([f"batch-{batch}-{i}" for i in range(rows)], pa.string())
    now = int(time.time() * 1000)
    table = pa.table(
        {
            "request_id": ids,
            "row": pa.array(np.zeros(rows, dtype=np.int32)),
            "timestamp": pa.array(np.full(rows, now, dtype=np.int64)),
            "status": pa.array(np.full(rows, 200, dtype=np.int32)),
            "latency_ms": pa.array(np.zeros(rows)),
            **{INPUT_PREFIX + c: inputs.column(c) for c in names if c in inputs.column_names},
            "prediction": outputs.column("prediction"),
        }
    )
    totals = {"rows": 0, "requests": 0, "skipped": 0}
    for start in range(0, rows, _CHUNK):
        result = api.ingest(name, version, to_parquet(table.slice(start, _CHUNK)))
        for key in totals:
            totals[key] += int(result.get(key, 0))
    return totals
