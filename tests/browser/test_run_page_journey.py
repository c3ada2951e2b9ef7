"""The run page in a real headless Chromium: charts that draw what was logged, per-chart settings
kept in the URL, values, system tags and the model versions a run produced."""

from __future__ import annotations

import bisect
import re

import pytest
from e2e_support import remote
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# The points of a chart's line as plotly holds them, and its axes.
LINE = """figure => {
  const plot = figure.querySelector('.js-plotly-plot');
  return {x: plot.data[0].x, y: plot.data[0].y, xaxis: plot.layout.xaxis.type, yaxis: plot.layout.yaxis.type};
}"""


def drawn_line(page, key):
    figure = page.locator(f'figure[data-key="{key}"]')
    figure.scroll_into_view_if_needed()  # charts load as they come into view
    expect(figure).to_have_attribute("data-state", "drawn")
    return figure.evaluate(LINE)


def interpolation_error(steps, values, logged, skip=()):
    """The largest distance between the logged curve and the line through the drawn points, over
    every logged step (segments that end at a step in ``skip`` left out)."""
    worst = 0.0
    for step in range(steps[0], steps[-1] + 1):
        i = bisect.bisect_left(steps, step)
        if steps[i] == step:
            continue
        x0, x1 = steps[i - 1], steps[i]
        if x0 in skip or x1 in skip:
            continue
        line = values[i - 1] + (values[i] - values[i - 1]) * (step - x0) / (x1 - x0)
        worst = max(worst, abs(line - logged(step)))
    return worst


@pytest.mark.parametrize("which", ["short", "long"])
def test_a_long_metric_is_drawn_from_about_a_thousand_points_that_follow_it(page, long_run, which):
    """The first view of a 2,000-step and of a 50,000-step metric: close to the 1,000 points the
    chart asks for, each one a logged point, the first and last steps, the extremes (a one-step
    spike too), and a line that stays close to every logged value."""
    key, steps, logged, wiggle = {
        "short": (long_run.short_key, long_run.short_steps, long_run.short_value, 0.1),
        "long": (long_run.long_key, long_run.long_steps, long_run.long_value, 0.3),
    }[which]
    page.goto(f"{page.base}/ui/runs/{long_run.run_id}")

    line = drawn_line(page, key)

    x, y = line["x"], line["y"]
    assert 900 <= len(x) <= 1050, f"{len(x)} points drawn for a {steps:,}-step metric"
    assert x == sorted(x)
    assert x[0] == 0 and x[-1] == steps - 1
    for step, value in zip(x, y, strict=True):
        assert value == pytest.approx(logged(step), abs=1e-9), f"step {step} is not drawn at its logged value"
    values = [logged(s) for s in range(steps)]
    assert max(y) == pytest.approx(max(values)) and min(y) == pytest.approx(min(values))
    if which == "long":
        assert long_run.spike_step in x  # a one-step spike survives
    # The curve's shape: between drawn points the line strays from the logged values by less
    # than half the amplitude of the curve's wiggle (the spike's own steep sides left out).
    assert interpolation_error(x, y, logged, skip={long_run.spike_step}) < wiggle / 2


def test_each_chart_has_its_own_settings_kept_in_the_url(page, demo):
    run_url = f"{page.base}/ui/runs/{demo.run('wide-lr')}"
    page.goto(run_url)
    loss = page.locator('figure[data-key="loss"]')
    accuracy = page.locator('figure[data-key="accuracy"]')
    assert drawn_line(page, "loss")["yaxis"] == "linear"

    loss.get_by_text("Settings").click()
    loss.get_by_label("Log scale").check()
    expect(loss).to_have_attribute("data-state", "drawn")
    assert loss.evaluate(LINE)["yaxis"] == "log"
    assert drawn_line(page, "accuracy")["yaxis"] == "linear"  # the other chart keeps its own
    expect(page).to_have_url(re.compile(r"log%3Aloss=1"))

    page.reload()  # the link reproduces the charts
    assert drawn_line(page, "loss")["yaxis"] == "log"
    assert drawn_line(page, "accuracy")["yaxis"] == "linear"
    loss.get_by_text("Settings").click()
    expect(loss.get_by_label("Log scale")).to_be_checked()

    page.get_by_label("X axis of all charts").select_option("time")  # every chart at once
    expect(page).to_have_url(re.compile(r"xaxis=time"))
    expect(accuracy).to_have_attribute("data-state", "drawn")
    assert accuracy.evaluate(LINE)["xaxis"] == "date"
    expect(loss).to_have_attribute("data-state", "drawn")
    assert (loss.evaluate(LINE)["xaxis"], loss.evaluate(LINE)["yaxis"]) == ("date", "log")
    accuracy.get_by_text("Settings").click()
    accuracy.get_by_label("Smoothing").fill("0.8")
    expect(page).to_have_url(re.compile(r"smooth%3Aaccuracy=0.8"))
    page.reload()
    expect(accuracy).to_have_attribute("data-state", "drawn")
    assert accuracy.evaluate("f => f.querySelector('.js-plotly-plot').data.length") == 2  # raw and smoothed
    assert loss.evaluate("f => f.querySelector('.js-plotly-plot').data.length") == 1


def test_values_system_tags_and_registered_versions_on_the_run_page(page, sweep, registry_demo, demo, server):
    with remote(server.url) as client:
        client.set_tag(demo.run("baseline"), "mlflow.autologging", "sklearn")
    page.goto(f"{page.base}/ui/runs/{demo.run('baseline')}")

    registered = page.locator("ul.registered li")
    expect(registered).to_have_text([re.compile(r"^churn-model version 1"), re.compile(r"^fraud-detector version 1")])
    page.get_by_role("link", name="fraud-detector version 1").click()
    expect(page.get_by_role("heading", name=re.compile("fraud-detector"))).to_be_visible()
    page.go_back()

    user_tags = page.locator("#tags table.tags")
    expect(user_tags).to_contain_text("team")
    expect(user_tags).not_to_contain_text("mlflow.autologging")
    page.get_by_text(re.compile(r"System tags \(\d+\)")).click()
    system = page.locator("table.system-tags")
    expect(system).to_contain_text("mlflow.autologging")
    expect(system).to_contain_text("runstone.source.name")
    expect(page.get_by_role("button", name="Delete tag mlflow.autologging")).to_have_count(0)

    # A sweep's parent logs one final value per metric: values, not one-dot charts.
    page.goto(f"{page.base}/ui/runs/{sweep.parents['cfg-010']}")
    values = page.locator("figure.metric-value")
    expect(values).to_have_count(2)
    expect(values.first).to_contain_text("train/loss")
    expect(page.locator("figure[data-chart]")).to_have_count(0)
    page.goto(f"{page.base}/ui/runs/{sweep.folds['cfg-010-fold1']}")
    expect(page.locator("figure[data-chart]")).to_have_count(2)
    expect(page.locator("figure.metric-value")).to_have_count(0)
