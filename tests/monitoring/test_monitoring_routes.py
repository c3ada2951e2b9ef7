"""The monitoring REST API and SDK through the real HTTP stack in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from runstone.errors import InvalidInput, NotFound
from runstone.monitoring import logs
from runstone.monitoring.profile import build_profile
from runstone.sdk.monitoring import HttpMonitoring
from tests.monitoring.conftest import records, reference_frame

T0 = 1_699_999_200_000
HOUR = 3_600_000


@pytest.fixture
def api(remote_client) -> HttpMonitoring:
    return HttpMonitoring(remote_client._tracking.t)


def _parquet(recs) -> bytes:
    (table,) = logs.records_to_tables(recs).values()
    return logs.to_parquet(table)


def test_profile_logs_labels_and_windows_over_http(api, version, http, clock):
    version()
    api.set_profile("fraud", "1", build_profile(reference_frame()), source="train.csv")
    http.put("/api/v1/registered-models/fraud/aliases/champion", json={"version": "1"})
    assert api.get_profile("fraud", "champion").version == 1
    assert api.ingest("fraud", "champion", _parquet(records(50, start=T0, rows=2)))["requests"] == 50
    assert api.log_labels([f"r{i}:{j}" for i in range(50) for j in (0, 1)], [1] * 100)["labelled"] == 100
    result = api.compute("fraud", "1", T0, T0 + HOUR)
    assert result["rows"] == 100 and result["labelled"] == 100 and result["drifted"] == []
    clock.now = T0 + HOUR + 1
    assert api.evaluate("1h") == 1
    (window,) = api.windows("fraud")
    assert window.result is not None and window.result["requests"] == 50
    exported = api.export("fraud", "1", T0, T0 + HOUR)
    import io

    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(exported))
    assert {"amount", "items", "country", "prediction", "label"} <= set(table.column_names)
    assert table.num_rows == 100 and table.column("label").to_pylist()[:2] == [1, 1]


def test_bad_input_gets_clear_errors_and_writes_nothing(api, version, http):
    version()
    api.ingest("fraud", "1", _parquet(records(5, start=T0)))
    answer = http.post("/api/v1/monitoring/labels", json={"request_ids": ["r1", "ghost"], "labels": [1, 0]})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_input" and "ghost" in error["message"]
    assert error["details"]["unknown_request_ids"] == ["ghost"]
    assert "labelled" not in api.compute("fraud", "1", T0, T0 + HOUR)

    answer = http.post(
        "/api/v1/monitoring/models/fraud/rules", json={"name": "x", "metric": "psi", "feature": "colour"}
    )
    assert answer.status_code == 400 and "'colour', which the model does not have" in answer.json()["error"]["message"]
    with pytest.raises(InvalidInput, match="unknown metric 'psi2'"):
        api.create_rule("fraud", {"name": "x", "metric": "psi2", "feature": "amount", "threshold": 1})
    assert api.list_rules("fraud") == []

    frame = reference_frame().rename(columns={"items": "quantity"})
    answer = http.put("/api/v1/monitoring/models/fraud/versions/1/profile", json={"profile": build_profile(frame)})
    assert (
        answer.status_code == 400
        and "signature has ['amount', 'country', 'items']" in answer.json()["error"]["message"]
    )

    answer = http.post("/api/v1/monitoring/models/fraud/versions/1/logs", content=b"not parquet")
    assert answer.status_code == 400 and "not a readable Parquet file" in answer.json()["error"]["message"]
    with pytest.raises(NotFound, match="no version 'nope'"):
        api.get_profile("fraud", "nope")
