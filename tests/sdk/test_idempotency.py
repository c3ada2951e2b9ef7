"""Retried writes are applied once: a batch carries an idempotency key, and the same key twice
changes nothing (embedded and over HTTP), including when a response is lost on the way back."""

from __future__ import annotations

from typing import Any

import httpx

from runstone.config import Settings
from runstone.entities import Metric, Param, RunTag
from runstone.sdk.client import RunstoneClient


def test_the_same_batch_with_the_same_key_is_applied_once(make_client: Any) -> None:
    client = make_client()
    rid = client.create_run("0").info.run_id
    batch = {
        "metrics": [Metric("loss", 0.5, 1_700_000_000_000, 1)],
        "params": [Param("lr", "0.1")],
        "tags": [RunTag("phase", "train")],
    }

    client.log_batch(rid, **batch, idempotency_key="batch-0001")
    client.log_batch(rid, **batch, idempotency_key="batch-0001")
    assert len(client.get_metric_history(rid, "loss")) == 1

    client.log_batch(rid, **batch, idempotency_key="batch-0002")
    assert len(client.get_metric_history(rid, "loss")) == 2
    assert client.get_run(rid).data.params == {"lr": "0.1"}


def test_a_batch_whose_response_was_lost_is_retried_and_applied_once(
    remote_client: RunstoneClient, faulty_http: Any, settings: Settings
) -> None:
    rid = remote_client.create_run("0").info.run_id
    lost: list[str] = []

    def fault(request: httpx.Request, response: httpx.Response | None) -> None:
        # The server applied the first attempt; its answer never reaches the client.
        if response is not None and request.url.path.endswith("/batch") and not lost:
            lost.append(request.headers["idempotency-key"])
            raise httpx.ReadError("connection reset by peer", request=request)

    flaky = RunstoneClient(
        "http://testserver",
        http_client=faulty_http(fault),
        settings=settings.model_copy(update={"http_retries": 1}),
    )
    flaky.log_batch(rid, metrics=[Metric("loss", 0.5, 1_700_000_000_000, 1)])

    assert len(lost) == 1
    assert len(remote_client.get_metric_history(rid, "loss")) == 1
