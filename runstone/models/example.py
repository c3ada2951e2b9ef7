"""Input examples and recorded outputs, stored as JSON in MLflow's shapes.

input_example.json          DataFrame: {"columns": [...], "data": [[...]]} (split, no index)
                            array: a nested list; dict of arrays: {"name": [...]}
serving_input_example.json  the same as a scoring request: {"dataframe_split": ...} or
                            {"inputs": ...}
output_example.json         the model's output on the example when it was saved
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput

INPUT_EXAMPLE = "input_example.json"
SERVING_EXAMPLE = "serving_input_example.json"
OUTPUT_EXAMPLE = "output_example.json"
MAX_EXAMPLE_ROWS = 1000


def normalize_example(example: object) -> Any:
    """The example as a DataFrame, a numpy array or a dict of numpy arrays."""
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        return example
    if isinstance(example, pd.Series):
        return example.to_frame()
    if hasattr(example, "detach") and hasattr(example, "numpy"):  # a torch tensor
        return example.detach().cpu().numpy()
    if isinstance(example, np.ndarray):
        return example
    if isinstance(example, Mapping):
        if example and all(isinstance(v, np.ndarray) for v in example.values()):
            return {str(k): v for k, v in example.items()}
        if all(np.ndim(v) == 0 for v in example.values()):
            return pd.DataFrame([dict(example)])
        return pd.DataFrame(dict(example))
    if isinstance(example, list) and example and all(isinstance(r, Mapping) for r in example):
        return pd.DataFrame(example)
    if isinstance(example, (list, tuple)):
        return np.asarray(example)
    raise InvalidInput(
        f"An input example must be a pandas DataFrame, a numpy array, a dict of arrays or a list of "
        f"records; got {type(example).__name__}."
    )


def _plain(value: object) -> Any:
    """JSON-ready Python values (numpy scalars, timestamps and bytes converted)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.dtype.kind in "OMmS" else value.tolist()
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is not None and not isinstance(value, (str, int, float, bool)):
        try:
            import pandas as pd

            if pd.isna(value):
                return None
        except (TypeError, ValueError):
            pass
        return str(value)
    return value


def _split(frame: Any) -> dict[str, object]:
    return {"columns": [str(c) for c in frame.columns], "data": _plain(frame.to_numpy(dtype=object))}


def save_input_example(path: Path, example: object) -> tuple[Any, dict[str, Any]]:
    """Write the example files into a package; returns the normalized example and its info."""
    import pandas as pd

    data = normalize_example(example)
    if isinstance(data, pd.DataFrame):
        if len(data) > MAX_EXAMPLE_ROWS:
            raise InvalidInput(f"An input example holds at most {MAX_EXAMPLE_ROWS} rows; got {len(data)}.")
        payload: object = _split(data)
        serving: object = {"dataframe_split": payload}
        info = {"artifact_path": INPUT_EXAMPLE, "type": "dataframe", "pandas_orient": "split"}
    else:
        payload = {k: _plain(v) for k, v in data.items()} if isinstance(data, dict) else _plain(data)
        serving = {"inputs": payload}
        info = {"artifact_path": INPUT_EXAMPLE, "type": "ndarray"}
    (path / INPUT_EXAMPLE).write_text(json.dumps(payload))
    (path / SERVING_EXAMPLE).write_text(json.dumps(serving, indent=2))
    info["serving_input_path"] = SERVING_EXAMPLE
    return data, info


def load_input_example(path: Path, info: Mapping[str, Any], schema: Any = None) -> Any:
    """The stored example, decoded into the types of the input schema."""
    from runstone.models.enforce import decode

    payload = json.loads((path / info["artifact_path"]).read_text())
    kind = info.get("type", "ndarray")
    if kind == "dataframe" and isinstance(payload, Mapping) and "dataframe_split" in payload:
        payload = payload["dataframe_split"]
    return decode(payload, schema, "dataframe" if kind == "dataframe" else "ndarray")


def encode_output(output: object) -> dict[str, object]:
    """A prediction as JSON-ready data tagged with its kind, for recording and comparing."""
    import numpy as np
    import pandas as pd

    if isinstance(output, pd.DataFrame):
        return {"type": "dataframe", "data": _split(output)}
    if isinstance(output, pd.Series):
        return {"type": "series", "data": _plain(output.to_numpy(dtype=object))}
    if isinstance(output, np.ndarray):
        return {"type": "ndarray", "dtype": str(output.dtype), "data": _plain(output)}
    if hasattr(output, "detach") and hasattr(output, "numpy"):
        return encode_output(output.detach().cpu().numpy())
    if isinstance(output, Mapping):
        return {"type": "dict", "data": {str(k): encode_output(v) for k, v in output.items()}}
    if isinstance(output, (list, tuple)):
        return {"type": "list", "data": _plain(list(output))}
    return {"type": "scalar", "data": _plain(output)}


def save_output_example(path: Path, output: object) -> dict[str, object]:
    encoded = encode_output(output)
    (path / OUTPUT_EXAMPLE).write_text(json.dumps(encoded))
    return {"artifact_path": OUTPUT_EXAMPLE, "type": encoded["type"]}


def load_output_example(path: Path, info: Mapping[str, Any]) -> dict[str, object]:
    return json.loads((path / info["artifact_path"]).read_text())


def differences(
    expected: object, actual: object, *, rtol: float = 0.0, atol: float = 0.0, where: str = "output"
) -> list[str]:
    """Where two encoded outputs differ (empty when they match within the tolerances)."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        out = []
        for key in sorted(set(expected) | set(actual)):
            if key not in expected or key not in actual:
                out.append(f"{where}: key {key!r} only in {'actual' if key in actual else 'expected'}")
                continue
            out.extend(differences(expected[key], actual[key], rtol=rtol, atol=atol, where=f"{where}.{key}"))
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: length {len(actual)}, expected {len(expected)}"]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out.extend(differences(e, a, rtol=rtol, atol=atol, where=f"{where}[{i}]"))
            if len(out) >= 10:
                break
        return out
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and not isinstance(expected, bool):
        if expected == actual or (math.isnan(expected) and math.isnan(actual)):
            return []
        if abs(actual - expected) <= atol + rtol * abs(expected):
            return []
        return [f"{where}: {actual!r}, expected {expected!r}"]
    if expected != actual:
        return [f"{where}: {actual!r}, expected {expected!r}"]
    return []
