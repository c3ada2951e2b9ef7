"""The monitoring page in a real headless Chromium: drift heat map, reference against current,
quality over time, and an alert linked to its retraining run, new version and approval request."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from browser_support import screenshot
from e2e_support import remote
from playwright.sync_api import expect

from runstone.entities import Policy
from runstone.monitoring import logs
from runstone.monitoring.profile import build_profile
from runstone.sdk.monitoring import HttpMonitoring
from runstone.sdk.remote import Transport
from tests.monitoring.conftest import SIGNATURE, records, reference_frame

pytestmark = pytest.mark.browser

HOUR = 3_600_000


@pytest.fixture(scope="module")
def monitored(server, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("monitored")
    with remote(server.url) as client:
        versions = []
        for _ in range(2):
            run_id = client.create_run("0").info.run_id
            (folder / "MLmodel").write_text(f"flavors: {{}}\nsignature:\n  inputs: '{SIGNATURE}'\n")
            client.log_artifact(run_id, folder / "MLmodel", "model")
            if not versions:
                client.create_registered_model("monitored")
            versions.append(client.create_model_version("monitored", f"runs:/{run_id}/model", run_id))
        client.set_registered_model_alias("monitored", "champion", "1")
        client.set_model_policy("monitored", Policy(protected_aliases=["champion"]))
        request = client.request_transition("monitored", "2", alias="champion", comment="retrained after drift")
    start = (int(time.time() * 1000) // HOUR - 5) * HOUR
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        api = HttpMonitoring(Transport(server.url, user="tester", client=http))
        api.set_profile("monitored", "1", build_profile(reference_frame(), outputs=[0, 1] * 1000))
        retrain = {"type": "retrain", "project": "./train"}
        api.create_rule("monitored", {"name": "drift", "metric": "drifted", "feature": "*", "actions": [retrain]})
        calm = records(300, start=start, step=10_000, rows=5, prefix="m")
        moved = records(300, start=start + HOUR, step=10_000, rows=5, shift=30, country="DE", prefix="n", seed=3)
        for recs in (calm, moved):
            (table,) = logs.records_to_tables(recs).values()
            api.ingest("monitored", "1", logs.to_parquet(table))
        api.log_labels([f"{r['request_id']}:0" for r in calm], [r["outputs"][0] for r in calm])
        api.log_labels([f"{r['request_id']}:0" for r in moved], [1 - r["outputs"][0] for r in moved])
        api.evaluate("1h")
        alert, _ = api.claim_retraining()
        api.record_retraining(alert.id, status="done", run_id=versions[1].run_id, new_version=2,
                              approval_request_id=request.id, action_note="version 2 wins")  # fmt: skip
    return {"run_id": versions[1].run_id, "request_id": request.id}


def test_the_monitoring_page_shows_drift_quality_and_the_alert_chain(page, monitored):
    page.goto(page.base + "/ui/models/monitored")
    page.get_by_role("link", name="Monitoring").click()
    expect(page.get_by_role("heading", name="Monitoring of monitored", level=1)).to_be_visible()
    expect(page.locator("#live")).to_contain_text("Live: version 1 (champion)")

    heat = page.locator("#drift-heatmap")
    expect(heat.locator(".main-svg").first).to_be_visible()
    rows = page.locator("#drift-table tbody tr")
    expect(rows.first.locator(".badge")).to_have_text(["amount", "country"])
    expect(rows.nth(1).locator(".badge")).to_have_count(0)

    page.get_by_label("Feature", exact=True).select_option("amount")
    expect(page.locator("#distribution .bars .point").first).to_be_visible()
    assert page.locator("#distribution .trace.bars").count() == 2  # reference and the latest window
    expect(page.locator("#quality .scatterlayer .trace").first).to_be_visible()
    screenshot(page, "monitoring")

    alert = page.locator("#alerts tbody tr").first
    expect(alert).to_contain_text("drift: drifted of *")
    expect(alert.get_by_role("link", name=monitored["run_id"][:8])).to_have_attribute(
        "href", f"/ui/runs/{monitored['run_id']}"
    )
    expect(alert.get_by_role("link", name="version 2")).to_be_visible()
    alert.get_by_role("link", name=f"request {monitored['request_id']}").click()
    expect(page).to_have_url(re.compile(f"/ui/requests/{monitored['request_id']}$"))
    expect(page.locator("body")).to_contain_text("retrained after drift")
