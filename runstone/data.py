"""Datasets as run inputs: name, SHA-256 content digest, source, schema, row count, profile.

    ds = runstone.data.from_pandas(df, name="iris", source="s3://bucket/iris.parquet")
    runstone.log_input(ds, context="training")

The digest covers the content (values, column names and types), so the same data logged
twice is one dataset, and changed data is a different one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from runstone.entities import Dataset
from runstone.errors import InvalidInput

_MAX_PROFILED_COLUMNS = 50


def _name(name: str | None, digest: str) -> str:
    return name or f"dataset-{digest[:8]}"


def _dtype_token(dtype: object) -> str:
    """A dtype's name for digests, stable across pandas versions (whose text columns moved
    from ``object`` to ``str``)."""
    kind = getattr(dtype, "kind", "O")
    if kind in ("O", "U", "S") or str(dtype) in ("str", "string"):
        return "text"
    return str(dtype)


def from_pandas(
    df: object, *, name: str | None = None, source: str | None = None, targets: str | None = None
) -> Dataset:
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidInput(f"from_pandas takes a pandas DataFrame, got {type(df).__name__}.")
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), _dtype_token(t)] for c, t in df.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    hexdigest = digest.hexdigest()
    schema = {"columns": [{"name": str(c), "type": str(t)} for c, t in df.dtypes.items()]}
    if targets is not None:
        schema["targets"] = targets  # type: ignore[assignment]
    columns: dict[str, object] = {}
    for column in list(df.columns)[:_MAX_PROFILED_COLUMNS]:
        series = df[column]
        stats: dict[str, object] = {"dtype": str(series.dtype), "nulls": int(series.isna().sum())}
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series) and len(series):
            described = series.describe()
            stats.update({k: float(described[k]) for k in ("mean", "std", "min", "max") if k in described})
        columns[str(column)] = stats
    profile = {"num_rows": len(df), "num_columns": int(df.shape[1]), "columns": columns}
    return Dataset(
        name=_name(name, hexdigest),
        digest=hexdigest,
        source_type="memory" if source is None else "uri",
        source=source or "",
        schema=json.dumps(schema),
        profile=json.dumps(profile),
    )


def from_numpy(
    features: object, *, targets: object = None, name: str | None = None, source: str | None = None
) -> Dataset:
    import numpy as np

    arrays = {"features": np.ascontiguousarray(features)}
    if targets is not None:
        arrays["targets"] = np.ascontiguousarray(targets)
    digest = hashlib.sha256()
    schema: dict[str, object] = {}
    profile: dict[str, object] = {"num_rows": int(arrays["features"].shape[0]) if arrays["features"].ndim else 1}
    for key, array in arrays.items():
        digest.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
        schema[key] = {"dtype": str(array.dtype), "shape": list(array.shape)}
        if array.size and np.issubdtype(array.dtype, np.number):
            profile[key] = {
                "min": float(np.nanmin(array)),
                "max": float(np.nanmax(array)),
                "mean": float(np.nanmean(array)),
            }
    hexdigest = digest.hexdigest()
    return Dataset(
        name=_name(name, hexdigest),
        digest=hexdigest,
        source_type="memory" if source is None else "uri",
        source=source or "",
        schema=json.dumps(schema),
        profile=json.dumps(profile),
    )


def from_file(path: str | Path, *, name: str | None = None) -> Dataset:
    """A dataset file (any format), digested byte for byte; CSV and Parquet also get a schema."""
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"{file} is not a file.")
    digest = hashlib.sha256()
    with open(file, "rb") as src:
        while chunk := src.read(1024 * 1024):
            digest.update(chunk)
    hexdigest = digest.hexdigest()
    schema = profile = None
    if file.suffix.lower() in (".csv", ".parquet"):
        import pandas as pd

        frame = pd.read_csv(file) if file.suffix.lower() == ".csv" else pd.read_parquet(file)
        described = from_pandas(frame, name=name)
        schema, profile = described.schema, described.profile
    return Dataset(
        name=name or file.stem,
        digest=hexdigest,
        source_type="local",
        source=str(file.resolve()),
        schema=schema,
        profile=profile,
    )


def as_dataset(obj: object) -> Dataset:
    if isinstance(obj, Dataset):
        return obj
    module = type(obj).__module__
    if module.startswith("pandas"):
        return from_pandas(obj)
    if module.startswith("numpy"):
        return from_numpy(obj)
    if isinstance(obj, (str, Path)):
        return from_file(obj)
    raise InvalidInput(
        f"Cannot log a {type(obj).__name__} as a dataset; pass a pandas DataFrame, a numpy array, "
        "a file path, or a dataset from runstone.data."
    )


__all__ = ["Dataset", "as_dataset", "from_file", "from_numpy", "from_pandas"]
