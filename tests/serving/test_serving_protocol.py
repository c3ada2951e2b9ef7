"""MLflow's scoring protocol: every payload form, CSV, content types, and MLflow's 400/415 answers."""

from __future__ import annotations

import pytest
from serving_models import fraud_data, split_payload

ROWS = fraud_data(5)[0]


@pytest.fixture
def client(serve, sklearn_model):
    return serve(sklearn_model)


def native(sklearn_model, frame):
    import runstone.sklearn

    return runstone.sklearn.load_model(sklearn_model).predict(frame).tolist()


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": ROWS.to_dict(orient="split")},
        {"dataframe_split": {"columns": list(ROWS.columns), "data": ROWS.to_numpy().tolist()}},
        {"dataframe_records": ROWS.to_dict(orient="records")},
        {"instances": ROWS.to_dict(orient="records")},
        {"inputs": ROWS.to_dict(orient="list")},
        {"inputs": ROWS.to_numpy().tolist()},
        {"instances": ROWS.to_numpy().tolist()},
    ],
    ids=["split", "split-no-index", "records", "instances-records", "inputs-columns", "inputs-rows", "instances-rows"],
)
def test_every_json_form_scores_like_the_model(client, sklearn_model, payload):
    answer = client.post("/invocations", json=payload)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"predictions": native(sklearn_model, ROWS)}


def test_csv_body_scores_like_the_model(client, sklearn_model):
    answer = client.post(
        "/invocations", content=ROWS.to_csv(index=False).encode(), headers={"Content-Type": "text/csv; charset=utf-8"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": native(sklearn_model, ROWS)}


def test_params_reach_the_model(serve, echo_model):
    client = serve(echo_model())
    body = {"dataframe_records": [{"amount": 1.5, "items": 1}], "params": {"scale": 10.0}}
    assert client.post("/invocations", json=body).json() == {"predictions": [30.0]}
    bad = client.post("/invocations", json={**body, "params": {"scale": "big"}})
    assert bad.status_code == 400
    assert "scale" in bad.json()["message"]


@pytest.mark.parametrize(
    ("content_type", "fragment"),
    [
        ("text/plain", "This predictor only supports the following content types"),
        ("application/xml", "Got 'application/xml'"),
        ("application/json; charset=latin-1", "only supports UTF-8"),
        ("application/json; format=pandas-split", "Unrecognized content type parameters: format"),
        (None, "This predictor only supports"),
    ],
)
def test_other_content_types_get_415(client, content_type, fragment):
    headers = {"Content-Type": content_type} if content_type else {}
    answer = client.post("/invocations", content=b"{}", headers=headers)
    assert answer.status_code == 415
    assert answer.headers["content-type"].startswith("text/plain")
    assert fragment in answer.text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"[1, 2]", "exactly one of the input fields"),
        (b"[1, 2]", "Received a list"),
        (b'"text"', "Received unexpected input type"),
        (b"{not json", "Ensure that input is a valid JSON formatted string"),
        (b'{"data": [[1, 2]]}', "Received dictionary with input fields: ['data']"),
        (b'{"instances": [[1, 2]], "inputs": [[1, 2]]}', "exactly one of the input fields"),
        (b'{"instances": [[1, 2]], "inputs": [[1, 2]]}', "scoring protocol has changed in MLflow version 2.0"),
        (b'{"dataframe_split": [[1, 2]]}', "'columns' and 'data'"),
        (b'{"dataframe_split": {"columns": ["amount"], "data": [[1, 2]]}}', "names 1 columns but its rows hold 2"),
        (b'{"dataframe_records": {"amount": 1}}', "list of JSON objects"),
        (b'{"instances": [[1.0, 2, 3]]}', "rows must hold 2 values"),
        (b'{"dataframe_records": [{"amount": 1.0, "items": 1}], "params": [1]}', "'params' must be a JSON object"),
    ],
)
def test_bad_shapes_get_400_with_mlflows_message(client, body, fragment):
    answer = client.post("/invocations", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    error = answer.json()
    assert error["error_code"] == "BAD_REQUEST"
    assert fragment in error["message"]
    assert error["request_id"] == answer.headers["x-request-id"]


def test_bad_csv_gets_400(client):
    answer = client.post("/invocations", content=b'amount,items\n"1,2\n', headers={"Content-Type": "text/csv"})
    assert answer.status_code == 400
    assert "Failed to parse input as a Pandas DataFrame" in answer.json()["message"]


@pytest.mark.parametrize(
    ("records", "column", "fragment"),
    [
        ([{"amount": 1.0}], "items", "missing column(s) 'items'"),
        (
            [{"amount": "lots", "items": 1}],
            "amount",
            "Column 'amount' has type str but the model's signature expects double",
        ),
        (
            [{"amount": 1.0, "items": 1.5}],
            "items",
            "Column 'items' has type float64 but the model's signature expects long",
        ),
        ([{"amount": 1.0, "items": None}], "items", "missing values"),
    ],
)
def test_signature_violations_get_400_naming_the_column(client, records, column, fragment):
    answer = client.post("/invocations", json={"dataframe_records": records})
    assert answer.status_code == 400
    error = answer.json()
    assert error["error_code"] == "INVALID_PARAMETER_VALUE"
    assert fragment in error["message"]
    assert column in error["message"]


def test_lossless_json_numbers_are_accepted(client, sklearn_model):
    # JSON has no float type for whole numbers: 50 for a double column and 3.0 for a long one lose nothing.
    answer = client.post("/invocations", json={"dataframe_records": [{"amount": 50, "items": 3.0}]})
    assert answer.status_code == 200, answer.text
    frame = ROWS.head(1).assign(amount=50.0, items=3)
    assert answer.json() == {"predictions": native(sklearn_model, frame)}


def test_split_payload_with_index_and_extra_columns(client, sklearn_model):
    frame = ROWS.assign(customer=[f"c{i}" for i in range(len(ROWS))])
    answer = client.post("/invocations", json=split_payload(frame))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": native(sklearn_model, ROWS)}


def test_table_predictions_come_back_as_records(serve, tmp_path):
    import pandas as pd

    import runstone.pyfunc

    class Table(runstone.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return pd.DataFrame({"label": ["a"] * len(model_input), "score": model_input["x"] * 0.5})

    runstone.pyfunc.save_model(tmp_path / "table", python_model=Table(), input_example=pd.DataFrame({"x": [1.0]}))
    answer = serve(tmp_path / "table").post("/invocations", json={"inputs": {"x": [2.0, 4.0]}})
    assert answer.json() == {"predictions": [{"label": "a", "score": 1.0}, {"label": "a", "score": 2.0}]}


def test_tensor_models_take_inputs_and_instances(serve, tmp_path):
    import numpy as np

    import runstone.pyfunc

    class Sum(runstone.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return np.asarray(model_input).sum(axis=1)

    example = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    runstone.pyfunc.save_model(tmp_path / "sum", python_model=Sum(), input_example=example)
    client = serve(tmp_path / "sum")
    assert client.post("/invocations", json={"inputs": [[1, 2, 3], [4, 5, 6]]}).json() == {"predictions": [6.0, 15.0]}
    assert client.post("/invocations", json={"instances": [[1, 1, 1]]}).json() == {"predictions": [3.0]}
    wrong = client.post("/invocations", json={"inputs": [[1, 2]]})
    assert wrong.status_code == 400
    assert "shape" in wrong.json()["message"]


def test_a_one_dtype_table_keeps_its_index_for_table_outputs(serve, echo_model):
    client = serve(echo_model(uniform=True))
    split = {"columns": ["amount", "items"], "data": [[1.0, 1.0], [2.0, 2.0]], "index": [10, 11]}
    assert client.post("/invocations", json={"dataframe_split": split}).json() == {"predictions": [2.0, 4.0]}
    ints = {"dataframe_records": [{"amount": 3, "items": 1}]}  # whole numbers for double columns
    assert client.post("/invocations", json=ints).json() == {"predictions": [6.0]}
    text = client.post("/invocations", json={"dataframe_records": [{"amount": "x", "items": 1.0}]})
    assert text.status_code == 400 and "'amount'" in text.json()["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"inputs": 5}', "got a number"),
        (b'{"inputs": true}', "got a boolean"),
        (b'{"inputs": "amount"}', "got a string"),
        (b'{"dataframe_split": {"columns": 5, "data": []}}', "columns must be a list of column names; got a number"),
        (b'{"dataframe_split": {"columns": [["amount"], "items"], "data": [[1, 2]]}}', "columns must be names"),
        (b'{"dataframe_split": {"columns": ["amount", "items"], "data": [[1, 2]], "index": [{}]}}', "index labels"),
        (b'{"dataframe_records": [{"amount": [1.0, 2.0], "items": 1}]}', "Column 'amount' has type list"),
        (b'{"dataframe_records": [{"amount": [1.0], "items": 1}]}', "Column 'amount' has type list"),
        (b'{"inputs": {"amount": [[1.0, 2.0]], "items": [1]}}', "Column 'amount' has type list"),
        (b'{"instances": [{"amount": {"x": 1}, "items": 1}]}', "Column 'amount' has type dict"),
        (b'{"instances": [[1.0, [2]]]}', "Column 'items' has type list"),
        (b'{"dataframe_records": [{"amount": 1.0, "items": -1}, {"amount": 1.0, "items": 18446744073709551615}]}',
         "Column 'items'"),
    ],
)  # fmt: skip
def test_malformed_bodies_get_a_400_that_says_what_is_wrong_never_a_500(client, body, fragment):
    answer = client.post("/invocations", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert fragment in answer.json()["message"]
    assert answer.json()["request_id"] == answer.headers["x-request-id"]
    assert client.post("/invocations", json={"inputs": [[1.0, 2]]}).status_code == 200


def test_a_body_no_check_foresaw_is_still_a_400_and_the_details_stay_in_the_log(client, monkeypatch, caplog):
    import logging

    from runstone.serving import payloads

    def unforeseen(body, mime, schema, limits):
        raise RuntimeError("internal detail /srv/secret/path")

    monkeypatch.setattr(payloads, "parse", unforeseen)
    with caplog.at_level(logging.WARNING, logger="runstone.serving"):
        answer = client.post("/invocations", json={"inputs": [[1.0, 2]]})
    assert answer.status_code == 400
    error = answer.json()
    assert error["error_code"] == "BAD_REQUEST"
    assert "could not be read as input of this model" in error["message"]
    assert "/srv/secret/path" not in answer.text, "internals are not echoed to clients"
    logged = [r for r in caplog.records if error["request_id"] in r.getMessage()]
    assert logged and "/srv/secret/path" in str(logged[0].exc_info[1])
