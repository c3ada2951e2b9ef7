"""Signature enforcement at predict time.

Input is checked against the model's input schema before the model sees it: a missing
required column or input is an InvalidInput that names it; a value of the wrong type is an
InvalidInput that names the column, its type and the expected one. Conversions that lose
nothing are made silently (int32 -> int64, int -> double, float32 -> float64), as MLflow does;
conversions that could lose something (float -> int, int64 -> float32, double -> float) never
are. Columns the schema does not name are dropped, and the rest put in the schema's order.

Decoding JSON is a different matter (JSON has no int32 or float32): ``decode`` turns a JSON
payload into the types the schema declares; it is used for stored input examples and by
serving, never on a Python caller's data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from runstone.errors import InvalidInput
from runstone.models.signature import NUMPY_OF_TYPE, ColSpec, ParamSchema, Schema, TensorSpec

log = logging.getLogger(__name__)


def _safe_cast(from_dtype: Any, to_dtype: Any) -> bool:
    import numpy as np

    from_dtype, to_dtype = np.dtype(from_dtype), np.dtype(to_dtype)
    if from_dtype == to_dtype:
        return True
    if from_dtype.kind == "b" or to_dtype.kind == "b":  # True is not 1.0
        return False
    if from_dtype.kind in "iuf" and to_dtype.kind in "iuf":
        return bool(np.can_cast(from_dtype, to_dtype, casting="safe"))
    return False


def _column(series: Any, spec: ColSpec, label: str) -> Any:
    import numpy as np
    import pandas as pd

    if spec.raw is not None:  # a type runstone does not enforce
        return series
    expected = spec.type
    dtype = series.dtype

    def wrong(found: str) -> InvalidInput:
        return InvalidInput(
            f"{label} has type {found} but the model's signature expects {expected}; "
            "runstone converts only where nothing can be lost (e.g. int to double).",
            {"column": spec.name, "expected": expected, "found": found},
        )

    if expected in ("string", "binary"):
        want = str if expected == "string" else (bytes, bytearray)
        if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype) and expected == "string":
            return series
        if pd.api.types.is_object_dtype(dtype):
            bad = [v for v in series.tolist() if v is not None and v == v and not isinstance(v, want)]
            if not bad:
                return series
            raise wrong(type(bad[0]).__name__)
        raise wrong(str(dtype))
    if expected == "datetime":
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return series
        raise wrong(str(dtype))
    target = np.dtype(NUMPY_OF_TYPE[expected])
    if pd.api.types.is_extension_array_dtype(dtype):
        if series.isna().any():
            raise InvalidInput(
                f"{label} has missing values but the model's signature expects {expected}, which cannot hold them.",
                {"column": spec.name, "expected": expected},
            )
        numpy_dtype = getattr(dtype, "numpy_dtype", None)
        if numpy_dtype is None:
            raise wrong(str(dtype))
        series = series.astype(numpy_dtype)
        dtype = series.dtype
    if pd.api.types.is_object_dtype(dtype):
        raise wrong(_describe_objects(series.tolist()))
    if dtype == target:
        return series
    if _safe_cast(dtype, target):
        return series.astype(target)
    if dtype.kind == "f" and target.kind in "iu" and series.isna().any():
        raise InvalidInput(
            f"{label} has missing values (so it is float) but the model's signature expects {expected}; "
            "integer columns cannot hold missing values.",
            {"column": spec.name, "expected": expected, "found": str(dtype)},
        )
    raise wrong(str(dtype))


def _describe_objects(values: Sequence[object]) -> str:
    names = sorted({type(v).__name__ for v in values if v is not None})
    return "/".join(names) or "object"


def _to_frame(data: object, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, Mapping):
        values = dict(data)
        if all(np.ndim(v) == 0 for v in values.values()):
            return pd.DataFrame([values])
        return pd.DataFrame(values)
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        return pd.DataFrame(data)
    if isinstance(data, (np.ndarray, list)):
        array = np.asarray(data)
        if array.ndim == 1:
            array = array.reshape(-1, 1) if len(schema.specs) == 1 else array.reshape(1, -1)
        if array.ndim != 2 or array.shape[1] != len(schema.specs):
            raise InvalidInput(
                f"The model expects {len(schema.specs)} columns ({', '.join(schema.names()) or 'unnamed'}); "
                f"got an array of shape {array.shape}."
            )
        columns = schema.names() if schema.has_names else list(range(array.shape[1]))
        return pd.DataFrame(array, columns=columns)
    raise InvalidInput(
        f"The model takes a table (pandas DataFrame, dict of columns or list of records); got {type(data).__name__}."
    )


def _enforce_columns(data: object, schema: Schema) -> Any:
    import pandas as pd

    frame = _to_frame(data, schema)
    specs: list[ColSpec] = [s for s in schema.specs if isinstance(s, ColSpec)]
    if not schema.has_names:
        if frame.shape[1] != len(specs):
            raise InvalidInput(f"The model expects {len(specs)} unnamed column(s); got {frame.shape[1]}.")
        columns = [_column(frame.iloc[:, i], spec, f"Column {i}") for i, spec in enumerate(specs)]
        return pd.concat(columns, axis=1) if columns else frame
    present = {str(c): c for c in frame.columns}
    missing = [s.name for s in specs if s.required and s.name not in present]
    if missing:
        listed = ", ".join(repr(m) for m in missing)
        raise InvalidInput(
            f"Input is missing column(s) {listed} required by the model's signature "
            f"(expected: {', '.join(schema.names())}).",
            {"missing": missing},
        )
    out = {}
    for spec in specs:
        if spec.name in present:
            out[spec.name] = _column(frame[present[spec.name]], spec, f"Column {spec.name!r}")
    return pd.DataFrame(out, index=frame.index)


def _tensor(value: object, spec: TensorSpec, label: str) -> Any:
    import numpy as np

    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    array = np.asarray(value)
    if spec.dtype in ("str", "bytes", "object"):
        if array.dtype.kind not in "OUS":
            raise InvalidInput(f"{label} has dtype {array.dtype} but the model's signature expects {spec.dtype}.")
    elif array.dtype != np.dtype(spec.dtype):
        if not _safe_cast(array.dtype, spec.dtype):
            raise InvalidInput(
                f"{label} has dtype {array.dtype} but the model's signature expects {spec.dtype}; "
                "runstone converts only where nothing can be lost (e.g. int32 to float64).",
                {"input": spec.name, "expected": spec.dtype, "found": str(array.dtype)},
            )
        array = array.astype(spec.dtype)
    if spec.shape and (
        array.ndim != len(spec.shape)
        or any(want != -1 and want != got for want, got in zip(spec.shape, array.shape, strict=False))
    ):
        raise InvalidInput(
            f"{label} has shape {tuple(array.shape)} but the model's signature expects {tuple(spec.shape)} "
            "(-1: any size).",
            {"input": spec.name, "expected": list(spec.shape), "found": list(array.shape)},
        )
    return array


def _enforce_tensors(data: Any, schema: Schema) -> Any:
    specs: list[TensorSpec] = [s for s in schema.specs if isinstance(s, TensorSpec)]
    if not schema.has_names:
        if isinstance(data, Mapping):
            if len(data) != 1:
                raise InvalidInput("The model takes one unnamed tensor; got a dict of several.")
            data = next(iter(data.values()))
        return _tensor(data, specs[0], "Input")
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        data = {str(c): data[c] for c in data.columns}
    if not isinstance(data, Mapping):
        if len(specs) == 1:
            return {specs[0].name: _tensor(data, specs[0], f"Input {specs[0].name!r}")}
        raise InvalidInput(f"The model takes named inputs ({', '.join(schema.names())}); pass a dict of arrays.")
    missing = [s.name for s in specs if s.name not in data]
    if missing:
        raise InvalidInput(
            f"Input is missing {', '.join(repr(m) for m in missing)} required by the model's signature "
            f"(expected: {', '.join(schema.names())}).",
            {"missing": missing},
        )
    return {s.name: _tensor(data[s.name], s, f"Input {s.name!r}") for s in specs}


def enforce_inputs(data: object, schema: Schema | None) -> Any:
    """The input as the model should see it, or InvalidInput saying what is wrong."""
    if schema is None or not schema.specs:
        return data
    if all(isinstance(s, ColSpec) and s.raw is not None for s in schema.specs) and not schema.has_names:
        return data  # MLflow's "any" (or other types runstone does not enforce) for the whole input
    if schema.is_tensor:
        return _enforce_tensors(data, schema)
    return _enforce_columns(data, schema)


def _param_value(value: Any, kind: str, name: str) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    ok = {
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "binary": lambda v: isinstance(v, (bytes, bytearray)),
    }.get(kind)
    if ok is None:
        return value
    if not ok(value):
        raise InvalidInput(
            f"Param {name!r} must be of type {kind}; got {type(value).__name__} {value!r}.",
            {"param": name, "expected": kind},
        )
    return float(value) if kind in ("float", "double") else value


def enforce_params(params: Mapping[str, Any] | None, schema: ParamSchema | None) -> dict[str, Any] | None:
    """Params with defaults filled in and types checked; params the model does not declare are
    dropped with a log line (as in MLflow)."""
    if schema is None:
        if params:
            log.warning("The model declares no params; ignoring %s.", sorted(params))
        return None
    given = dict(params or {})
    unknown = sorted(set(given) - {s.name for s in schema.specs})
    if unknown:
        log.warning("Ignoring params the model does not declare: %s.", unknown)
    out: dict[str, Any] = {}
    for spec in schema.specs:
        if spec.name not in given:
            out[spec.name] = spec.default
            continue
        value = given[spec.name]
        if spec.shape is not None:
            if not isinstance(value, (list, tuple)) and not hasattr(value, "tolist"):
                raise InvalidInput(f"Param {spec.name!r} must be a list of {spec.type}.", {"param": spec.name})
            items = value.tolist() if hasattr(value, "tolist") else list(value)
            out[spec.name] = [_param_value(v, spec.type, spec.name) for v in items]
        else:
            out[spec.name] = _param_value(value, spec.type, spec.name)
    return out


# -------------------------------------------------------------------- decoding
def decode(payload: Any, schema: Schema | None, kind: str) -> Any:
    """A JSON-decoded example ('dataframe' split dict or 'ndarray' list/dict) in the schema's types."""
    import pandas as pd

    if kind == "dataframe":
        frame = pd.DataFrame(payload["data"], columns=payload["columns"])
        if schema is not None and not schema.is_tensor and schema.has_names:
            for spec in schema.specs:
                if isinstance(spec, ColSpec) and spec.raw is None and spec.name in frame.columns:
                    frame[spec.name] = _decode_column(frame[spec.name], spec)
        return frame
    if isinstance(payload, Mapping) and set(payload) == {"inputs"}:
        payload = payload["inputs"]
    tensors: dict[str | None, TensorSpec] = (
        {s.name: s for s in schema.specs if isinstance(s, TensorSpec)} if schema and schema.is_tensor else {}
    )
    if isinstance(payload, Mapping):
        return {k: _decode_array(v, tensors.get(k)) for k, v in payload.items()}
    return _decode_array(payload, tensors.get(None) if tensors else None)


def _decode_array(values: object, spec: TensorSpec | None) -> Any:
    import numpy as np

    array = np.asarray(values)
    if spec is None or spec.dtype in ("str", "bytes", "object") or array.dtype.kind not in "biuf":
        return array
    return _lossless(array, np.dtype(spec.dtype))


def _lossless(values: Any, dtype: Any) -> Any:
    """``values`` as ``dtype`` when that changes no value (JSON lost the width), else unchanged
    so that enforcement reports the mismatch."""
    import numpy as np

    try:
        converted = values.astype(dtype)
        same = bool(np.all((converted == values) | ((converted != converted) & (values != values))))
    except (TypeError, ValueError, OverflowError):
        return values
    return converted if same else values


def _decode_column(series: Any, spec: ColSpec) -> Any:
    import pandas as pd

    if spec.type == "datetime":
        return pd.to_datetime(series)
    if spec.type in ("string", "binary"):
        return series
    if series.isna().any():
        return series
    return _lossless(series, NUMPY_OF_TYPE[spec.type])
