"""Signature enforcement at predict time: clear errors, safe widening only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from runstone.errors import InvalidInput
from runstone.models.enforce import enforce_inputs, enforce_params
from runstone.models.signature import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

COLUMNS = Schema([ColSpec("double", "x"), ColSpec("long", "n"), ColSpec("string", "name")])


def frame(**overrides: object) -> pd.DataFrame:
    data: dict[str, object] = {"x": [1.0, 2.0], "n": [1, 2], "name": ["a", "b"]}
    data.update(overrides)
    return pd.DataFrame(data)


def test_a_missing_column_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"missing column\(s\) 'n'") as caught:
        enforce_inputs(frame().drop(columns=["n"]), COLUMNS)
    assert caught.value.details["missing"] == ["n"]


def test_a_mistyped_column_is_named_with_both_types() -> None:
    with pytest.raises(InvalidInput, match=r"Column 'n' has type float64 but the model's signature expects long"):
        enforce_inputs(frame(n=[1.5, 2.0]), COLUMNS)


def test_strings_where_numbers_are_expected_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"Column 'x' has type str"):
        enforce_inputs(frame(x=["1.0", "2.0"]), COLUMNS)


def test_ints_widen_to_double_and_int32_to_long() -> None:
    out = enforce_inputs(frame(x=[1, 2], n=np.array([1, 2], dtype=np.int32)), COLUMNS)

    assert out["x"].dtype == np.float64
    assert out["n"].dtype == np.int64
    assert out["x"].tolist() == [1.0, 2.0]


def test_no_narrowing_long_to_float_or_double_to_float() -> None:
    schema = Schema([ColSpec("float", "v")])
    with pytest.raises(InvalidInput, match="expects float"):
        enforce_inputs(pd.DataFrame({"v": np.array([2**40], dtype=np.int64)}), schema)
    with pytest.raises(InvalidInput, match="expects float"):
        enforce_inputs(pd.DataFrame({"v": [0.1]}), schema)


def test_missing_values_in_an_integer_column_get_their_own_hint() -> None:
    with pytest.raises(InvalidInput, match="integer columns cannot hold missing values"):
        enforce_inputs(frame(n=[1, None]), COLUMNS)


def test_extra_columns_are_dropped_and_order_follows_the_schema() -> None:
    given = frame()[["name", "n", "x"]].assign(extra=[0, 0])

    out = enforce_inputs(given, COLUMNS)

    assert list(out.columns) == ["x", "n", "name"]


def test_optional_columns_may_be_absent() -> None:
    schema = Schema([ColSpec("double", "x"), ColSpec("double", "y", required=False)])

    assert list(enforce_inputs(pd.DataFrame({"x": [1.0]}), schema).columns) == ["x"]


def test_records_and_dicts_become_tables() -> None:
    out = enforce_inputs([{"x": 1.0, "n": 3, "name": "a"}], COLUMNS)
    single = enforce_inputs({"x": 1.0, "n": 3, "name": "a"}, COLUMNS)

    assert out.to_dict("records") == single.to_dict("records") == [{"x": 1.0, "n": 3, "name": "a"}]


def test_tensor_dtype_widens_safely_and_refuses_narrowing() -> None:
    schema = Schema([TensorSpec("float64", (-1, 2))])

    assert enforce_inputs(np.ones((3, 2), dtype=np.float32), schema).dtype == np.float64
    narrow = Schema([TensorSpec("float32", (-1, 2))])
    with pytest.raises(InvalidInput, match="dtype float64 but the model's signature expects float32"):
        enforce_inputs(np.ones((3, 2)), narrow)


def test_tensor_shape_is_checked_except_free_dimensions() -> None:
    schema = Schema([TensorSpec("float64", (-1, 2))])

    with pytest.raises(InvalidInput, match=r"shape \(3, 3\)"):
        enforce_inputs(np.ones((3, 3)), schema)


def test_named_tensors_report_the_missing_one() -> None:
    schema = Schema([TensorSpec("float64", (-1,), "a"), TensorSpec("float64", (-1,), "b")])

    with pytest.raises(InvalidInput, match="missing 'b'"):
        enforce_inputs({"a": np.ones(2)}, schema)


def test_params_get_defaults_and_checked_types() -> None:
    schema = ParamSchema([ParamSpec("k", "long", 3), ParamSpec("alpha", "double", 0.5)])

    assert enforce_params({"alpha": 1}, schema) == {"k": 3, "alpha": 1.0}
    with pytest.raises(InvalidInput, match="Param 'k' must be of type long"):
        enforce_params({"k": "three"}, schema)
