"""ONNX: graphs built with onnx.helper, run with onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper

import runstone.models
import runstone.onnx
from runstone.errors import InvalidInput

WEIGHTS = np.array([[1.0], [-2.0], [0.5], [3.0]], dtype=np.float32)


def linear_model() -> onnx.ModelProto:
    """y = x @ W + 0.1, for x of shape (batch, 4)."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, [4, 1], WEIGHTS.flatten().tolist()),
            helper.make_tensor("b", TensorProto.FLOAT, [1], [0.1]),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def test_an_onnx_graph_runs_from_its_package(tmp_path: Path, matrix) -> None:
    X, y = matrix

    runstone.onnx.save_model(linear_model(), tmp_path / "pkg", input_example=X[:2])

    loaded = runstone.models.load_model(tmp_path / "pkg")
    np.testing.assert_allclose(loaded.predict(X)[:, 0], y, rtol=1e-5)
    assert isinstance(runstone.onnx.load_model(tmp_path / "pkg"), onnx.ModelProto)
    requirements = (tmp_path / "pkg" / "requirements.txt").read_text()
    assert f"onnxruntime=={__import__('onnxruntime').__version__}" in requirements


def test_a_table_feeds_a_single_input_as_its_values(tmp_path: Path, matrix) -> None:
    X, y = matrix
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])

    runstone.onnx.save_model(linear_model(), tmp_path / "pkg", input_example=frame.head(2))

    np.testing.assert_allclose(runstone.models.load_model(tmp_path / "pkg").predict(frame)[:, 0], y, rtol=1e-5)


def test_an_invalid_graph_is_refused(tmp_path: Path) -> None:
    broken = linear_model()
    broken.graph.node[0].input[1] = "nothing"

    with pytest.raises(InvalidInput, match="not valid"):
        runstone.onnx.save_model(broken, tmp_path / "pkg")
