"""What one scoring request may make the server build is bounded before anything is built."""

from __future__ import annotations

import io

import pytest
from serving_models import Width, fraud_data

import runstone.pyfunc
from runstone.serving.payloads import Limits

ROWS = fraud_data(5)[0]


@pytest.fixture(scope="module")
def width_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("width") / "width"
    runstone.pyfunc.save_model(path, python_model=Width())
    return path


def sparse_records(count: int) -> dict:
    """Records that each carry a key no other record has: a count-by-count table if built."""
    return {"dataframe_records": [{"x": 1.0, f"extra_{i}": 1} for i in range(count)]}


def test_records_naming_different_keys_are_refused_before_a_table_is_built(serve, width_model):
    answer = serve(width_model).post("/invocations", json=sparse_records(3000))
    assert answer.status_code == 400
    body = answer.json()
    assert body["error_code"] == "BAD_REQUEST"
    assert "3001 different keys across 3000 records" in body["message"]
    assert "dataframe_split" in body["message"]


def test_records_missing_a_few_optional_keys_still_score(serve, width_model):
    records = [{"a": 1.0, "b": 2.0} if i % 2 else {"a": 1.0} for i in range(1000)]
    answer = serve(width_model).post("/invocations", json={"dataframe_records": records})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == [2] * 1000


def test_keys_the_signature_does_not_name_are_dropped_before_anything_is_built(serve, sklearn_model):
    client = serve(sklearn_model)
    plain = client.post("/invocations", json={"dataframe_records": ROWS.to_dict(orient="records")}).json()
    hostile = [dict(r, **{f"extra_{i}": 1}) for i, r in enumerate(ROWS.to_dict(orient="records") * 600)]
    answer = client.post("/invocations", json={"dataframe_records": hostile})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == plain["predictions"] * 600


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("json", {"dataframe_split": {"columns": ["amount", "items"], "data": [[1.0, 1]] * 11}}),
        ("json", {"dataframe_records": [{"amount": 1.0, "items": 1}] * 11}),
        ("json", {"inputs": {"amount": [1.0] * 11, "items": [1] * 11}}),
        ("json", {"instances": [[1.0, 1]] * 11}),
        ("csv", "amount,items\n" + "1.0,1\n" * 11),
    ],
    ids=["split", "records", "inputs", "instances", "csv"],
)
def test_more_rows_than_the_server_takes_are_a_413(serve, sklearn_model, kind, body):
    client = serve(sklearn_model, limits=Limits(max_rows=10))
    if kind == "csv":
        answer = client.post("/invocations", content=body, headers={"Content-Type": "text/csv"})
    else:
        answer = client.post("/invocations", json=body)
    assert answer.status_code == 413
    assert answer.json()["error_code"] == "RESOURCE_LIMIT_EXCEEDED"
    assert "11 rows" in answer.json()["message"] and "at most 10" in answer.json()["message"]
    ten = client.post(
        "/invocations", json={"dataframe_split": {"columns": ["amount", "items"], "data": [[1.0, 1]] * 10}}
    )
    assert ten.status_code == 200, ten.text


def test_more_columns_than_the_server_takes_are_a_413(serve, width_model):
    client = serve(width_model, limits=Limits(max_columns=3))
    frame = {"columns": ["a", "b", "c", "d"], "data": [[1, 2, 3, 4]]}
    for body in ({"dataframe_split": frame}, {"inputs": {"a": [1], "b": [2], "c": [3], "d": [4]}}):
        answer = client.post("/invocations", json=body)
        assert answer.status_code == 413, answer.text
        assert "more than 3 columns" in answer.json()["message"]
    csv = io.StringIO("a,b,c,d\n1,2,3,4\n").getvalue()
    assert client.post("/invocations", content=csv, headers={"Content-Type": "text/csv"}).status_code == 413
    assert client.post("/invocations", json={"inputs": {"a": [1], "b": [2], "c": [3]}}).json() == {"predictions": [3]}
