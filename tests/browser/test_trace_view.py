"""The trace view in a real headless Chromium: a trace the stock mlflow client logged, found in
its experiment's trace list and opened as a span tree with timing, inputs, outputs and attributes."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from e2e_support import child_env
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CLIENT = """
import json, mlflow
experiment_id = mlflow.set_experiment("traced-in-the-browser").experiment_id

@mlflow.trace(span_type="AGENT")
def plan(goal):
    with mlflow.start_span("search", span_type="TOOL") as span:
        span.set_inputs({"query": goal})
        span.set_outputs({"hits": 3})
        span.set_attribute("engine", "bm25")
    return "plan for " + goal

plan("ship it")
mlflow.flush_trace_async_logging()
print(json.dumps({"experiment_id": experiment_id, "trace_id": mlflow.get_last_active_trace_id()}))
"""


@pytest.fixture(scope="module")
def logged(server) -> dict[str, str]:
    env = {k: v for k, v in child_env().items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=server.url, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    done = subprocess.run([sys.executable, "-c", CLIENT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_trace_opens_as_a_span_tree_with_timing_inputs_outputs_and_attributes(page, server, logged):
    page.goto(f"{server.url}/ui/experiments/{logged['experiment_id']}")
    page.get_by_role("link", name="Traces").click()
    row = page.locator("table.traces tbody tr", has_text=logged["trace_id"])
    expect(row).to_contain_text("plan")
    expect(row).to_contain_text("OK")
    row.get_by_role("link", name=logged["trace_id"]).click()
    expect(page).to_have_url(re.compile(rf"/ui/traces/{logged['trace_id']}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("plan")

    root, child = page.locator('li.span[data-span="plan"]'), page.locator('li.span[data-span="search"]')
    assert (root.get_attribute("data-depth"), child.get_attribute("data-depth")) == ("0", "1")
    # The root is open: what went in and came out of the traced function.
    expect(root.locator(".span-inputs")).to_contain_text('"goal": "ship it"')
    expect(root.locator(".span-outputs")).to_contain_text("plan for ship it")
    expect(root.locator(".span-duration")).to_contain_text(re.compile(r"\d+\.\d ms"))
    # The child sits inside the root's time and opens on a click.
    bars = [page.locator(f'li.span[data-span="{n}"] .span-bar').get_attribute("style") for n in ("plan", "search")]
    assert bars[0] == "left: 0.00%; width: 100.00%"
    left, width = (float(x) for x in re.findall(r"[\d.]+", bars[1]))
    assert left >= 0 and left + width <= 100.01
    expect(child.locator(".span-inputs")).not_to_be_visible()
    child.locator("summary").click()
    expect(child.locator(".span-inputs")).to_contain_text('"query": "ship it"')
    expect(child.locator(".span-outputs")).to_contain_text('"hits": 3')
    expect(child.locator("table.span-attributes")).to_contain_text("engine")
    expect(child.locator("table.span-attributes")).to_contain_text("bm25")


def test_mlflows_trace_links_open_the_trace_pages(page, server, logged):
    page.goto(f"{server.url}/#/experiments/{logged['experiment_id']}/traces")
    expect(page).to_have_url(f"{server.url}/ui/experiments/{logged['experiment_id']}/traces")
    expect(page.locator("table.traces")).to_contain_text(logged["trace_id"])
