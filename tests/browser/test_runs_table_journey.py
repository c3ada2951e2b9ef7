"""The runs table of a 500-run sweep, as a daily user lives in it, in a real headless Chromium."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from demo_data import SWEEP_T0
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# Where an element is drawn, and whether it is the topmost thing at its own centre (not hidden
# under another cell that scrolled over it).
ON_TOP = """e => {
  const box = e.getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return {left: box.left, top: box.top, onTop: e === hit || e.contains(hit)};
}"""


def row_names(page):
    return page.locator("table.runs tbody td.name > a:not(.kids)").all_inner_texts()


def headers(page):
    """(kind, label) of the chosen columns, after the fixed ones."""
    cells = page.locator("table.runs thead th[data-kind]")
    return [(th.get_attribute("data-kind"), th.locator("a").inner_text().rstrip(" ▲▼")) for th in cells.all()[7:]]


def test_the_header_row_and_the_run_names_stay_in_view_while_scrolling(page, sweep):
    page.set_viewport_size({"width": 1000, "height": 700})
    page.goto(f"{page.base}/ui/experiments/{sweep.experiment_id}?max=100")
    frame = page.locator(".runs-wrap")
    frame.evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY)")
    box = frame.evaluate(
        "e => { const b = e.getBoundingClientRect(); return {top: b.top, left: b.left, bottom: b.bottom}; }"
    )
    assert box["bottom"] <= 700  # the table's frame fits the screen: its scroll bars are in reach
    header = page.locator("table.runs thead th[data-col=run_name]")

    frame.evaluate("e => e.scrollTo(0, 2000)")  # 100 rows: far below the first screen
    placed = header.evaluate(ON_TOP)
    assert placed["onTop"]
    assert abs(placed["top"] - box["top"]) <= 1  # the header row stuck to the top of the table

    frame.evaluate("e => e.scrollTo(e.scrollWidth, 2000)")  # and all the way right
    assert frame.evaluate("e => e.scrollLeft") > 200  # the table is wider than the screen
    # The run name in the middle of the frame is still drawn, right of the selection boxes.
    name = page.evaluate(
        "([x, y]) => { const c = document.elementFromPoint(x, y).closest('td'); "
        "return {cls: c.className, left: c.getBoundingClientRect().left, text: c.innerText}; }",
        [box["left"] + 60, box["top"] + 300],
    )
    assert name["cls"] == "name" and re.search(r"\bcfg-0\d\d\b", name["text"])
    assert abs(name["left"] - (box["left"] + 1 + 32)) <= 1
    assert header.evaluate(ON_TOP)["onTop"]


def test_columns_say_what_they_are_and_default_to_what_varies(page, sweep):
    page.goto(f"{page.base}/ui/experiments/{sweep.experiment_id}")

    # Epochs is 10 in every run, so it is no default column; fold varies across the nested runs.
    defaults = [
        ("metric", "train/loss"),
        ("metric", "val/error"),
        ("param", "batch_size"),
        ("param", "fold"),
        ("param", "lr"),
        ("param", "optimizer"),
    ]
    assert headers(page) == defaults
    page.get_by_label("Flat list").check()
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile("flat=1"))
    assert headers(page) == defaults
    page.get_by_label("Filter").fill("params.fold = '2'")
    page.get_by_label("Filter").press("Enter")
    expect(page.locator("[data-run-count]")).to_have_text("100 of 500 runs match the filter")
    assert headers(page) == defaults

    # A param and a tag of the same name are told apart.
    page.get_by_text(re.compile(r"Columns \(\d+ shown\)")).click()
    page.get_by_placeholder("Find a key").fill("fold")
    page.locator(".picker-form fieldset", has_text="Tags").get_by_label("fold", exact=True).check()
    page.get_by_role("button", name="Show these columns").click()
    fold_param = page.locator('table.runs thead th[data-col="params.fold"]')
    fold_tag = page.locator('table.runs thead th[data-col="tags.fold"]')
    expect(fold_param).to_have_text(re.compile(r"^\s*param\s+fold"))
    expect(fold_tag).to_have_text(re.compile(r"^\s*tag\s+fold"))


def test_the_count_follows_the_filter_and_pages_go_both_ways(page, sweep):
    page.goto(f"{page.base}/ui/experiments/{sweep.experiment_id}?max=25")
    count = page.locator("[data-run-count]")
    expect(count).to_have_text("500 runs: 100 top-level, 400 nested under them")
    expect(page.locator(".pager")).to_contain_text("Page 1 of 4")
    first = row_names(page)
    assert first[:2] == ["cfg-099", "cfg-098"] and len(first) == 25

    page.get_by_role("link", name="Next page").click()
    expect(page.locator(".pager")).to_contain_text("Page 2 of 4")
    second = row_names(page)
    assert second[0] == "cfg-074"
    page.get_by_role("link", name="Next page").click()
    expect(page.locator(".pager")).to_contain_text("Page 3 of 4")
    page.get_by_role("link", name="Previous page").click()
    expect(page.locator(".pager")).to_contain_text("Page 2 of 4")
    assert row_names(page) == second
    page.get_by_role("link", name="Previous page").click()
    expect(page.locator(".pager")).to_contain_text("Page 1 of 4")
    assert row_names(page) == first
    expect(page.get_by_role("link", name="Previous page")).to_have_count(0)

    page.get_by_label("Filter").fill("attributes.status != 'FINISHED'")
    page.get_by_label("Filter").press("Enter")
    # Two failed parents, one killed, the two running parents and their eight running folds.
    expect(count).to_have_text("13 of 500 runs match the filter")


def test_the_selection_survives_paging_and_the_back_button(page, sweep):
    page.goto(f"{page.base}/ui/experiments/{sweep.experiment_id}?max=25")
    counter = page.locator("[data-selection]")
    page.get_by_label("Select cfg-099", exact=True).check()
    page.get_by_label("Select cfg-098", exact=True).check()
    expect(counter).to_have_text("2 selected:")

    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_label("Select cfg-070", exact=True)).not_to_be_checked()
    expect(counter).to_have_text("2 selected (0 on this page):")
    page.get_by_label("Select cfg-070", exact=True).check()
    expect(counter).to_have_text("3 selected (1 on this page):")

    page.get_by_role("link", name="Previous page").click()
    expect(page.get_by_label("Select cfg-099", exact=True)).to_be_checked()
    expect(page.get_by_label("Select cfg-098", exact=True)).to_be_checked()
    expect(counter).to_have_text("3 selected (2 on this page):")
    page.get_by_label("Select cfg-098", exact=True).uncheck()

    page.go_back()  # page 2 again, from the browser's history
    expect(page.get_by_label("Select cfg-070", exact=True)).to_be_checked()
    expect(counter).to_have_text("2 selected (1 on this page):")
    assert page.locator("table.runs tbody input[name=run]:checked").count() == 1

    page.get_by_role("button", name="Compare").click()  # with the run ticked on the other page
    expect(page.get_by_role("heading", name="Compare 2 runs")).to_be_visible()
    compared = page.locator("table.compared-runs tbody th a").all_inner_texts()
    assert sorted(compared) == ["cfg-070", "cfg-099"]

    page.go_back()
    page.get_by_role("button", name="Clear selection").click()
    expect(counter).to_have_text("Select runs for these actions:")
    expect(page.get_by_label("Select cfg-070", exact=True)).not_to_be_checked()


def test_nested_runs_unfold_under_their_parent(page, sweep):
    page.goto(f"{page.base}/ui/experiments/{sweep.experiment_id}?max=25")
    assert "cfg-099-fold0" not in row_names(page)
    parent = page.locator("table.runs tbody tr", has_text="cfg-097").first
    expect(parent.locator(".kids")).to_have_text("4 nested runs")

    page.get_by_role("button", name="Show the 4 nested runs of cfg-097").click()
    nested = page.locator(f'table.runs tbody tr[data-parent="{sweep.parents["cfg-097"]}"]')
    expect(nested).to_have_count(4)
    names = row_names(page)
    at = names.index("cfg-097")
    assert names[at : at + 6] == ["cfg-097", *(f"cfg-097-fold{f}" for f in range(4)), "cfg-096"]
    assert nested.first.get_attribute("class").startswith("depth-1")
    # The nested rows have the same columns, filled in.
    assert nested.first.locator("td").count() == parent.locator("td").count()
    expect(nested.first.locator("td").nth(-3)).to_have_text("0")  # param fold of fold 0

    page.reload()  # unfolded stays unfolded in this tab
    expect(nested).to_have_count(4)
    page.get_by_role("button", name="Hide the 4 nested runs of cfg-097").click()
    expect(nested).to_have_count(0)


def test_running_runs_count_their_elapsed_time(page, sweep):
    started = SWEEP_T0 + 99 * 600_000  # cfg-099 still runs
    page.clock.install(time=datetime.fromtimestamp((started + 3_600_000) / 1000, UTC))
    page.goto(f"{page.base}/ui/experiments/{sweep.experiment_id}?max=25")
    duration = page.locator(f'tr[data-run="{sweep.parents["cfg-099"]}"] td').nth(4)
    expect(duration).to_have_text("1 h 0 min so far")
    finished = page.locator(f'tr[data-run="{sweep.parents["cfg-097"]}"] td').nth(4)
    expect(finished).to_have_text("1 min 46 s")

    page.clock.run_for(125_000)
    expect(duration).to_have_text("1 h 2 min so far")


def test_sorting_starts_with_the_best_and_remembers_the_direction(page, sweep):
    page.goto(f"{page.base}/ui/experiments/{sweep.experiment_id}?flat=1&max=25")
    page.get_by_role("link", name="val/error", exact=True).click()  # an error: lowest first
    expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("val/error")
    lowest = page.locator("table.runs tbody tr").first.locator("td").nth(9).inner_text()
    page.get_by_role("link", name=re.compile(r"^val\/error")).click()
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("val/error")
    assert float(page.locator("table.runs tbody tr").first.locator("td").nth(9).inner_text()) > float(lowest)

    page.get_by_role("link", name="batch_size", exact=True).click()  # a param: A to Z first
    expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("batch_size")
    # Back on val/error, the first click sorts the way it was sorted last.
    page.get_by_role("link", name="val/error", exact=True).click()
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("val/error")


def test_export_the_view_as_csv(page, sweep):
    page.goto(f"{page.base}/ui/experiments/{sweep.experiment_id}")
    page.get_by_label("Filter").fill("params.optimizer = 'adam'")
    page.get_by_label("Filter").press("Enter")
    expect(page.locator("[data-run-count]")).to_have_text("165 of 500 runs match the filter")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename == "fold-sweep-runs.csv"
    text = download.value.path().read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 165  # every page, the nested runs too
    assert {r["params.optimizer"] for r in rows} == {"adam"}
    assert list(rows[0])[-6:] == [
        "metrics.train/loss",
        "metrics.val/error",
        "params.batch_size",
        "params.fold",
        "params.lr",
        "params.optimizer",
    ]
    folds = [r for r in rows if r["parent_run_id"]]
    assert len(folds) == 132 and all(r["params.fold"] in "0123" for r in folds)
