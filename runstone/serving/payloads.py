"""MLflow's scoring protocol: request bodies in, ``{"predictions": ...}`` out.

A JSON body holds exactly one of ``dataframe_split`` ({columns, data[, index]}),
``dataframe_records`` ([{column: value}]), ``instances`` (rows) or ``inputs`` (columns or
tensors), plus optional ``params``; a ``text/csv`` body is a table with a header line. Any other
content type is answered 415, a body of the wrong shape 400, with MLflow's messages so that
clients written against ``mlflow models serve`` see what they expect.

JSON has no int32 or float32: values are turned into the types the model's signature declares
where nothing is lost (decimals for a float32 input are rounded to the nearest float32, as a
float32 parser would, unless they overflow it), and the signature is then enforced as ``predict`` would (a missing or
mistyped column is a 400 naming it).

What a request may make the server build is bounded before anything is built: rows and
columns per request (413 past :class:`Limits`), and a table never holds more cells than its
body has bytes. Only ``dataframe_records`` can describe a table larger than itself (records
naming different keys leave the other cells empty); with a signature that names columns, keys
it does not name are dropped first, as enforcing it would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from runstone.errors import InvalidInput, PayloadTooLarge
from runstone.models.signature import NUMPY_OF_TYPE, ColSpec, Schema, TensorSpec

CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_CSV = "text/csv"
CONTENT_TYPES = [CONTENT_TYPE_CSV, CONTENT_TYPE_JSON]
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
# MLflow prints its set of formats; the same words in a fixed order.
_FORMATS_TEXT = "{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}"
REQUIRED_INPUT_FORMAT = f"The input must be a JSON dictionary with exactly one of the input fields {_FORMATS_TEXT}"
PROTOCOL_CHANGE_INFO = (
    "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are seeing this "
    "error, you are likely using an outdated scoring request format: send one of the input fields above."
)


class UnsupportedMediaType(Exception):
    """Answered 415 with a plain-text message, as MLflow does."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(InvalidInput):
    """A body of the wrong shape (MLflow's BAD_REQUEST)."""


@dataclass(frozen=True)
class Limits:
    """The most one request may ask for; larger ones are answered 413."""

    max_rows: int = 1_000_000
    max_columns: int = 10_000


_MIN_CELLS = 100_000  # a tiny body may still describe a small sparse table


class _Budget:
    """The limits of one request, and the cells its body entitles it to."""

    __slots__ = ("cells", "limits")

    def __init__(self, limits: Limits, body_bytes: int) -> None:
        self.limits = limits
        self.cells = max(body_bytes, _MIN_CELLS)

    def rows(self, count: int) -> None:
        if count > self.limits.max_rows:
            raise PayloadTooLarge(
                f"The request holds {count} rows; this scoring server takes at most {self.limits.max_rows} per "
                "request (--max-rows). Send fewer rows per request, or score files with `runstone models predict`."
            )

    def columns(self, count: int) -> None:
        if count > self.limits.max_columns:
            raise PayloadTooLarge(
                f"The request names more than {self.limits.max_columns} columns, the most this scoring server "
                "takes (--max-columns)."
            )


class Block:
    """A table of one numeric dtype whose columns are exactly the signature's, in order: what
    enforcing the signature would make of it, held as one 2-D array. Micro-batching stacks
    such arrays and builds one DataFrame per model call instead of one per request."""

    __slots__ = ("array", "columns", "index")

    def __init__(self, array: Any, columns: list[str], index: list[Any] | None = None) -> None:
        self.array = array
        self.columns = columns
        self.index = index

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def frame(self) -> Any:
        import pandas as pd

        frame = pd.DataFrame(self.array, columns=self.columns, copy=False)
        if self.index is not None and self.index != list(range(len(self.index))):
            frame.index = pd.Index(self.index)
        return frame


class Parsed:
    """A parsed request: its input (built as a DataFrame only when asked for), params, rows."""

    __slots__ = ("_data", "block", "checked", "params", "rows")

    def __init__(self, data: object, params: Mapping[str, object] | None, rows: int, checked: bool = False) -> None:
        self.block = data if isinstance(data, Block) else None
        self._data = None if self.block is not None else data
        self.params = params
        self.rows = rows
        # True when the input already is what enforcing the signature would make of it (the
        # signature's columns, in order, each of exactly its numeric type): enforcement is skipped.
        self.checked = checked or self.block is not None

    @property
    def data(self) -> Any:
        """A DataFrame, an ndarray or a dict of ndarrays."""
        if self._data is None and self.block is not None:
            self._data = self.block.frame()
        return self._data


def media_type(content_type: str | None) -> str:
    """The media type of a request, or UnsupportedMediaType with MLflow's message."""
    raw = content_type or ""
    parts = [p.strip() for p in raw.split(";")]
    mime = parts[0].lower()
    options = {k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in parts[1:] if p)}
    if options.get("charset", "utf-8").lower() != "utf-8":
        raise UnsupportedMediaType("The scoring server only supports UTF-8")
    unexpected = set(options) - {"charset"}
    if unexpected:
        raise UnsupportedMediaType(
            f"Unrecognized content type parameters: {', '.join(sorted(unexpected))}. {PROTOCOL_CHANGE_INFO}"
        )
    if mime not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"This predictor only supports the following content types: Types: {CONTENT_TYPES}. Got '{raw}'."
        )
    return mime


def parse(body: bytes, mime: str, schema: Schema | None, limits: Limits | None = None) -> Parsed:
    budget = _Budget(limits or Limits(), len(body))
    if mime == CONTENT_TYPE_CSV:
        frame = parse_csv(body, schema)
        budget.rows(len(frame))
        budget.columns(frame.shape[1])
        return Parsed(frame, None, len(frame))
    return parse_json(body, schema, budget)


def parse_json(body: bytes, schema: Schema | None, budget: _Budget) -> Parsed:
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Ensure that input is a valid JSON formatted string. Error: '{exc}'") from None
    if isinstance(decoded, list):
        raise BadRequest(f"{REQUIRED_INPUT_FORMAT}. Received a list.")
    if not isinstance(decoded, dict):
        raise BadRequest(f"{REQUIRED_INPUT_FORMAT}. Received unexpected input type '{type(decoded)}.")
    found = [k for k in FORMATS if k in decoded]
    if len(found) != 1:
        raise BadRequest(
            f"{REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: {list(decoded)}. {PROTOCOL_CHANGE_INFO}"
        )
    params = decoded.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadRequest("'params' must be a JSON object of parameter names and values.")
    key = found[0]
    value = decoded[key]
    if key == "dataframe_split":
        data = _from_split(value, schema, budget)
    elif key == "dataframe_records":
        data = _from_records(value, schema, budget)
    elif key == "instances":
        data = _from_instances(value, schema, budget)
    else:
        data = _from_inputs(value, schema, budget)
    # The flag travels on the frame from _table to here only; no model sees it.
    checked = bool(data.attrs.pop(_CONFORMS, False)) if hasattr(data, "attrs") else False
    return Parsed(data, params, _rows(data), checked)


def _rows(data: Any) -> int:
    if isinstance(data, Block):
        return len(data)
    if isinstance(data, Mapping):
        first = next(iter(data.values()), None)
        return len(first) if first is not None and getattr(first, "ndim", 1) > 0 else 1
    return len(data) if getattr(data, "ndim", 1) > 0 else 1


# ------------------------------------------------------------------- columns
def _frame_schema(schema: Schema | None) -> Schema | None:
    """The schema when it names columns (how a table payload is typed), else None."""
    if schema is None or schema.is_tensor or not schema.has_names:
        return None
    return schema


def _column(values: Sequence[object], spec: ColSpec | None) -> Any:
    """A column of JSON values in the type the spec declares, when nothing is lost."""
    import numpy as np

    if spec is None or spec.raw is not None:
        return _infer_column(values)
    kind = spec.type
    if kind in ("string", "binary"):
        return _objects(values)
    if kind == "datetime":
        import pandas as pd

        try:
            return pd.to_datetime(pd.Series(values, dtype=object)).to_numpy()
        except (ValueError, TypeError, OverflowError):
            return _infer_column(values)
    target = np.dtype(NUMPY_OF_TYPE[kind])
    if kind == "boolean":
        if all(isinstance(v, bool) for v in values):
            return np.asarray(values, dtype=bool)
        return _infer_column(values)
    if any(isinstance(v, (bool, str)) or (v is not None and not isinstance(v, (int, float))) for v in values):
        return _infer_column(values)  # enforcement names the column and what it holds
    try:
        array = np.asarray(values, dtype=np.float64 if None in values else None)
    except (ValueError, TypeError, OverflowError):
        return _infer_column(values)
    if array.dtype == target:
        return array
    if target.kind in "iu" and array.dtype.kind == "f" and not bool(np.isfinite(array).all()):
        return array  # missing values: enforcement says an integer column cannot hold them
    try:
        with np.errstate(invalid="ignore", over="ignore"):  # out of range: compared below, then refused
            converted = array.astype(target)
    except (ValueError, TypeError, OverflowError):
        return array
    if target.kind == "f":
        if _rounded(array, converted):
            return converted
        return converted if bool(np.all((converted == array) | np.isnan(array))) else array
    return converted if bool(np.all(converted == array)) else array


def _infer_column(values: Sequence[object]) -> Any:
    import numpy as np

    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        try:
            return np.asarray(values)
        except OverflowError:  # an integer wider than 64 bits
            return _objects(values)
    if values and all(isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=bool)
    return _objects(values)


def _objects(values: Sequence[object]) -> Any:
    """A column holding each value as it is: a list in a cell stays one value (slice assignment
    would read nested lists as another dimension, and fail or unwrap them)."""
    import numpy as np

    return np.fromiter(values, dtype=object, count=len(values))


_CONFORMS = "runstone.conforms"
_NUMERIC = frozenset(("boolean", "integer", "long", "float", "double"))


def _conforming(columns: list[str], arrays: list[Any], schema: Schema | None) -> bool:
    """Whether the columns are the signature's, in its order, each of exactly its numeric type."""
    import numpy as np

    if schema is None or len(columns) != len(schema.specs):
        return False
    for name, array, spec in zip(columns, arrays, schema.specs, strict=True):
        if not isinstance(spec, ColSpec) or spec.raw is not None or spec.type not in _NUMERIC or spec.name != name:
            return False
        if array.dtype != np.dtype(NUMPY_OF_TYPE[spec.type]):
            return False
    return True


def _table(columns: list[str], cols: list[list[Any]], schema: Schema | None, index: Any = None) -> Any:
    import numpy as np
    import pandas as pd

    specs = {s.name: s for s in schema.specs if isinstance(s, ColSpec)} if schema else {}
    arrays = [_column(values, specs.get(name)) for name, values in zip(columns, cols, strict=True)]
    conforms = _conforming(columns, arrays, schema)
    if conforms and arrays and len({a.dtype for a in arrays}) == 1:
        # One dtype: a single 2-D block, much cheaper to build (and to combine) than columns.
        return Block(np.column_stack(arrays), columns, index)
    frame = pd.DataFrame(dict(zip(columns, arrays, strict=True)), index=index, copy=False)
    frame.attrs[_CONFORMS] = conforms
    return frame


def _from_split(value: object, schema: Schema | None, budget: _Budget) -> Any:
    if not isinstance(value, dict) or "data" not in value:
        raise BadRequest(
            "Failed to parse data as a pandas DataFrame: 'dataframe_split' must be a JSON object "
            "with 'columns' and 'data' (and optionally 'index')."
        )
    data = value["data"]
    if not isinstance(data, list) or any(not isinstance(row, list) for row in data):
        raise BadRequest("'dataframe_split' data must be a list of rows (lists of values).")
    budget.rows(len(data))
    columns = value.get("columns")
    if columns is not None and not isinstance(columns, list):
        raise BadRequest(f"'dataframe_split' columns must be a list of column names; got {_kind(columns)}.")
    width = len(data[0]) if data else len(columns or [])
    budget.columns(width)
    if any(len(row) != width for row in data):
        raise BadRequest("Every row of 'dataframe_split' data must have the same number of values.")
    named = _frame_schema(schema)
    if columns is None:
        columns = named.names() if named is not None and width == len(named.specs) else list(range(width))
    if len(columns) != width:
        raise BadRequest(f"'dataframe_split' names {len(columns)} columns but its rows hold {width} values.")
    if not all(_label(c) for c in columns):
        raise BadRequest("'dataframe_split' columns must be names (strings or integers).")
    cols = [list(c) for c in zip(*data, strict=True)] if data else [[] for _ in columns]
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        raise BadRequest("'dataframe_split' index must be a list with one label per row.")
    if index is not None and not all(_label(i) or isinstance(i, float) for i in index):
        raise BadRequest("'dataframe_split' index labels must be strings or numbers.")
    return _table(columns, cols, named, index)


def _label(value: object) -> bool:
    """Whether a JSON value can name a column or a row."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _kind(value: object) -> str:
    """A JSON value's type, as a client would name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an object" if isinstance(value, dict) else "a list"


def _from_records(value: object, schema: Schema | None, budget: _Budget) -> Any:
    if not isinstance(value, list) or any(not isinstance(r, dict) for r in value):
        raise BadRequest("'dataframe_records' must be a list of JSON objects (one per row).")
    budget.rows(len(value))
    named = _frame_schema(schema)
    wanted = set(named.names()) if named is not None else None
    columns: dict[str, None] = {}
    for record in value:
        for key in record:
            if key not in columns and (wanted is None or key in wanted):
                columns[key] = None
                budget.columns(len(columns))
    cells = len(value) * len(columns)
    if cells > budget.cells:
        raise BadRequest(
            f"'dataframe_records' names {len(columns)} different keys across {len(value)} records, a table of "
            f"{cells} cells, most of them empty; that is more than a body of this size may ask for. Send records "
            "with the same keys, or use 'dataframe_split'."
        )
    cols = [[r.get(c) for r in value] for c in columns]
    return _table(list(columns), cols, named)


def _tensor(values: object, spec: TensorSpec | None, label: str) -> Any:
    import numpy as np

    try:
        array = np.asarray(values)
    except (ValueError, TypeError, OverflowError) as exc:
        raise BadRequest(f"{label} is not a rectangular array of numbers or strings: {exc}") from None
    if spec is None or spec.dtype in ("str", "bytes", "object") or array.dtype.kind not in "biuf":
        return array
    target = np.dtype(spec.dtype)
    if array.dtype == target:
        return array
    if target.kind in "iu" and array.dtype.kind == "f" and not bool(np.isfinite(array).all()):
        return array
    try:
        with np.errstate(invalid="ignore", over="ignore"):  # out of range: compared below, then refused
            converted = array.astype(target)
    except (ValueError, TypeError, OverflowError):
        return array
    if _rounded(array, converted):
        return converted
    same = converted == array
    if array.dtype.kind == "f":
        same = same | np.isnan(array)
    return converted if bool(np.all(same)) else array


def _rounded(array: Any, converted: Any) -> bool:
    """Whether JSON numbers given for a float32 input fit in one: a decimal in JSON has no width,
    so rounding it to the nearest float32 (what a float32 parser does) changes no value the
    client could have meant, as long as no finite number overflows."""
    import numpy as np

    if array.dtype.kind != "f" or converted.dtype.kind != "f" or converted.dtype.itemsize >= array.dtype.itemsize:
        return False
    return bool(np.all(np.isfinite(converted) | ~np.isfinite(array)))


def _from_instances(value: object, schema: Schema | None, budget: _Budget) -> Any:
    if not isinstance(value, list):
        raise BadRequest("'instances' must be a list of rows.")
    budget.rows(len(value))
    if value and all(isinstance(r, dict) for r in value):
        if schema is not None and schema.is_tensor:
            keys = list(value[0])
            budget.columns(len(keys))
            specs = {s.name: s for s in schema.specs if isinstance(s, TensorSpec)}
            return {k: _tensor([r.get(k) for r in value], specs.get(k), f"Input {k!r}") for k in keys}
        return _from_records(value, schema, budget)
    return _array_input(value, schema, "'instances'")


def _from_inputs(value: object, schema: Schema | None, budget: _Budget) -> Any:
    if isinstance(value, dict):
        budget.columns(len(value))
        if schema is not None and schema.is_tensor:
            specs = {s.name: s for s in schema.specs if isinstance(s, TensorSpec)}
            return {k: _tensor(v, specs.get(k), f"Input {k!r}") for k, v in value.items()}
        named = _frame_schema(schema)
        cols = [v if isinstance(v, list) else [v] for v in value.values()]
        if len({len(c) for c in cols}) > 1:
            raise BadRequest("Every column of 'inputs' must hold the same number of values.")
        budget.rows(len(cols[0]) if cols else 0)
        return _table(list(value), cols, named)
    if isinstance(value, list):
        budget.rows(len(value))
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        return _from_records(value, schema, budget)
    return _array_input(value, schema, "'inputs'")


def _array_input(value: object, schema: Schema | None, label: str) -> Any:
    named = _frame_schema(schema)
    if named is not None:
        # Rows of values for a model that takes named columns: columns in the signature's order.
        if not isinstance(value, list):
            raise BadRequest(
                f"{label} must hold rows of values in the order of the model's signature "
                f"({', '.join(named.names())}), columns or records; got {_kind(value)}."
            )
        rows = value if value and isinstance(value[0], list) else [value]
        width = len(named.specs)
        if any(not isinstance(r, list) or len(r) != width for r in rows):
            raise BadRequest(
                f"{label} rows must hold {width} values, one per column of the model's signature "
                f"({', '.join(named.names())})."
            )
        return _table(named.names(), [list(c) for c in zip(*rows, strict=True)], named)
    spec = schema.specs[0] if schema is not None and schema.is_tensor and not schema.has_names else None
    assert spec is None or isinstance(spec, TensorSpec)
    return _tensor(value, spec, label)


# ----------------------------------------------------------------------- CSV
def parse_csv(body: bytes, schema: Schema | None) -> Any:
    import io

    import pandas as pd

    named = _frame_schema(schema)
    text_columns = (
        {s.name: "str" for s in named.specs if isinstance(s, ColSpec) and s.type == "string"} if named else {}
    )
    try:
        frame = pd.read_csv(io.BytesIO(body), dtype=text_columns or None, encoding="utf-8")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise BadRequest(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas "
            f"DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: '{exc}'"
        ) from None
    if named is None:
        return frame
    specs = {s.name: s for s in named.specs if isinstance(s, ColSpec)}
    for name in frame.columns:
        spec = specs.get(str(name))
        if spec is not None and spec.raw is None and spec.type not in ("string", "binary"):
            series = frame[name]
            if spec.type == "datetime":
                try:
                    frame[name] = pd.to_datetime(series)
                except (ValueError, TypeError):
                    pass
            elif not series.isna().any() and series.dtype.kind in "iuf":
                frame[name] = _column(series.tolist(), spec)
    return frame


# ------------------------------------------------------------------- output
def jsonable(predictions: Any) -> Any:
    """Predictions as orjson can write them: a DataFrame as a list of records, a Series as a list."""
    module = type(predictions).__module__
    if module.startswith("pandas"):
        if hasattr(predictions, "columns"):
            return _records(predictions)
        return _array(predictions.to_numpy())
    if module == "numpy":
        return _array(predictions)
    if isinstance(predictions, dict):
        return {str(k): jsonable(v) for k, v in predictions.items()}
    if isinstance(predictions, (list, tuple)):
        return [jsonable(v) for v in predictions]
    return predictions


def _array(array: object) -> Any:
    import numpy as np

    if not isinstance(array, np.ndarray):
        return array.item() if hasattr(array, "item") else array
    if array.dtype.kind in "biuf" and array.flags.c_contiguous:
        return array  # orjson writes these natively (OPT_SERIALIZE_NUMPY)
    if array.dtype.kind == "M":
        return [None if v is None else str(v) for v in array.astype("datetime64[us]").tolist()]
    return array.tolist()


def _records(frame: Any) -> list[dict[str, Any]]:
    columns = [str(c) for c in frame.columns]
    values = [_array(frame[c].to_numpy()) for c in frame.columns]
    lists = [v.tolist() if hasattr(v, "tolist") else v for v in values]
    return [dict(zip(columns, row, strict=True)) for row in zip(*lists, strict=True)]


def dumps(content: object) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=_default)


def _default(value: object) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot serialize {type(value).__name__}")
