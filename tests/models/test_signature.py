"""Signature inference from input examples and outputs, in MLflow's JSON shapes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from runstone.errors import InvalidInput
from runstone.models import ModelSignature, infer_signature
from runstone.models.signature import ParamSchema, Schema


def test_a_dataframe_gives_named_columns_with_mlflow_types() -> None:
    frame = pd.DataFrame(
        {
            "f64": [1.5, 2.5],
            "f32": np.array([1, 2], dtype=np.float32),
            "i64": [1, 2],
            "i32": np.array([1, 2], dtype=np.int32),
            "flag": [True, False],
            "text": ["a", "b"],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02"]),
        }
    )

    inputs = infer_signature(frame).inputs

    assert inputs is not None
    assert inputs.to_list() == [
        {"type": "double", "name": "f64", "required": True},
        {"type": "float", "name": "f32", "required": True},
        {"type": "long", "name": "i64", "required": True},
        {"type": "integer", "name": "i32", "required": True},
        {"type": "boolean", "name": "flag", "required": True},
        {"type": "string", "name": "text", "required": True},
        {"type": "datetime", "name": "when", "required": True},
    ]


def test_an_array_gives_a_tensor_with_a_free_batch_dimension() -> None:
    signature = infer_signature(np.zeros((3, 4), dtype=np.float32), np.zeros(3, dtype=np.int64))

    assert signature.to_dict()["inputs"] == json.dumps(
        [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]
    )
    assert signature.to_dict()["outputs"] == json.dumps(
        [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]
    )


def test_a_dict_of_arrays_gives_named_tensors() -> None:
    inputs = infer_signature({"ids": np.zeros((2, 3), dtype=np.int32), "score": np.zeros(2)}).inputs

    assert inputs is not None
    assert inputs.to_list() == [
        {"name": "ids", "type": "tensor", "tensor-spec": {"dtype": "int32", "shape": [-1, 3]}},
        {"name": "score", "type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}},
    ]


def test_params_get_types_defaults_and_list_shapes() -> None:
    params = infer_signature(params={"k": 3, "alpha": 0.5, "mode": "fast", "weights": [1.0, 2.0]}).params

    assert params is not None
    assert json.loads(params.to_json()) == [
        {"name": "k", "default": 3, "shape": None, "type": "long"},
        {"name": "alpha", "default": 0.5, "shape": None, "type": "double"},
        {"name": "mode", "default": "fast", "shape": None, "type": "string"},
        {"name": "weights", "default": [1.0, 2.0], "shape": [-1], "type": "double"},
    ]


def test_signature_round_trips_through_its_dict() -> None:
    original = infer_signature(pd.DataFrame({"a": [1.0]}), np.array([1]), params={"k": 1})

    again = ModelSignature.from_dict(original.to_dict())

    assert again == original


def test_mlflow_reads_runstone_signatures_and_the_other_way_round() -> None:
    from mlflow.models import ModelSignature as MlflowSignature

    ours = infer_signature(pd.DataFrame({"a": [1.0], "b": ["x"]}), np.array([1]), params={"k": 2})

    theirs = MlflowSignature.from_dict(ours.to_dict())

    assert theirs.inputs.input_names() == ["a", "b"]
    assert ModelSignature.from_dict(theirs.to_dict()) == ours


def test_unknown_mlflow_types_are_kept_verbatim() -> None:
    text = json.dumps([{"type": "array", "items": {"type": "string"}, "name": "tags", "required": True}])

    assert Schema.from_json(text).to_json() == text


def test_values_without_a_signature_type_are_refused_with_the_column_named() -> None:
    with pytest.raises(InvalidInput, match="column 'mixed'"):
        infer_signature(pd.DataFrame({"mixed": [1, "a"]}))


def test_param_schema_equality_is_by_content() -> None:
    assert ParamSchema.from_json(
        '[{"name": "k", "type": "long", "default": 1, "shape": null}]'
    ) == ParamSchema.from_json('[{"name": "k", "type": "long", "default": 1, "shape": null}]')
