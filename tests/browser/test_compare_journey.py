"""Compare 20 runs of a sweep, and more than 100, in a real headless Chromium."""

from __future__ import annotations

import math
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ON_TOP = """e => {
  const box = e.getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + 5, box.top + box.height / 2);
  return {left: box.left, onTop: e === hit || e.contains(hit)};
}"""


def open_twenty(page, sweep):
    """Fold 0 of twenty configurations, ticked in the runs table and compared."""
    page.goto(f"{page.base}/ui/experiments/{sweep.experiment_id}?filter=params.fold+%3D+%270%27&max=20")
    page.get_by_label("Select all runs on this page").check()
    expect(page.locator("[data-selection]")).to_have_text("20 selected:")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name="Compare 20 runs")).to_be_visible()


def test_compare_twenty_runs(page, sweep):
    page.set_viewport_size({"width": 1200, "height": 900})
    open_twenty(page, sweep)

    # The first column stays while the runs scroll by.
    params = page.locator(".compare-wrap", has=page.locator('table[data-kind="param"]'))
    key = params.locator('tr[data-key="lr"] th')
    key.scroll_into_view_if_needed()
    left = key.evaluate(ON_TOP)["left"]
    params.evaluate("e => e.scrollTo(e.scrollWidth, 0)")
    assert params.evaluate("e => e.scrollLeft") > 300
    assert key.evaluate(ON_TOP) == {"left": left, "onTop": True}

    # The best value of each metric is marked: the lowest error.
    row = page.locator('table[data-kind="metric"] tr[data-key="val/error"]')
    values = [float(v.split()[0]) for v in row.locator("td").all_inner_texts() if v.strip()]
    expect(row.locator("td.best")).to_have_count(1)
    assert float(row.locator("td.best").inner_text().split()[0]) == min(values)
    expect(row.locator("th")).to_contain_text("lowest is best")

    # One legend for every chart: no chart spends its height on one.
    expect(page.locator("ul.legend li")).to_have_count(20)
    chart = page.locator('figure[data-key="train/loss"]')
    expect(chart).to_have_attribute("data-state", "drawn")
    assert chart.evaluate("f => f.querySelector('.js-plotly-plot').layout.showlegend") is False
    assert chart.evaluate("f => f.querySelector('.js-plotly-plot').data.length") == 20

    # Learning rates spanning three decades get a log axis in parallel coordinates.
    parallel = page.locator("#parallel")
    expect(parallel).to_have_attribute("data-state", "drawn")
    assert "lr" in parallel.get_attribute("data-log-axes").split(",")
    axis = parallel.evaluate("e => e.data[0].dimensions.find(d => d.label === 'lr (log)')")
    lrs = [float(v) for v in page.locator('table[data-kind="param"] tr[data-key="lr"] td').all_inner_texts()]
    assert sorted(axis["values"]) == pytest.approx(sorted(math.log10(v) for v in lrs))
    assert axis["ticktext"][0] == "0.0001" or float(axis["ticktext"][0]) <= min(lrs)

    # Remove a run from the comparison.
    removed = page.locator("table.compared-runs tbody th a").nth(3).inner_text()
    page.get_by_role("link", name=f"Remove {removed} from the comparison").click()
    expect(page.get_by_role("heading", name="Compare 19 runs")).to_be_visible()
    expect(page.locator("table.compared-runs")).not_to_contain_text(removed)

    # Choose the metrics to chart from a searchable list.
    page.get_by_text(re.compile(r"Metrics to chart \(2 of 2\)")).click()
    page.get_by_label("train/loss", exact=True).uncheck()
    page.get_by_placeholder("Find a metric").fill("val")
    expect(page.get_by_label("train/loss", exact=True)).to_be_hidden()  # ticked keys stay in sight
    expect(page.get_by_label("val/error", exact=True)).to_be_visible()
    page.get_by_role("button", name="Show charts").click()
    expect(page.locator("figure[data-chart]")).to_have_count(1)
    expect(page.locator("figure[data-chart]")).to_have_attribute("data-key", "val/error")
    expect(page).to_have_url(re.compile(r"chart=val%2Ferror"))


def test_more_than_a_hundred_runs_open_the_experiment_view(page, sweep):
    page.goto(f"{page.base}/ui/experiments/{sweep.experiment_id}?max=100&flat=1")
    page.get_by_label("Select all runs on this page").check()
    page.get_by_role("link", name="Next page").click()
    page.get_by_label("Select all runs on this page").check()
    expect(page.locator("[data-selection]")).to_have_text("200 selected (100 on this page):")
    page.get_by_role("button", name="Compare").click()

    expect(page.get_by_role("heading", name="Compare 200 runs")).to_be_visible()
    page.get_by_role("link", name="Open the experiment view").click()
    expect(page.get_by_role("heading", name="Compare 500 runs of fold-sweep")).to_be_visible()
    expect(page.locator("[data-experiment-view]")).to_contain_text("draw all 500 runs")
    parallel = page.locator("#parallel")
    expect(parallel).to_have_attribute("data-state", "drawn")
    assert parallel.evaluate("e => e.data[0].dimensions[0].values.length") == 500
    expect(page.locator("#scatter")).to_have_attribute("data-points", "500")
    expect(page.locator("table.compared-runs tbody tr")).to_have_count(100)

    page.go_back()
    page.get_by_role("link", name="Compare the first 100 runs you selected").click()
    expect(page.get_by_role("heading", name="Compare 100 runs")).to_be_visible()
