"""The scoring server around the protocol: errors with request ids, health, metadata, metrics,
the OpenAPI document, and the version header."""

from __future__ import annotations

import logging

import pytest
from scrape import sample, total
from serving_models import fraud_data

from runstone.version import VERSION

ONE = {"dataframe_records": [{"amount": 10.0, "items": 2}]}


def test_a_model_error_answers_500_with_a_request_id_that_is_in_the_log(serve, echo_model, caplog):
    client = serve(echo_model())
    with caplog.at_level(logging.ERROR, logger="runstone.serving"):
        failed = client.post("/invocations", json={"dataframe_records": [{"amount": -1.0, "items": 1}]})
    assert failed.status_code == 500
    error = failed.json()
    assert error["error_code"] == "INTERNAL_ERROR"
    request_id = error["request_id"]
    assert request_id == failed.headers["x-request-id"]
    assert request_id in error["message"]
    assert "ValueError" in error["message"]
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged, "the request id is in the server's log"
    assert "amount -1 breaks this model" in logged[0].getMessage()
    assert logged[0].exc_info is not None  # with the traceback
    # ... and the server keeps serving.
    for _ in range(3):
        ok = client.post("/invocations", json=ONE)
        assert ok.status_code == 200
        assert ok.json() == {"predictions": [20.0]}


def test_a_request_id_sent_by_the_client_is_kept(serve, echo_model):
    answer = serve(echo_model()).post("/invocations", json=ONE, headers={"X-Request-Id": "trace-42"})
    assert answer.headers["x-request-id"] == "trace-42"
    invalid = serve(echo_model()).post("/invocations", json=ONE, headers={"X-Request-Id": "bad id with spaces"})
    assert invalid.headers["x-request-id"] != "bad id with spaces"


def test_every_prediction_names_the_model_version_that_answered(serve, sklearn_model):
    import runstone.models

    uuid = runstone.models.load_model(sklearn_model).metadata.model_uuid
    answer = serve(sklearn_model).post("/invocations", json=ONE)
    assert answer.headers["x-runstone-model-version"] == uuid
    assert answer.headers["x-runstone-model-name"] == sklearn_model.name
    errored = serve(sklearn_model).post("/invocations", json={"dataframe_records": [{"amount": 1.0}]})
    assert errored.headers["x-runstone-model-version"] == uuid


def test_health_ping_and_version(serve, sklearn_model):
    client = serve(sklearn_model)
    for path in ("/ping", "/health"):
        answer = client.get(path)
        assert answer.status_code == 200
    version = client.get("/version")
    assert version.status_code == 200
    assert version.text == VERSION


def test_metadata_describes_the_live_model(serve, sklearn_model):
    import runstone.models

    meta = serve(sklearn_model).get("/metadata").json()
    package = runstone.models.load_model(sklearn_model)
    assert meta["model_uri"] == str(sklearn_model)
    assert meta["model_version"] == package.metadata.model_uuid
    assert meta["signature"] == package.signature.to_dict()
    assert meta["flavors"] == ["python_function", "sklearn"]
    assert meta["routes"][0]["weight"] == 1.0
    assert meta["shadow"] is None
    assert meta["follow"] is False


def test_metrics_count_requests_errors_rows_and_latency_by_version(serve, echo_model):
    client = serve(echo_model())
    three_rows = {"dataframe_records": [{"amount": float(i), "items": 1} for i in range(3)]}
    for _ in range(2):
        assert client.post("/invocations", json=three_rows).status_code == 200
    assert client.post("/invocations", json={"dataframe_records": [{"items": 1}]}).status_code == 400
    assert client.post("/invocations", json={"dataframe_records": [{"amount": -1.0, "items": 1}]}).status_code == 500
    text = client.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    version = client.get("/metadata").json()["model_version"]
    text = text.text
    mv = {"model": echo_model().name, "version": version}
    assert sample(text, "runstone_serving_requests_total", **mv, status="200") == 2
    assert sample(text, "runstone_serving_requests_total", **mv, status="400") == 1
    assert sample(text, "runstone_serving_requests_total", **mv, status="500") == 1
    assert sample(text, "runstone_serving_errors_total", **mv, kind="input") == 1
    assert sample(text, "runstone_serving_errors_total", **mv, kind="model") == 1
    assert sample(text, "runstone_serving_rows_total", **mv) == 6
    assert sample(text, "runstone_serving_latency_seconds_count", **mv) == 4
    assert sample(text, "runstone_serving_latency_seconds_bucket", **mv, le="+Inf") == 4
    assert "# TYPE runstone_serving_latency_seconds histogram" in text.splitlines()
    assert total(text, "runstone_serving_model_info", role="primary") == 1


def test_openapi_document_is_generated_from_the_signature(serve, sklearn_model):
    doc = serve(sklearn_model).get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    body = doc["paths"]["/invocations"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "text/csv"}
    variants = {v["title"]: v for v in body["application/json"]["schema"]["oneOf"]}
    assert set(variants) == {"dataframe_split", "dataframe_records", "instances", "inputs"}
    record = variants["dataframe_records"]["properties"]["dataframe_records"]["items"]
    assert record["properties"] == {
        "amount": {"type": "number", "format": "double"},
        "items": {"type": "integer", "format": "int64"},
    }
    assert record["required"] == ["amount", "items"]
    assert {"/ping", "/health", "/version", "/metadata", "/metrics"} <= set(doc["paths"])


def test_a_large_request_is_scored_whole(serve, sklearn_model):
    import runstone.sklearn

    frame = fraud_data(10_000, seed=3)[0]
    answer = serve(sklearn_model, threaded_rows=1000).post(
        "/invocations", json={"dataframe_split": frame.to_dict(orient="split")}
    )
    assert answer.status_code == 200
    assert answer.json()["predictions"] == runstone.sklearn.load_model(sklearn_model).predict(frame).tolist()


def test_unknown_routes_and_methods(serve, sklearn_model):
    client = serve(sklearn_model)
    assert client.get("/invocations").status_code == 405
    assert client.get("/nothing-here").status_code == 404


@pytest.mark.parametrize("uri", ["models:/no-such-model@champion", "/no/such/folder"])
def test_a_model_that_cannot_be_found_fails_at_start(serve, uri):
    from runstone.errors import NotFound

    with pytest.raises(NotFound):
        serve(uri)


def test_bodies_larger_than_the_limit_get_413(serve, echo_model):
    client = serve(echo_model(), max_body_bytes=200)
    rows = {"dataframe_records": [{"amount": float(i), "items": 1} for i in range(50)]}
    answer = client.post("/invocations", json=rows)
    assert answer.status_code == 413
    assert answer.json()["error_code"] == "RESOURCE_LIMIT_EXCEEDED"

    def chunks():
        yield b'{"dataframe_records": ['
        for _ in range(50):
            yield b'{"amount": 1.0, "items": 1},'
        yield b'{"amount": 1.0, "items": 1}]}'

    streamed = client.post("/invocations", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert client.post("/invocations", json=ONE).status_code == 200
