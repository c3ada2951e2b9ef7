"""The main user journeys, in a real headless Chromium against a real server."""

from __future__ import annotations

import re

import pytest
from browser_support import screenshot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# The data of a chart as plotly holds it: trace count and the points of the first trace.
CHART_DATA = """figure => {
  const plot = figure.querySelector('.js-plotly-plot');
  if (!plot || !plot.data || !plot.data.length) return null;
  const finite = plot.data[0].y.filter(v => v !== null && isFinite(v));
  return {traces: plot.data.length, points: plot.data[0].x.length, finite: finite.length,
          max: Math.max(...finite), yaxis: plot.layout.yaxis.type};
}"""


def row_names(page):
    return page.locator("table.runs tbody td.name > a:not(.kids)").all_inner_texts()


def test_open_an_experiment_then_filter_and_sort_its_runs(page, demo):
    page.goto(page.base + "/ui/")
    expect(page.get_by_role("link", name="vision-sweep")).to_be_visible()
    screenshot(page, "experiments")

    page.get_by_role("link", name="vision-sweep").click()
    expect(page.get_by_role("heading", name="vision-sweep")).to_be_visible()
    # Nested runs sit under their parent, folded until asked for.
    assert row_names(page)[0] == "grid-search" and "trial-1" not in row_names(page)
    page.get_by_role("button", name="Show the 2 nested runs of grid-search").click()
    expect(page.locator("table.runs tbody tr[data-parent]")).to_have_count(2)
    assert row_names(page)[:3] == ["grid-search", "trial-1", "trial-2"]
    screenshot(page, "runs")

    page.get_by_label("Filter").fill("params.optimizer = 'sgd' and metrics.loss < 1")
    page.get_by_label("Filter").press("Enter")
    expect(page).to_have_url(re.compile(r"filter=params.optimizer"))
    assert sorted(row_names(page)) == sorted(["baseline", "wide-lr", "mid-lr", "trial-1", "trial-2"])

    page.get_by_role("link", name="loss", exact=True).click()  # a loss sorts lowest first
    expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("loss")
    assert row_names(page)[0] == "trial-2"
    page.get_by_role("link", name=re.compile(r"^loss")).click()
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("loss")
    assert row_names(page)[0] == "trial-1"

    page.allowed_errors.append("status of 400")  # the page with the filter error answers 400
    page.get_by_label("Filter").fill("metrics.loss <")
    page.get_by_label("Filter").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Invalid filter at position 15")


def test_choose_columns_with_the_picker(page, demo):
    page.goto(f"{page.base}/ui/experiments/{demo.sweep_id}")
    page.get_by_text(re.compile(r"Columns \(\d+ shown\)")).click()
    search = page.get_by_placeholder("Find a key")
    expect(search).to_be_visible()  # the picker was fetched when opened
    search.fill("team")
    page.get_by_label("team", exact=True).check()
    page.get_by_role("button", name="Show these columns").click()

    expect(page.locator("table.runs thead")).to_contain_text("team")
    expect(page).to_have_url(re.compile(r"col=tags.team"))
    assert "vision" in page.locator("table.runs tbody tr").nth(3).inner_text()


def test_open_a_run_and_see_its_charts_drawn(page, demo):
    page.goto(f"{page.base}/ui/experiments/{demo.sweep_id}")
    page.get_by_role("link", name="wide-lr", exact=True).click()

    loss = page.locator('figure[data-key="loss"]')
    expect(loss).to_have_attribute("data-state", "drawn")
    drawn = loss.evaluate(CHART_DATA)
    assert drawn["traces"] == 1
    assert drawn["points"] == 300
    assert drawn["max"] > 1.5  # the spike at step 150 is drawn
    screenshot(page, "run")

    # Zooming in fetches the zoomed range again, at finer resolution.
    loss.evaluate("f => Plotly.relayout(f.querySelector('.js-plotly-plot'), {'xaxis.range': [140, 160]})")
    expect(loss).to_have_attribute("data-zoom-steps", "140:160")
    assert loss.evaluate(CHART_DATA)["points"] == 21

    page.get_by_label("Log scale on all charts").check()
    expect(loss).to_have_attribute("data-state", "drawn")
    assert loss.evaluate(CHART_DATA)["yaxis"] == "log"

    page.get_by_label("X axis of all charts").select_option("time")
    expect(loss).to_have_attribute("data-state", "drawn")
    assert loss.evaluate("f => f.querySelector('.js-plotly-plot').layout.xaxis.type") == "date"
    page.get_by_label("Smoothing of all charts").fill("0.9")
    expect(loss).to_have_attribute("data-state", "drawn")
    assert loss.evaluate(CHART_DATA)["traces"] == 2  # the raw line stays, faint, behind the smoothed one


def test_preview_a_csv_artifact(page, demo):
    page.goto(f"{page.base}/ui/runs/{demo.run('baseline')}")
    page.get_by_role("link", name="Browse and preview").click()
    page.get_by_role("link", name="eval/").click()
    page.get_by_role("link", name="metrics.csv").click()

    table = page.locator("table.csv")
    expect(table.locator("th")).to_have_text(["epoch", "loss", "accuracy"])
    expect(table.locator("tbody tr").nth(1).locator("td")).to_have_text(["2", "0.98", "0.63"])
    screenshot(page, "artifacts")

    page.goto(f"{page.base}/ui/runs/{demo.run('baseline')}/artifacts?path=plots/confusion.png")
    image = page.get_by_role("img", name="plots/confusion.png")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 48


def test_compare_three_runs_with_parallel_coordinates(page, demo):
    page.goto(f"{page.base}/ui/experiments/{demo.sweep_id}")
    for name in ("baseline", "wide-lr", "small-batch"):
        page.get_by_label(f"Select {name}", exact=True).check()
    expect(page.locator("[data-selection]")).to_have_text("3 selected:")
    page.get_by_role("button", name="Compare").click()

    expect(page.get_by_role("heading", name="Compare 3 runs")).to_be_visible()
    parallel = page.locator("#parallel")
    expect(parallel).to_have_attribute("data-state", "drawn")
    trace = parallel.evaluate("e => ({type: e.data[0].type, dims: e.data[0].dimensions.map(d => d.label)})")
    assert trace["type"] == "parcoords"
    assert trace["dims"] == ["batch_size", "lr", "optimizer", "accuracy"]
    expect(parallel.locator("canvas").first).to_be_attached()
    expect(page.locator("#scatter")).to_have_attribute("data-points", "3")
    chart = page.locator('figure[data-key="accuracy"]')
    expect(chart).to_have_attribute("data-state", "drawn")
    assert chart.evaluate(CHART_DATA)["traces"] == 3
    loss = page.locator('figure[data-key="loss"]')
    loss.scroll_into_view_if_needed()  # charts load as they scroll into view
    expect(loss).to_have_attribute("data-state", "drawn")
    screenshot(page, "compare")

    page.get_by_label("Color by metric").select_option("loss")
    expect(page).to_have_url(re.compile(r"metric=loss"))
    expect(page.locator("#parallel")).to_have_attribute("data-state", "drawn")


def test_move_a_run_to_another_experiment(page, demo):
    page.goto(f"{page.base}/ui/experiments/{demo.sweep_id}")
    page.get_by_label("Select mid-lr", exact=True).check()
    page.get_by_label("Move to").select_option(label="archive")
    page.get_by_role("button", name="Move", exact=True).click()

    expect(page.locator(".flash[role=status]")).to_contain_text("Moved 1 run(s) to experiment 'archive'")
    assert "mid-lr" not in row_names(page)
    page.goto(f"{page.base}/ui/experiments/{demo.archive_id}")
    assert row_names(page) == ["mid-lr"]
