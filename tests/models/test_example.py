"""Input examples in MLflow's file shapes, and recorded outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from runstone.models.example import differences, encode_output, load_input_example, save_input_example
from runstone.models.signature import infer_signature


def test_an_array_example_is_a_nested_list_and_a_tf_serving_request(tmp_path: Path) -> None:
    data = np.array([[1.5, 2.0], [3.0, 4.0]], dtype=np.float32)

    _, info = save_input_example(tmp_path, data)

    assert info == {
        "artifact_path": "input_example.json",
        "type": "ndarray",
        "serving_input_path": "serving_input_example.json",
    }
    assert json.loads((tmp_path / "input_example.json").read_text()) == [[1.5, 2.0], [3.0, 4.0]]
    assert json.loads((tmp_path / "serving_input_example.json").read_text()) == {"inputs": [[1.5, 2.0], [3.0, 4.0]]}
    # JSON has no float32: reading back uses the schema's dtype.
    schema = infer_signature(data).inputs
    assert load_input_example(tmp_path, info, schema).dtype == np.float32


def test_a_dict_of_arrays_keeps_its_names(tmp_path: Path) -> None:
    data = {"ids": np.array([1, 2], dtype=np.int32), "w": np.array([0.5, 1.0])}

    _, info = save_input_example(tmp_path, data)
    back = load_input_example(tmp_path, info, infer_signature(data).inputs)

    assert json.loads((tmp_path / "serving_input_example.json").read_text()) == {
        "inputs": {"ids": [1, 2], "w": [0.5, 1.0]}
    }
    assert back["ids"].dtype == np.int32
    assert back["w"].tolist() == [0.5, 1.0]


def test_a_frame_reads_back_with_its_types(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"i": np.array([1, 2], dtype=np.int32), "s": ["a", "b"], "t": pd.to_datetime(["2024-01-01", "2024-02-01"])}
    )

    _, info = save_input_example(tmp_path, frame)
    back = load_input_example(tmp_path, info, infer_signature(frame).inputs)

    assert info["pandas_orient"] == "split"
    assert back["i"].dtype == np.int32
    assert back["t"].tolist() == frame["t"].tolist()


def test_list_of_records_becomes_a_frame(tmp_path: Path) -> None:
    data, info = save_input_example(tmp_path, [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])

    assert info["type"] == "dataframe"
    assert list(data.columns) == ["a", "b"]


def test_output_comparison_reports_where_values_differ() -> None:
    expected = encode_output(np.array([1.0, 2.0, 3.0]))

    assert differences(expected, encode_output(np.array([1.0, 2.0, 3.0]))) == []
    assert differences(expected, encode_output(np.array([1.0, 2.5, 3.0]))) == ["output.data[1]: 2.5, expected 2.0"]
    assert differences(expected, encode_output(np.array([1.0, 2.0 + 1e-12, 3.0])), rtol=1e-9) == []
    assert differences(expected, encode_output(np.array([1, 2, 3]))) == ["output.dtype: 'int64', expected 'float64'"]
