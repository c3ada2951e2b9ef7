"""Prediction logs: sampled, asynchronous, bounded (dropping with a counter, never blocking),
in rotated JSON-lines files, locally or as artifacts of a run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from scrape import sample

from runstone.errors import InvalidInput
from runstone.serving.app import ServingOptions, create_app
from runstone.serving.predlog import Entry, PredictionLogger, RotatingFiles, open_logger
from runstone.serving.traffic import TrafficPolicy


def read(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]


def entry(i: int = 0) -> Entry:
    return Entry(f"r{i}", 1_700_000_000_000 + i, "m", "fraud", "3", "primary", 200, 0.5, None, None, [i])


def test_each_request_is_logged_with_inputs_outputs_version_latency_and_ids(echo_model, tmp_path):
    logger = open_logger(str(tmp_path / "predictions"))
    app = create_app(ServingOptions(traffic=TrafficPolicy.single(str(echo_model()))), logger=logger)
    before = int(time.time() * 1000)
    with TestClient(app) as client:
        ok = client.post("/invocations", json={"dataframe_records": [{"amount": 1.5, "items": 2}]})
        bad = client.post("/invocations", json={"dataframe_records": [{"amount": -1.0, "items": 1}]})
        version = client.get("/metadata").json()["model_version"]
    # Closing the server completed the file: only finished files end in .jsonl.
    assert not list((tmp_path / "predictions").glob("*.open"))
    records = {r["request_id"]: r for r in read(tmp_path / "predictions")}
    first = records[ok.headers["x-request-id"]]
    assert first["model_version"] == version
    assert first["model_name"] == echo_model().name
    assert first["model_uri"] == str(echo_model())
    assert first["role"] == "primary"
    assert first["status"] == 200
    assert first["inputs"] == {"columns": ["amount", "items"], "data": [[1.5, 2]]}
    assert first["outputs"] == [3.0]
    assert first["error"] is None
    assert first["latency_ms"] > 0
    assert before <= first["timestamp"] <= int(time.time() * 1000)
    failed = records[bad.headers["x-request-id"]]
    assert failed["status"] == 500
    assert "amount -1 breaks this model" in failed["error"]
    assert failed["outputs"] is None


def test_one_dtype_inputs_are_logged_as_tables(echo_model, tmp_path):
    logger = open_logger(str(tmp_path / "log"))
    app = create_app(
        ServingOptions(traffic=TrafficPolicy.single(str(echo_model(uniform=True))), batch_wait_ms=1), logger=logger
    )
    with TestClient(app) as client:
        client.post("/invocations", json={"dataframe_records": [{"amount": 1.5, "items": 2.0}]})
    [record] = read(tmp_path / "log")
    assert record["inputs"] == {"columns": ["amount", "items"], "data": [[1.5, 2.0]]}
    assert record["outputs"] == [3.0]


def test_sampling_logs_a_share_of_requests(echo_model, tmp_path):
    logger = PredictionLogger(RotatingFiles(tmp_path / "log"), sample=0.25, seed=5)
    app = create_app(ServingOptions(traffic=TrafficPolicy.single(str(echo_model()))), logger=logger)
    with TestClient(app) as client:
        for _ in range(400):
            client.post("/invocations", json={"dataframe_records": [{"amount": 1.0, "items": 1}]})
    assert 60 <= len(read(tmp_path / "log")) <= 140
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        PredictionLogger(RotatingFiles(tmp_path / "x"), sample=1.5)


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path):
    outcomes: list[str] = []
    logger = PredictionLogger(
        RotatingFiles(tmp_path / "log"), capacity=3, on_record=lambda outcome, count: outcomes.extend([outcome] * count)
    )
    # The writer is not running: the queue fills up; every further record is dropped at once.
    started = time.perf_counter()
    for i in range(10):
        logger.submit(entry(i))
    assert time.perf_counter() - started < 1.0
    assert logger.dropped == 7
    assert outcomes == ["dropped"] * 7
    logger.start()
    logger.flush()
    logger.close()
    assert [r["request_id"] for r in read(tmp_path / "log")] == ["r0", "r1", "r2"]


def test_records_reach_the_file_without_a_flush(tmp_path):
    # The writer is not woken per request; it still writes what gathered within its interval,
    # so a reader of the open file (or a crash) loses at most that much.
    logger = PredictionLogger(RotatingFiles(tmp_path / "log"), interval=0.05)
    logger.start()
    try:
        for i in range(3):
            logger.submit(entry(i))
        deadline = time.monotonic() + 5
        lines: list[str] = []
        while time.monotonic() < deadline and len(lines) < 3:
            time.sleep(0.02)
            lines = [line for f in (tmp_path / "log").glob("*.open") for line in f.read_text().splitlines()]
        assert [json.loads(line)["request_id"] for line in lines] == ["r0", "r1", "r2"]
        assert logger.written == 3
    finally:
        logger.close()


def test_drops_show_in_the_metrics(echo_model, tmp_path):
    logger = open_logger(str(tmp_path / "log"), capacity=1)
    app = create_app(ServingOptions(traffic=TrafficPolicy.single(str(echo_model()))), logger=logger)
    client = TestClient(app)  # lifespan not entered: the writer never starts, the queue stays full
    for _ in range(4):
        assert client.post("/invocations", json={"dataframe_records": [{"amount": 1.0, "items": 1}]}).status_code == 200
    assert sample(client.get("/metrics").text, "runstone_serving_prediction_log_records_total", outcome="dropped") == 3


def test_files_rotate_by_size_and_by_age(tmp_path):
    now = [1_000.0]
    files = RotatingFiles(tmp_path / "log", max_bytes=300, max_seconds=60, clock=lambda: now[0])
    logger = PredictionLogger(files)
    logger.start()
    for i in range(6):
        logger.submit(entry(i))
    logger.flush()
    complete = sorted((tmp_path / "log").glob("*.jsonl"))
    assert len(complete) >= 2, "rotated by size"
    assert all(f.stat().st_size >= 300 for f in complete)
    # Whatever is left open is completed once it is old enough.
    now[0] += 61
    files.tick()
    logger.close()
    assert not list((tmp_path / "log").glob("*.open"))
    assert [r["request_id"] for r in read(tmp_path / "log")] == [f"r{i}" for i in range(6)]


def test_logs_go_to_a_run_on_the_tracking_server(echo_model, tmp_path, http, remote_client):
    run_id = remote_client.create_run("0").info.run_id
    logger = open_logger(f"runs:/{run_id}/predictions", client=remote_client, max_bytes=200)
    app = create_app(ServingOptions(traffic=TrafficPolicy.single(str(echo_model()))), logger=logger)
    with TestClient(app) as client:
        ids = [
            client.post("/invocations", json={"dataframe_records": [{"amount": float(i), "items": 1}]}).headers[
                "x-request-id"
            ]
            for i in range(5)
        ]
    listed = remote_client.list_artifacts(run_id, "predictions")
    assert listed and all(f.path.startswith("predictions/predictions-") and f.path.endswith(".jsonl") for f in listed)
    downloaded = Path(remote_client.download_artifacts(run_id, "predictions", tmp_path / "down"))
    assert sorted(r["request_id"] for r in read(downloaded)) == sorted(ids)


def test_unknown_destinations_are_refused(tmp_path):
    with pytest.raises(InvalidInput, match="folder or to runs:/"):
        open_logger("s3://bucket/predictions")


def test_inside_an_event_loop_a_slow_delivery_never_holds_up_the_loop(tmp_path):
    """In the scoring server the event loop writes the records itself; a completed file's
    delivery (an upload, for runs:/ destinations) runs on a thread of its own."""
    import asyncio

    delivered: list[str] = []

    def slow_upload(path: Path) -> None:
        time.sleep(0.5)
        delivered.append(path.name)

    async def serve() -> float:
        logger = PredictionLogger(
            RotatingFiles(tmp_path / "log", max_bytes=200, on_complete=slow_upload), interval=0.01
        )
        logger.start()
        for i in range(6):
            logger.submit(entry(i))
        longest = 0.0
        for _ in range(30):  # the loop keeps answering while files complete and are delivered
            began = time.monotonic()
            await asyncio.sleep(0.01)
            longest = max(longest, time.monotonic() - began)
        logger.close()
        return longest

    longest = asyncio.run(serve())
    assert longest < 0.25, f"the event loop was held up for {longest:.2f} s"
    assert len(delivered) >= 2 and all(name.endswith(".jsonl") for name in delivered)
    assert sorted(r["request_id"] for r in read(tmp_path / "log")) == [f"r{i}" for i in range(6)]
