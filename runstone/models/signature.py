"""Model signatures: what a model takes (columns or tensors), what it returns, and its params.

The JSON shapes are MLflow's, so signatures written by either tool read in the other:

    inputs:  '[{"type": "double", "name": "x", "required": true}]'           (columns)
             '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]'
    params:  '[{"name": "k", "type": "long", "default": 3, "shape": null}]'

Column types are MLflow's: boolean, integer (int32), long (int64), float (float32),
double (float64), string, binary, datetime. Other MLflow types (array, object, map, any) are
read and written back unchanged, and not enforced.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runstone.errors import InvalidInput

COLUMN_TYPES = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")
# The numpy dtype each column type is held in.
NUMPY_OF_TYPE = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}


@dataclass(frozen=True)
class ColSpec:
    """One column: its type, name (None for positional outputs) and whether it must be present."""

    type: str
    name: str | None = None
    required: bool = True
    # An MLflow type runstone does not enforce (array, object, map, any), kept verbatim.
    raw: Mapping[str, Any] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, object]:
        if self.raw is not None:
            return dict(self.raw)
        out: dict[str, object] = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass(frozen=True)
class TensorSpec:
    """A tensor: numpy dtype name and shape, -1 for a dimension of any size."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {} if self.name is None else {"name": self.name}
        out["type"] = "tensor"
        out["tensor-spec"] = {"dtype": self.dtype, "shape": list(self.shape)}
        return out


Spec = ColSpec | TensorSpec


class Schema:
    """An ordered list of column specs or of tensor specs (never a mix)."""

    def __init__(self, specs: Sequence[Spec]) -> None:
        self.specs = list(specs)
        kinds = {isinstance(s, TensorSpec) for s in self.specs}
        if len(kinds) > 1:
            raise InvalidInput("A schema holds either columns or tensors, not both.")
        names = [s.name for s in self.specs]
        if any(n is None for n in names) and any(n is not None for n in names):
            raise InvalidInput("Either every input of a schema is named or none is.")
        if len({n for n in names if n is not None}) != len([n for n in names if n is not None]):
            raise InvalidInput("Schema names must be unique.")

    @property
    def is_tensor(self) -> bool:
        return bool(self.specs) and isinstance(self.specs[0], TensorSpec)

    @property
    def has_names(self) -> bool:
        return bool(self.specs) and self.specs[0].name is not None

    def names(self) -> list[str]:
        return [s.name for s in self.specs if s.name is not None]

    def required_names(self) -> list[str]:
        return [s.name for s in self.specs if s.name is not None and getattr(s, "required", True)]

    def to_list(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.specs]

    def to_json(self) -> str:
        return json.dumps(self.to_list())

    @classmethod
    def from_json(cls, text: str | list[Any]) -> Schema:
        items = json.loads(text) if isinstance(text, str) else text
        specs: list[Spec] = []
        for item in items:
            if item.get("type") == "tensor":
                tensor = item["tensor-spec"]
                specs.append(TensorSpec(str(tensor["dtype"]), tuple(int(d) for d in tensor["shape"]), item.get("name")))
            elif item.get("type") in COLUMN_TYPES:
                specs.append(ColSpec(item["type"], item.get("name"), bool(item.get("required", True))))
            else:
                specs.append(ColSpec(str(item.get("type")), item.get("name"), bool(item.get("required", True)), item))
        return cls(specs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_list() == other.to_list()

    def __repr__(self) -> str:
        return f"Schema({self.to_list()!r})"


@dataclass(frozen=True)
class ParamSpec:
    """A named inference parameter with a type, a default, and a shape ([-1] for lists)."""

    name: str
    type: str
    default: Any
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "default": self.default,
            "shape": list(self.shape) if self.shape is not None else None,
            "type": self.type,
        }


class ParamSchema:
    def __init__(self, specs: Sequence[ParamSpec]) -> None:
        self.specs = list(specs)

    def to_json(self) -> str:
        return json.dumps([s.to_dict() for s in self.specs])

    @classmethod
    def from_json(cls, text: str | list[Any]) -> ParamSchema:
        items = json.loads(text) if isinstance(text, str) else text
        return cls(
            [
                ParamSpec(
                    i["name"], i["type"], i.get("default"), tuple(i["shape"]) if i.get("shape") is not None else None
                )
                for i in items
            ]
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"ParamSchema({self.to_json()})"


@dataclass
class ModelSignature:
    """Inputs, outputs and params of a model, as recorded in the MLmodel file."""

    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSignature:
        return cls(
            Schema.from_json(data["inputs"]) if data.get("inputs") else None,
            Schema.from_json(data["outputs"]) if data.get("outputs") else None,
            ParamSchema.from_json(data["params"]) if data.get("params") else None,
        )


# ------------------------------------------------------------------ inference
def _column_type_of_dtype(dtype: Any, what: str) -> str:
    import numpy as np

    dtype = np.dtype(dtype)
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return "boolean"
    if kind == "i":
        return "long" if size == 8 else "integer"
    if kind == "u":
        if size == 8:
            raise InvalidInput(f"{what} is uint64, which no signature type holds; cast it to int64 or float64.")
        return "long" if size == 4 else "integer"
    if kind == "f":
        return "double" if size == 8 else "float"
    if kind in ("U",):
        return "string"
    if kind == "S":
        return "binary"
    if kind == "M":
        return "datetime"
    raise InvalidInput(f"{what} has dtype {dtype}, which no signature type holds.")


def _column_type_of_values(values: Sequence[object], what: str) -> str:
    present = [v for v in values if v is not None and v == v]  # drop None and NaN
    if not present:
        raise InvalidInput(f"Cannot infer the type of {what}: it holds no values.")
    types = {type(v) for v in present}
    if types <= {str}:
        return "string"
    if types <= {bytes, bytearray}:
        return "binary"
    if all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "long"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "double"
    if all(isinstance(v, (dt.datetime, dt.date)) for v in present):
        return "datetime"
    names = ", ".join(sorted(t.__name__ for t in types))
    raise InvalidInput(f"Cannot infer the type of {what}: it mixes or holds unsupported values ({names}).")


def column_type_of_series(series: Any, what: str) -> str:
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _column_type_of_values(list(dtype.categories), what)
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "string"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_extension_array_dtype(dtype) and hasattr(dtype, "numpy_dtype"):
        return _column_type_of_dtype(dtype.numpy_dtype, what)
    if pd.api.types.is_object_dtype(dtype):
        return _column_type_of_values(series.tolist(), what)
    return _column_type_of_dtype(dtype, what)


def _tensor_spec(array: object, name: str | None) -> TensorSpec:
    import numpy as np

    array = np.asarray(array)
    if array.dtype.kind in ("O", "U", "S"):
        dtype = "str" if array.dtype.kind in ("O", "U") else "bytes"
    else:
        dtype = str(array.dtype)
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    return TensorSpec(dtype, tuple(int(d) for d in shape), name)


def infer_schema(data: object) -> Schema:
    """The schema of a pandas DataFrame or Series, a numpy array, a dict of arrays, a list of
    records (dicts), or a dict of scalars (one record)."""
    import numpy as np

    module = type(data).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(data, pd.Series):
            return Schema([ColSpec(column_type_of_series(data, f"series {data.name!r}"))])
        if isinstance(data, pd.DataFrame):
            return Schema([ColSpec(column_type_of_series(data[c], f"column {c!r}"), str(c)) for c in data.columns])
    if isinstance(data, np.ndarray):
        return Schema([_tensor_spec(data, None)])
    if hasattr(data, "detach") and hasattr(data, "numpy"):  # a torch tensor
        return Schema([_tensor_spec(data.detach().cpu().numpy(), None)])
    if isinstance(data, Mapping):
        if data and all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema([_tensor_spec(v, str(k)) for k, v in data.items()])
        return Schema([ColSpec(_column_type_of_values([v], f"field {k!r}"), str(k)) for k, v in data.items()])
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        import pandas as pd

        return infer_schema(pd.DataFrame(data))
    if isinstance(data, (list, tuple)):
        return Schema([_tensor_spec(np.asarray(data), None)])
    if isinstance(data, (str, bytes, bool, int, float)):
        return Schema([ColSpec(_column_type_of_values([data], "the value"))])
    raise InvalidInput(
        f"Cannot infer a schema from a {type(data).__name__}; pass a pandas DataFrame, a numpy array "
        "or a dict of numpy arrays, or give the signature explicitly."
    )


def _param_spec(name: str, value: object) -> ParamSpec:
    import numpy as np

    if isinstance(value, (list, tuple, np.ndarray)):
        values = list(np.asarray(value).tolist())
        kind = _column_type_of_values(values, f"param {name!r}") if values else "string"
        return ParamSpec(name, kind, values, (-1,))
    if isinstance(value, np.generic):
        value = value.item()
    return ParamSpec(name, _column_type_of_values([value], f"param {name!r}"), value)


def infer_signature(
    model_input: object = None, model_output: object = None, params: Mapping[str, object] | None = None
) -> ModelSignature:
    """A signature from an input example, the model's output on it, and default params."""
    return ModelSignature(
        inputs=infer_schema(model_input) if model_input is not None else None,
        outputs=infer_schema(model_output) if model_output is not None else None,
        params=ParamSchema([_param_spec(str(k), v) for k, v in params.items()]) if params else None,
    )
