"""Background batching: logging returns at once, batches go out in the background, on flush()
and at end_run, and a batch the server rejects is reported, never dropped silently."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest

import runstone
from runstone.config import Settings
from runstone.errors import RunstoneError


def _batches(client: runstone.RunstoneClient, run_id: str) -> list[dict[str, Any]]:
    """The log-batch writes a run received: one audit event per applied batch."""
    events = client.audit_events(target_type="run", target_id=run_id)
    return [e["after"] for e in events if e["action"] == "run.log_batch"]


def _wait_for(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_many_log_metric_calls_go_out_in_a_few_batches(make_client: Any) -> None:
    client = make_client(flush_interval=3600)
    runstone.set_tracking_uri(client)
    with runstone.start_run() as run:
        for step in range(2500):
            runstone.log_metric("loss", 1 / (step + 1), step=step)
        runstone.log_param("lr", 0.1)
        runstone.set_tag("phase", "train")

    batches = _batches(client, run.info.run_id)
    assert [b["metrics"] for b in batches] == [1000, 1000, 500]
    assert sum(b["params"] for b in batches) == 1
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 2500


def test_logging_is_buffered_until_flush(make_client: Any) -> None:
    client = make_client(flush_interval=3600)
    runstone.set_tracking_uri(client)
    run = runstone.start_run()
    for step in range(10):
        runstone.log_metric("loss", float(step), step=step)
    runstone.log_param("lr", 0.1)

    assert client.get_metric_history(run.info.run_id, "loss") == []
    runstone.flush()
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 10
    assert client.get_run(run.info.run_id).data.params == {"lr": "0.1"}
    runstone.end_run()


def test_the_background_worker_sends_without_flush(make_client: Any) -> None:
    client = make_client(flush_interval=0.02)
    runstone.set_tracking_uri(client)
    run = runstone.start_run()
    runstone.log_metric("loss", 1.0)

    _wait_for(lambda: client.get_run(run.info.run_id).data.metrics == {"loss": 1.0}, "the background flush")
    runstone.end_run()


def test_a_rejected_batch_is_reported_by_the_next_flush(make_client: Any) -> None:
    client = make_client(flush_interval=3600)
    runstone.set_tracking_uri(client)
    run = runstone.start_run()
    rid = run.info.run_id
    client.log_param(rid, "lr", "0.1")  # another process set it; this one cannot know at the call
    runstone.log_param("lr", 0.2)
    runstone.log_metric("loss", 1.0, step=0)

    with pytest.raises(RunstoneError, match=rf"batch for run {rid} \(1 metric points\) was not logged: Param 'lr'"):
        runstone.flush()
    runstone.flush()  # reported once, not again
    runstone.log_param("lr", 0.1)  # the value the server holds is accepted
    runstone.log_metric("loss", 2.0, step=1)
    runstone.end_run()

    # The rejected batch was all-or-nothing: its metric point is not there either.
    assert [(m.step, m.value) for m in client.get_metric_history(rid, "loss")] == [(1, 2.0)]
    assert client.get_run(rid).data.params == {"lr": "0.1"}


def test_end_run_reports_a_rejected_batch_and_still_ends_the_run(make_client: Any) -> None:
    client = make_client(flush_interval=3600)
    runstone.set_tracking_uri(client)
    run = runstone.start_run()
    client.log_param(run.info.run_id, "lr", "0.1")
    runstone.log_param("lr", 0.2)

    with pytest.raises(RunstoneError, match="was not logged"):
        runstone.end_run()

    assert runstone.active_run() is None
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_the_worker_survives_a_rejected_batch(make_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(flush_interval=0.02)
    runstone.set_tracking_uri(client)
    run = runstone.start_run()
    rid = run.info.run_id
    client.log_param(rid, "lr", "0.1")
    with caplog.at_level(logging.ERROR, logger="runstone.sdk"):
        runstone.log_param("lr", 0.2)
        _wait_for(lambda: any("was not logged" in r.getMessage() for r in caplog.records), "the rejection")

    runstone.log_metric("loss", 3.0)
    _wait_for(lambda: client.get_run(rid).data.metrics == {"loss": 3.0}, "the worker to send again")
    with pytest.raises(RunstoneError, match="Param 'lr'"):
        runstone.flush()
    runstone.end_run()


def test_an_unexpected_error_fails_one_batch_and_the_others_are_still_sent(
    remote_client: runstone.RunstoneClient, faulty_http: Any, settings: Settings
) -> None:
    first, second = remote_client.create_run("0"), remote_client.create_run("0")

    def fault(request: httpx.Request, response: httpx.Response | None) -> None:
        if response is None and request.url.path == f"/api/v1/runs/{first.info.run_id}/batch":
            raise RuntimeError("boom")

    client_settings = settings.model_copy(update={"http_retries": 0, "flush_interval": 3600})
    runstone.set_tracking_uri(
        runstone.RunstoneClient("http://testserver", http_client=faulty_http(fault), settings=client_settings)
    )
    runstone.log_metric("loss", 1.0, run_id=first.info.run_id)
    runstone.log_metric("loss", 2.0, run_id=second.info.run_id)

    with pytest.raises(RunstoneError, match=rf"run {first.info.run_id} .* not logged: RuntimeError: boom"):
        runstone.flush()
    assert remote_client.get_run(second.info.run_id).data.metrics == {"loss": 2.0}
    assert remote_client.get_run(first.info.run_id).data.metrics == {}
