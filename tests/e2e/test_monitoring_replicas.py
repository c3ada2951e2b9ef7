"""Two server replicas on one PostgreSQL evaluate monitoring windows side by side: each window is
computed, and its rules evaluated, by exactly one of them."""

from __future__ import annotations

import time

import httpx
import pytest
from e2e_support import Servers, remote

from runstone.monitoring import logs
from runstone.sdk.monitoring import HttpMonitoring
from runstone.sdk.remote import Transport
from tests.monitoring.conftest import SIGNATURE, records

pytestmark = pytest.mark.e2e

WINDOWS = 30


def test_each_window_is_evaluated_by_exactly_one_replica(pg_schema_url: str, servers: Servers, tmp_path) -> None:
    env = {"RUNSTONE_MONITORING_INTERVAL": "0.05", "RUNSTONE_MONITORING_WINDOW": "1s"}
    shared = ("--backend-store-uri", pg_schema_url, "--artifacts-destination", str(tmp_path / "artifacts"))
    first = servers.start(*shared, env=env)
    second = servers.start(*shared, env=env)
    with remote(first.url) as client:
        run_id = client.create_run("0").info.run_id
        manifest = tmp_path / "MLmodel"
        manifest.write_text(f"flavors: {{}}\nsignature:\n  inputs: '{SIGNATURE}'\n")
        client.log_artifact(run_id, manifest, "model")
        client.create_registered_model("fraud")
        client.create_model_version("fraud", f"runs:/{run_id}/model", run_id)
    with httpx.Client(base_url=first.url, timeout=30.0) as http:
        api = HttpMonitoring(Transport(first.url, user="tester", client=http))
        api.create_rule("fraud", {"name": "every", "metric": "requests", "op": ">=", "threshold": 1, "cooldown": 0})
        # One request in each of the last WINDOWS whole seconds, all logged at once.
        start = (int(time.time()) - WINDOWS - 5) * 1000
        (table,) = logs.records_to_tables(records(WINDOWS, start=start + 500, step=1000)).values()
        assert api.ingest("fraud", "1", logs.to_parquet(table))["requests"] == WINDOWS

        deadline = time.monotonic() + 60
        while len(api.windows("fraud")) < WINDOWS and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # both replicas keep running rounds: nothing may be evaluated twice
        windows = api.windows("fraud")
        alerts = api.alerts("fraud")
    assert len(windows) == WINDOWS
    assert sorted(w.start_time for w in windows) == [start + i * 1000 for i in range(WINDOWS)]
    assert all((w.result or {}).get("requests") == 1 for w in windows)
    assert len(alerts) == WINDOWS and len({a.window_id for a in alerts}) == WINDOWS
    # Both replicas ran rounds against the same database (each served the same windows list).
    with httpx.Client(base_url=second.url, timeout=30.0) as http:
        assert len(HttpMonitoring(Transport(second.url, user="tester", client=http)).windows("fraud")) == WINDOWS
