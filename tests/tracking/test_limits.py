"""The limits of runstone.limits are the ones the service, the SDK and the MLflow layer apply."""

from __future__ import annotations

import pytest

from runstone import limits
from runstone.entities import Metric
from runstone.errors import PayloadTooLarge
from runstone.sdk.batching import Batcher


def test_the_service_takes_its_largest_batch_and_refuses_one_more(tracking):
    run_id = tracking.create_run().info.run_id
    points = [Metric("m", 1.0, 1, s) for s in range(limits.MAX_BATCH_METRICS)]
    tracking.log_batch(run_id, points)
    with pytest.raises(PayloadTooLarge, match=str(limits.MAX_BATCH_METRICS)):
        tracking.log_batch(run_id, [*points, Metric("m", 1.0, 1, -1)])
    assert len(tracking.get_metric_history(run_id, "m")) == limits.MAX_BATCH_METRICS


def test_the_sdk_sends_requests_the_service_accepts():
    sent: list[tuple[int, int, int]] = []

    def send(run_id, metrics=(), params=(), tags=(), **_):
        sent.append((len(list(metrics)), len(list(params)), len(list(tags))))

    batcher = Batcher(send, tracking_uri="test", interval=3600)
    batcher.add("r", metrics=[Metric("m", 1.0, 1, s) for s in range(2500)], params=[(f"p{i}", "v") for i in range(250)])
    batcher.close()
    assert sum(m for m, _, _ in sent) == 2500 and sum(p for _, p, _ in sent) == 250
    for m, p, t in sent:
        assert m <= limits.SDK_MAX_METRICS_PER_REQUEST <= limits.MAX_BATCH_METRICS
        assert p <= limits.SDK_MAX_PARAMS_PER_REQUEST <= limits.MAX_BATCH_PARAMS
        assert t <= limits.SDK_MAX_TAGS_PER_REQUEST <= limits.MAX_BATCH_TAGS


def test_the_mlflow_layer_refuses_one_metric_more_than_mlflow_allows(http):
    run_id = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    metrics = [
        {"key": "m", "value": 1, "timestamp": 1, "step": s} for s in range(limits.MLFLOW_MAX_METRICS_PER_BATCH + 1)
    ]
    answer = http.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    assert answer.status_code in (400, 413)
    assert f"at most {limits.MLFLOW_MAX_METRICS_PER_BATCH} metrics" in answer.json()["message"]
