"""The workspace of an experiment page in a real headless Chromium: every metric of the runs in
the table charted in sections, runs hidden with their eye, one colour per run everywhere."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
from browser_support import screenshot
from demo_data import T0, png
from e2e_support import child_env, remote
from playwright.sync_api import expect

from runstone.entities import Metric

pytestmark = pytest.mark.browser

KEYS = ("train/loss", "train/accuracy", "val/loss", "val/accuracy", "system/cpu_percent", "lr")
RUNS = (("adam-1", "adam", 0.01), ("adam-2", "adam", 0.02), ("sgd-1", "sgd", 0.1), ("sgd-2", "sgd", 0.2))
STEPS = 120
IMAGE_STEPS = (0, 50, 100)
TABLE_COLUMNS = ["id", "label", "loss"]
TABLE = {"id": [1, 2, 3, 4], "label": ["cat", "dog", "bird", "cat"], "loss": [0.5, 0.125, 2.0, 0.25]}


@dataclass
class Workspace:
    experiment_id: str = ""
    runs: dict[str, str] = field(default_factory=dict)  # name -> id


@pytest.fixture(scope="module")
def workspace(server) -> Workspace:
    out = Workspace()
    with remote(server.url) as client:
        out.experiment_id = client.create_experiment("workspace-demo")
        for i, (name, optimizer, lr) in enumerate(RUNS):
            run = client.create_run(out.experiment_id, start_time=T0 + i * 60_000, run_name=name)
            out.runs[name] = run.info.run_id
            client.log_batch(run.info.run_id, params=[("optimizer", optimizer), ("lr", str(lr))])
            points = []
            for step in range(STEPS):
                loss = 2 * math.exp(-lr * step / 4) + 0.02 * i
                ts = T0 + i * 60_000 + step * 500
                values = {
                    "train/loss": loss,
                    "train/accuracy": 1 - loss / 3,
                    "val/loss": loss * 1.1,
                    "val/accuracy": 1 - loss / 2.5,
                    "system/cpu_percent": 40 + 10 * math.sin(step / 5 + i),
                    "lr": lr * (0.99**step),
                }
                points += [Metric(k, v, ts, step) for k, v in values.items()]
            client.log_batch(run.info.run_id, metrics=points)
            if name in ("adam-1", "sgd-1"):
                for step in IMAGE_STEPS:
                    client.log_image(run.info.run_id, png(16 + step // 10, 16), "samples/digits", step=step)
            if name == "adam-1":
                client.log_table(run.info.run_id, TABLE, "eval/predictions.json")
            client.set_terminated(run.info.run_id, end_time=T0 + i * 60_000 + STEPS * 500)
    return out


def open_workspace(page, workspace: Workspace, query: str = "") -> None:
    page.goto(f"{page.base}/ui/experiments/{workspace.experiment_id}{query}")
    page.locator("#workspace").scroll_into_view_if_needed()
    expect(page.locator("[data-workspace]")).to_have_attribute("data-state", "ready")


def panel_runs(page) -> dict[str, set[str]]:
    """Each panel's key and the runs drawn in it, once every panel is drawn."""
    panels = page.locator("[data-panel]:visible")
    for i in range(panels.count()):
        panels.nth(i).scroll_into_view_if_needed()
        expect(panels.nth(i)).to_have_attribute("data-state", "drawn")
    drawn = page.eval_on_selector_all(
        "[data-panel]", "els => els.map(e => [e.dataset.key, e.dataset.runs, e.checkVisibility()])"
    )
    return {key: set(runs.split(",")) if runs else set() for key, runs, shown in drawn if shown}


def interactive(panel):
    """The panel's plotly chart, built as a user's pointer comes to the panel (until then the
    panel shows its overview, drawn on a canvas)."""
    panel.scroll_into_view_if_needed()
    expect(panel).to_have_attribute("data-state", "drawn")
    panel.locator("figcaption").hover()
    expect(panel).to_have_attribute("data-chart", "interactive")
    expect(panel).to_have_attribute("data-state", "drawn")
    expect(panel.locator("canvas[data-overview]")).to_have_count(0)  # the overview made way
    return panel.locator(".js-plotly-plot")


def test_every_metric_of_the_runs_in_the_table_is_charted_in_sections(page, workspace):
    open_workspace(page, workspace)
    sections = page.eval_on_selector_all("[data-section]", "els => els.map(e => e.dataset.section)")
    assert sections == ["system", "train", "val", ""]  # keys without a prefix come last
    charted = panel_runs(page)
    assert set(charted) == set(KEYS)
    everyone = set(workspace.runs.values())
    assert all(runs == everyone for runs in charted.values()), charted
    # Every run is drawn with every one of its logged points (they fit the panel's budget).
    loss = page.locator('[data-panel][data-key="train/loss"]')
    assert loss.get_attribute("data-points") == str(STEPS * len(RUNS))
    # Each panel is drawn first as an overview on a canvas, with every run's line in its colour;
    # the pointer coming to it builds the interactive chart with the same lines.
    assert loss.get_attribute("data-chart") == "overview"
    painted = loss.locator("canvas[data-overview]").evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const seen = new Set();
                  for (let i = 0; i < d.length; i += 4) { if (d[i + 3] === 255) { seen.add('#' + [d[i], d[i + 1], d[i + 2]].map(v => v.toString(16).padStart(2, '0')).join('')); } }
                  return [...seen]; }"""
    )
    colours = {
        page.locator(f'tr[data-run="{run_id}"] input.run-swatch').input_value() for run_id in workspace.runs.values()
    }
    assert colours <= set(painted), (colours, painted)
    plot = interactive(loss)
    assert loss.get_attribute("data-points") == str(STEPS * len(RUNS))
    assert {t["meta"] for t in plot.evaluate("p => p.data.map(t => ({meta: t.meta}))")} == set(workspace.runs.values())
    expect(page.locator("[data-workspace-summary]")).to_contain_text("6 metrics of 4 runs")
    page.locator("#workspace").evaluate("e => e.scrollIntoView()")
    screenshot(page, "workspace", full_page=False)

    # Find panels by a regular expression; a broken one is matched as text, and says so.
    search = page.get_by_placeholder("name or regex: ^val/")
    search.fill("^val/")
    assert sorted(panel_runs(page)) == ["val/accuracy", "val/loss"]
    expect(page.locator('[data-section="train"]')).to_be_hidden()
    search.fill("accuracy(")
    expect(page.locator("[data-panel-search-error]")).to_contain_text("Not a regular expression")
    assert sorted(panel_runs(page)) == []
    search.fill("")
    assert len(panel_runs(page)) == len(KEYS)

    # One panel's own settings: a log scale for the learning rate, the others stay linear.
    lr = page.locator('[data-panel][data-key="lr"]')
    lr.locator("summary", has_text="Settings").click()
    lr.locator("[data-panel-setting=log]").select_option("1")
    y_type = "p => p.querySelector('.js-plotly-plot').layout.yaxis.type"
    expect(lr).to_have_attribute("data-chart", "interactive")  # the pointer came to it
    page.wait_for_function(f"() => ({y_type})(document.querySelector('[data-panel][data-key=\"lr\"]')) === 'log'")
    interactive(page.locator('[data-panel][data-key="train/loss"]'))
    assert page.locator('[data-panel][data-key="train/loss"]').evaluate(y_type) == "linear"
    # Panels can be moved within their section and made full width; both are remembered.
    train = page.locator('[data-section="train"] [data-panel]')
    assert [train.nth(i).get_attribute("data-key") for i in range(2)] == ["train/accuracy", "train/loss"]
    loss = page.locator('[data-panel][data-key="train/loss"]')
    loss.locator("summary", has_text="Settings").click()
    loss.get_by_role("button", name="Move earlier").click()
    expect(train.first).to_have_attribute("data-key", "train/loss")
    narrow = loss.evaluate("e => e.getBoundingClientRect().width")
    loss.get_by_label("Full width").check()
    page.wait_for_function(
        f"() => document.querySelector('[data-panel][data-key=\"train/loss\"] .main-svg').getBoundingClientRect().width > {narrow * 1.5}"
    )
    loss.locator("summary", has_text="Settings").click()
    # A collapsed panel keeps its title and hides its chart.
    lr.get_by_label("Collapsed").check()
    expect(lr.locator(".plot")).to_be_hidden()
    lr.get_by_label("Collapsed").uncheck()
    expect(lr.locator(".plot")).to_be_visible()
    lr.locator("summary", has_text="Settings").click()

    # Another metric as the x axis: val/loss against train/loss, point by point at the same step.
    page.get_by_label("X axis").select_option("metric:train/loss")
    val = page.locator('[data-panel][data-key="val/loss"]')
    val.scroll_into_view_if_needed()
    line = interactive(val).evaluate(
        f"p => {{ const t = p.data.find(t => t.meta === '{workspace.runs['adam-1']}'); return [t.x.slice(0, 3), t.y.slice(0, 3), p.layout.xaxis.title.text]; }}"
    )
    assert line[2] == "train/loss"
    assert [y / x for x, y in zip(line[0], line[1], strict=True)] == pytest.approx(
        [1.1] * 3
    )  # val/loss = 1.1 x train/loss
    page.get_by_label("X axis").select_option("step")
    expect(val).to_have_attribute("data-state", "drawn")

    # A folded section stays folded on the next visit.
    page.locator('[data-section="system"] > summary').click()
    open_workspace(page, workspace)
    expect(page.locator('[data-section="system"] [data-panel]')).to_be_hidden()
    expect(train.first).to_have_attribute("data-key", "train/loss")  # the order and width set above stay
    expect(train.first).to_have_class(re.compile(r"\bwide\b"))
    page.locator('[data-section="system"] > summary').click()
    expect(page.locator('[data-section="system"] [data-panel]')).to_be_visible()
    page.wait_for_function(
        "() => !localStorage.getItem('runstone.workspace.' + document.querySelector('[data-workspace]').dataset.experiment).includes('system')"
    )


def test_hiding_a_run_takes_it_out_of_every_chart_and_ticking_runs_draws_only_them(page, workspace):
    open_workspace(page, workspace)
    hidden = workspace.runs["sgd-1"]
    page.get_by_role("button", name="Hide sgd-1 from the charts").click()
    others = set(workspace.runs.values()) - {hidden}
    expect(page.locator("[data-workspace]")).to_have_attribute(
        "data-runs",
        ",".join(
            workspace.runs[n]
            for n in ("sgd-2", "adam-2", "adam-1")  # the table's order: newest first
        ),
    )
    charted = panel_runs(page)
    assert charted and all(runs == others for runs in charted.values()), charted
    expect(page.locator(f'tr[data-run="{hidden}"]')).to_have_class(re.compile(r"\brun-hidden\b"))

    # Hidden it stays, on the next visit; the eye brings it back.
    open_workspace(page, workspace)
    assert all(hidden not in runs for runs in panel_runs(page).values())
    page.get_by_role("button", name="Show sgd-1 in the charts").click()
    assert all(hidden in runs for runs in panel_runs(page).values())

    # Ticking runs in the table draws only those; "show the first N" caps them.
    page.locator(f'input[name=run][value="{workspace.runs["adam-1"]}"]').check()
    page.locator(f'input[name=run][value="{workspace.runs["adam-2"]}"]').check()
    assert all(runs == {workspace.runs["adam-1"], workspace.runs["adam-2"]} for runs in panel_runs(page).values())
    page.get_by_label("How many runs to draw").select_option("5")
    page.get_by_role("button", name="Clear selection").click()
    assert all(len(runs) == 4 for runs in panel_runs(page).values())


def test_a_run_has_one_colour_in_the_table_every_chart_and_compare_and_it_can_be_pinned(page, workspace):
    open_workspace(page, workspace)
    run_id = workspace.runs["adam-1"]
    colour = page.locator(f'tr[data-run="{run_id}"] input.run-swatch').input_value()
    panel_runs(page)
    panels = page.locator("[data-panel]")
    line_colours = {
        interactive(panels.nth(i)).evaluate(f"p => p.data.find(t => t.meta === '{run_id}').line.color")
        for i in range(panels.count())
    }
    assert line_colours == {colour}

    # Pinning a colour redraws every chart with it, and compare uses it too.
    page.locator(f'tr[data-run="{run_id}"] input.run-swatch').evaluate(
        "e => { e.value = '#123456'; e.dispatchEvent(new Event('change', {bubbles: true})); }"
    )
    expect(page.locator('[data-panel][data-key="lr"]')).to_have_attribute("data-state", "drawn")
    drawn = page.locator('[data-panel][data-key="lr"] .js-plotly-plot').evaluate(
        f"p => p.data.find(t => t.meta === '{run_id}').line.color"
    )
    assert drawn == "#123456"
    other = workspace.runs["sgd-2"]
    page.goto(f"{page.base}/ui/compare?run={run_id}&run={other}")
    swatch = page.locator(f'.legend [data-run-color="{run_id}"]')
    assert swatch.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(18, 52, 86)"
    # Parallel coordinates can draw each run's line in its colour too.
    parallel = page.locator("#parallel")
    expect(parallel).to_have_attribute("data-state", "drawn")
    page.get_by_label("Lines in the runs' colours").check()
    expect(parallel).to_have_attribute("data-line-colours", "runs")
    stops = parallel.evaluate("e => e.data[0].line.colorscale.map(s => s[1])")
    assert "#123456" in stops
    page.evaluate(f"() => window.RunColors.unpin('{run_id}')")


def test_grouping_by_a_param_draws_one_line_and_band_per_group_and_folds_the_table(page, workspace):
    open_workspace(page, workspace)
    page.get_by_text("Group by:").click()
    page.get_by_label("params.optimizer").check()
    groups = page.locator("[data-group-table] tbody tr")
    expect(groups).to_have_count(2)
    assert groups.nth(0).locator("td").nth(1).inner_text() == "2"  # runs in the group
    expect(page.locator(".runs-wrap")).to_be_hidden()
    expect(page.locator("[data-table-folded]")).to_contain_text("folded into 2 groups of 4 runs")
    page.get_by_text("Group by:").click()  # close the picker
    panels = page.locator("[data-panel]:visible")
    for i in range(panels.count()):
        panels.nth(i).scroll_into_view_if_needed()
        expect(panels.nth(i)).to_have_attribute("data-state", "drawn")
        assert panels.nth(i).get_attribute("data-bands") == "2"
        assert set(panels.nth(i).get_attribute("data-runs").split(",")) == {
            "group:optimizer=adam",
            "group:optimizer=sgd",
        }
    # The adam group's line is the mean of its two runs, its band their minimum and maximum.
    lr = interactive(page.locator('[data-panel][data-key="lr"]')).evaluate(
        """p => { const d = p.data; const line = d.find(t => t.meta === 'group:optimizer=adam');
                  const i = d.indexOf(line); return {x: line.x[0], y: line.y[0], lo: d[i - 2].y[0], hi: d[i - 1].y[0]}; }"""
    )
    assert lr["x"] == 0
    assert lr["y"] == pytest.approx(0.015) and lr["lo"] == pytest.approx(0.01) and lr["hi"] == pytest.approx(0.02)
    page.locator("#workspace").evaluate("e => e.scrollIntoView()")
    screenshot(page, "workspace-groups", full_page=False)

    page.get_by_text("Group by:").click()
    page.get_by_label("params.optimizer").uncheck()
    expect(page.locator(".runs-wrap")).to_be_visible()
    expect(page.locator("[data-group-table] tbody tr")).to_have_count(0)

    # Which params matter for a metric: the learning rate, here, by correlation and by a forest.
    page.get_by_text("Parameter importance").click()
    page.get_by_label("For the metric").select_option("train/loss")
    importance = page.locator("[data-importance]")
    expect(importance).to_have_attribute("data-state", "drawn")
    expect(importance.locator("tbody tr")).to_have_count(2)
    expect(importance.locator('tr[data-param="lr"]')).to_contain_text("-0.")  # loss falls as lr grows
    page.get_by_text("Parameter importance").click()


def test_a_saved_view_reopens_by_its_url_and_is_the_default_next_time(page, pages, workspace):
    open_workspace(page, workspace, "?filter=metrics.lr+%3E+0.004")
    expect(page.locator("[data-run-count]")).to_contain_text("3 of 4 runs match")
    page.get_by_text("Group by:").click()
    page.get_by_label("params.optimizer").check()
    expect(page.locator("[data-group-table] tbody tr")).to_have_count(2)
    page.get_by_placeholder("name or regex: ^val/").fill("loss")
    page.get_by_placeholder("View name").fill("fast learners by optimizer")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator("[data-current-view]")).to_have_text("fast learners by optimizer")
    link = page.get_by_role("link", name="link", exact=True).get_attribute("href")
    assert link.startswith(f"/ui/experiments/{workspace.experiment_id}/views/")

    # A browser that forgot its workspace settings: the link shows the view as saved.
    other = pages(None)
    other.goto(f"{page.base}/ui/")
    other.evaluate(f"() => localStorage.removeItem('runstone.workspace.{workspace.experiment_id}')")
    other.goto(f"{page.base}{link}")
    expect(other.locator("[data-run-count]")).to_contain_text("3 of 4 runs match")
    other.locator("#workspace").scroll_into_view_if_needed()
    expect(other.locator("[data-group-table] tbody tr")).to_have_count(2)
    expect(other.get_by_placeholder("name or regex: ^val/")).to_have_value("loss")
    assert sorted(panel_runs(other)) == ["train/loss", "val/loss"]
    other.evaluate("() => window.scrollTo(0, 0)")
    screenshot(other, "saved-view", full_page=False)

    # The experiment page opened bare shows the view used last; "No saved view" leaves it.
    other.goto(f"{page.base}/ui/experiments/{workspace.experiment_id}")
    expect(other.locator("[data-current-view]")).to_have_text("fast learners by optimizer")
    other.get_by_text("Saved views (1)").click()
    other.get_by_role("link", name="No saved view").click()
    expect(other.locator("[data-current-view]")).to_have_count(0)
    other.goto(f"{page.base}/ui/experiments/{workspace.experiment_id}")
    expect(other.locator("[data-current-view]")).to_have_count(0)
    # Leave the workspace as the other tests expect it.
    other.get_by_placeholder("name or regex: ^val/").fill("")
    other.get_by_text("Group by:").click()
    other.get_by_label("params.optimizer").uncheck()
    expect(other.locator(".runs-wrap")).to_be_visible()


def test_images_have_a_step_slider_and_a_logged_table_sorts_and_filters_in_the_browser(page, workspace):
    open_workspace(page, workspace)
    images = page.locator('[data-image-key="samples/digits"]')
    images.scroll_into_view_if_needed()
    cells = images.locator("img")
    expect(cells).to_have_count(2)  # the two runs that logged images, side by side
    expect(images).to_have_attribute("data-step", "100")
    expect(cells.first).to_have_attribute("alt", re.compile(r"at step 100$"))
    slider = page.get_by_label("Step of samples/digits")
    slider.evaluate("s => { s.value = '1'; s.dispatchEvent(new Event('input')); }")
    expect(images).to_have_attribute("data-step", "50")
    expect(cells.nth(1)).to_have_attribute("alt", re.compile(r"at step 50$"))
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-image-key] img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert cells.first.evaluate("i => i.naturalWidth") == 16 + 50 // 10  # the image logged at step 50
    screenshot(page, "workspace-images", full_page=False)

    table = page.locator('[data-table="eval/predictions.json"]')
    table.scroll_into_view_if_needed()
    expect(table).to_have_attribute("data-state", "drawn")

    def column(name):
        index = TABLE_COLUMNS.index(name)
        return table.locator("tbody tr").evaluate_all(f"rows => rows.map(r => r.cells[{index}].textContent)")

    table.get_by_role("button", name="loss").click()
    assert column("loss") == ["0.125", "0.25", "0.5", "2"]
    table.get_by_role("button", name="loss ▲").click()
    assert column("loss") == ["2", "0.5", "0.25", "0.125"]
    page.get_by_label("Filter the rows of eval/predictions.json").fill("cat")
    assert column("label") == ["cat", "cat"]
    expect(table).to_contain_text("2 of 4 rows")
    table.scroll_into_view_if_needed()
    screenshot(page, "workspace-table", full_page=False)


def test_keyboard_shortcuts_and_dark_mode(page, workspace):
    page.emulate_media(color_scheme="dark")
    open_workspace(page, workspace)
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 25, 30)"  # the dark background, as the system asks
    page.locator("h1").click()  # focus on the page, not in a box
    page.keyboard.press("j")
    page.keyboard.press("j")
    second = page.locator("tr[data-run]").nth(1)
    expect(second).to_have_attribute("aria-current", "true")
    run_id = second.get_attribute("data-run")
    page.keyboard.press("x")
    expect(second.locator("input[name=run]")).to_be_checked()
    expect(page.locator("[data-workspace]")).to_have_attribute("data-runs", run_id)
    page.keyboard.press("x")
    expect(second.locator("input[name=run]")).not_to_be_checked()
    page.keyboard.press("h")
    expect(second).to_have_class(re.compile(r"\brun-hidden\b"))
    page.keyboard.press("h")
    expect(second).not_to_have_class(re.compile(r"\brun-hidden\b"))
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_contain_text("next run")
    page.keyboard.press("/")
    expect(page.locator("#filter")).to_be_focused()
    page.keyboard.press("j")  # typed into the filter, not a shortcut
    expect(page.locator("#filter")).to_have_value("j")
    page.keyboard.press("Escape")
    # On a run page, j and k go to the older and the newer run of the experiment.
    page.goto(f"{page.base}/ui/runs/{workspace.runs['adam-2']}")
    page.keyboard.press("j")
    expect(page.locator("h1")).to_contain_text("adam-1")
    page.keyboard.press("k")
    expect(page.locator("h1")).to_contain_text("adam-2")
    page.keyboard.press("k")
    expect(page.locator("h1")).to_contain_text("sgd-1")
    open_workspace(page, workspace)
    page.keyboard.press("w")
    panel_runs(page)
    page.locator("#workspace").evaluate("e => e.scrollIntoView()")
    screenshot(page, "workspace-dark", full_page=False)


def test_a_report_with_two_live_panels_and_a_table_exports_to_html_that_opens_offline(page, pages, workspace, tmp_path):
    page.goto(f"{page.base}/ui/reports")
    page.get_by_label("New report").fill("Optimizer study")
    page.get_by_role("button", name="Create").click()
    body = (
        "## Which optimizer?\n\nSGD with a higher learning rate converges **faster**.\n\n"
        f"@panel experiment={workspace.experiment_id} metric=train/loss runs=4\n"
        f"@panel experiment={workspace.experiment_id} metric=val/accuracy runs=2\n\n"
        "The runs compared:\n\n"
        f"@table experiment={workspace.experiment_id} columns=params.optimizer,params.lr,metrics.val/loss\n"
        f"@run id={workspace.runs['sgd-2']}\n"
    )
    page.get_by_label("Text (Markdown)").fill(body.replace("runs=2", "runs=two"))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Line 6: runs= is a number from 1 to 100.")
    page.allowed_errors.append("400 (Bad Request)")
    expect(page.get_by_label("Text (Markdown)")).to_have_value(
        body.replace("runs=2", "runs=two")
    )  # nothing typed is lost
    page.get_by_label("Text (Markdown)").fill(body)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Saved revision 2.")
    report_url = page.url

    panels = page.locator("[data-report-panel]")
    expect(panels).to_have_count(2)
    for i, lines in enumerate(("4", "2")):
        expect(panels.nth(i)).to_have_attribute("data-state", "drawn")
        assert panels.nth(i).get_attribute("data-lines") == lines
    table = page.locator("[data-report-table]")
    expect(table).to_have_attribute("data-rows", "4")
    expect(table.locator("thead")).to_contain_text("metrics.val/loss")
    expect(page.locator(".markdown strong")).to_have_text("faster")
    attached = page.locator("[data-report-run]")
    expect(attached).to_have_attribute("data-state", "drawn")
    expect(attached).to_contain_text("sgd-2")
    expect(attached).to_contain_text("FINISHED")
    screenshot(page, "report")

    # The history keeps every revision; an old one can be read.
    page.get_by_role("link", name="History").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    page.get_by_role("link", name="Revision 1").click()
    expect(page.locator(".page-head")).to_contain_text("Revision 1 of 2")

    # The export is one file that draws its charts and table with no network at all.
    exported = page.request.get(report_url.split("?")[0] + "/export.html")
    assert exported.status == 200 and "attachment" in exported.headers["content-disposition"]
    file = tmp_path / "report.html"
    file.write_bytes(exported.body())
    offline = pages(None)
    requested = []
    offline.route(
        "**/*",
        lambda route: (
            requested.append(route.request.url),
            route.continue_() if route.request.url.startswith("file:") else route.abort(),
        ),
    )
    offline.goto(file.as_uri())
    offline_panels = offline.locator("[data-report-panel]")
    for i, lines in enumerate(("4", "2")):
        expect(offline_panels.nth(i)).to_have_attribute("data-state", "drawn")
        assert offline_panels.nth(i).get_attribute("data-lines") == lines
    expect(offline.locator("[data-report-table]")).to_have_attribute("data-rows", "4")
    assert [u for u in requested if not u.startswith("file:")] == []


def test_many_runs_are_drawn_as_one_trace_per_colour(page, server):
    with remote(server.url) as client:
        experiment = client.create_experiment("workspace-many")
        ids = []
        for i in range(30):
            run_id = client.create_run(experiment, run_name=f"many-{i:02d}", start_time=T0 + i).info.run_id
            client.log_batch(run_id, metrics=[Metric("loss", 1 / (s + 1 + i), T0 + s, s) for s in range(10)])
            ids.append(run_id)
    page.goto(f"{page.base}/ui/experiments/{experiment}")
    page.get_by_label("How many runs to draw").select_option("50")
    page.locator("#workspace").scroll_into_view_if_needed()
    loss = page.locator('[data-panel][data-key="loss"]')
    expect(loss).to_have_attribute("data-state", "drawn")
    assert set(loss.get_attribute("data-runs").split(",")) == set(ids)
    assert loss.get_attribute("data-points") == str(30 * 10)
    traces = interactive(loss).evaluate("p => p.data.map(t => [t.line.color, t.text.filter(Boolean).length])")
    assert len(traces) <= 20 and len({c for c, _ in traces}) == len(traces)  # one trace per colour
    assert sum(n for _, n in traces) == 30 * 10  # each point still names its run on hover


MLFLOW_IMAGES = """
import os, sys, tempfile
import mlflow
import numpy as np
from PIL import Image

mlflow.set_experiment("mlflow-images")
with mlflow.start_run(run_name="logged-by-mlflow") as run:
    for step in (0, 4, 8):  # as wide as 8 + step pixels
        mlflow.log_image(np.full((6, 8 + step, 3), 30 * step, dtype=np.uint8), key="samples/digits", step=step)
    # The names MLflow clients before 3 gave (and runs imported from them carry): '%' for '+'.
    # This one's '%00' would read as a NUL if decoded once more.
    folder = tempfile.mkdtemp()
    name = "legacy%step%3%timestamp%1700000000000%00ab5c2e-7d1f-4e0a-9c3b-2f2e2e000000"
    Image.new("RGB", (10, 6)).save(os.path.join(folder, name + ".png"))
    Image.new("RGB", (5, 3)).save(os.path.join(folder, name + "%compressed.webp"))
    for file in sorted(os.listdir(folder)):
        mlflow.log_artifact(os.path.join(folder, file), "images")
print(run.info.experiment_id)
"""


def test_images_logged_by_the_stock_mlflow_client_have_a_step_slider(page, server, tmp_path):
    env = child_env({"MLFLOW_TRACKING_URI": server.url, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    env = {
        k: v
        for k, v in env.items()
        if not k.startswith("MLFLOW_") or k in ("MLFLOW_TRACKING_URI", "MLFLOW_DISABLE_TELEMETRY")
    }
    done = subprocess.run(
        [sys.executable, "-c", MLFLOW_IMAGES], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stderr[-5000:]
    experiment_id = done.stdout.strip().splitlines()[-1]
    page.goto(f"{page.base}/ui/experiments/{experiment_id}")
    page.locator("#workspace").scroll_into_view_if_needed()
    images = page.locator('[data-image-key="samples/digits"]')  # the key's '/' as MLflow wrote it, '~'
    images.scroll_into_view_if_needed()
    expect(images.locator("img")).to_have_count(1)  # the compressed copies are left out
    expect(images).to_have_attribute("data-step", "8")
    slider = page.get_by_label("Step of samples/digits")
    assert slider.get_attribute("max") == "2"  # steps 0, 4 and 8
    slider.evaluate("s => { s.value = '1'; s.dispatchEvent(new Event('input')); }")
    expect(images).to_have_attribute("data-step", "4")
    expect(images.locator("img")).to_have_attribute("alt", re.compile(r"at step 4$"))
    legacy = page.locator('[data-image-key="legacy"]')
    expect(legacy).to_have_attribute("data-step", "3")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-image-key] img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert images.locator("img").evaluate("i => i.naturalWidth") == 8 + 4  # the image logged at step 4
    assert legacy.locator("img").evaluate("i => i.naturalWidth") == 10  # the full image, not the compressed one
