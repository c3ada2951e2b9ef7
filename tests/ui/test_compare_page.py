"""Compare runs, and the chart data that the run and compare pages fetch."""

from __future__ import annotations

import json
import math
import re
from html import unescape

import pytest
from ui_support import cells

from runstone.entities import Metric


@pytest.fixture
def three(client):
    first = client.create_experiment("first")
    second = client.create_experiment("second")
    ids = []
    for i, (exp_id, opt) in enumerate([(first, "sgd"), (first, "adam"), (second, "sgd")]):
        run_id = client.create_run(exp_id, run_name=f"c{i}").info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0 / (i + 1), 1, 0), Metric("acc", 0.5 + i / 10, 1, 0)],
            params=[("lr", str(0.1 * (i + 1))), ("opt", opt), ("epochs", "10")],
        )
        ids.append(run_id)
    return ids


def compare_url(ids, **extra):
    return "/ui/compare?" + "&".join([f"run={r}" for r in ids] + [f"{k}={v}" for k, v in extra.items()])


def test_compare_runs_from_several_experiments(browser, three):
    page = browser.get(compare_url(three)).text

    assert "Compare 3 runs" in page
    assert 'href="/ui/experiments/' in page and ">first<" in page and ">second<" in page
    assert cells(page, '<th scope="row">opt</th>') == ["opt", "sgd", "adam", "sgd"]
    assert cells(page, '<th scope="row">epochs</th>') == ["epochs", "10", "10", "10"]
    data = json.loads(
        unescape(re.search(r'<script type="application/json" id="compare-data">(.*?)</script>', page, re.S).group(1))
    )
    assert [r["name"] for r in data["runs"]] == ["c0", "c1", "c2"]
    assert data["numeric_params"] == ["epochs", "lr"]
    assert data["runs"][1]["metrics"] == {"acc": 0.6}  # only what the page draws: the chosen metric and axes
    assert 'data-parallel data-metric="acc"' in page
    assert 'data-scatter data-x="params.epochs" data-y="metrics.acc"' in page


def test_only_differences_hides_params_that_agree(browser, three):
    page = browser.get(compare_url(three, diff=1)).text

    assert '<th scope="row">opt</th>' in page
    assert '<th scope="row">epochs</th>' not in page


def test_choices_of_the_page_are_in_the_url(browser, three):
    page = browser.get(compare_url(three, metric="loss", x="params.lr", y="metrics.loss", chart="loss")).text

    assert 'data-parallel data-metric="loss"' in page
    assert 'data-scatter data-x="params.lr" data-y="metrics.loss"' in page
    assert page.count("data-chart ") == 1
    unknown = browser.get(compare_url(three, x="params.nope")).text
    assert 'data-x="params.epochs"' in unknown  # an unknown axis falls back to a sensible one


def test_compare_needs_between_two_and_a_hundred_known_runs(browser, three):
    assert browser.get(compare_url(three[:1])).status_code == 400
    assert browser.get(compare_url([f"{i:032x}" for i in range(101)])).status_code == 400
    missing = browser.get(compare_url([three[0], "f" * 32]))
    assert missing.status_code == 404
    assert "No run with id" in missing.text


def test_compare_page_may_use_webgl_others_may_not_eval(browser, three):
    compare = browser.get(compare_url(three)).headers["content-security-policy"]
    run = browser.get(f"/ui/runs/{three[0]}").headers["content-security-policy"]
    assert "'unsafe-eval'" in compare
    assert "'unsafe-eval'" not in run


def test_histories_are_downsampled_keeping_spikes(browser, client):
    run_id = client.create_run(client.create_experiment("h")).info.run_id
    points = [Metric("loss", 1.0 if step != 5_000 else 50.0, 1000 + step, step) for step in range(10_000)]
    points[7] = Metric("loss", math.nan, 1007, 7)
    points[8_000] = Metric("loss", -30.0, 9000, 8_000)
    for i in range(0, len(points), 5000):
        client.log_batch(run_id, metrics=points[i : i + 5000])

    body = browser.get("/ui/data/histories", params={"key": "loss", "run": run_id, "max_points": 200}).json()

    series = body["runs"][run_id]
    assert len(series["steps"]) <= 200
    assert series["downsampled"] is True
    assert max(v for v in series["values"] if v is not None) == 50.0  # the spike survives
    assert min(v for v in series["values"] if v is not None) == -30.0  # and so does the dip
    assert series["steps"] == sorted(series["steps"])
    zoom = browser.get(
        "/ui/data/histories", params={"key": "loss", "run": run_id, "start_step": 0, "end_step": 9}
    ).json()
    assert zoom["runs"][run_id]["steps"] == list(range(10))
    assert zoom["runs"][run_id]["values"][7] is None  # NaN is a gap


def test_histories_of_several_runs_and_bad_requests(browser, three):
    body = browser.get("/ui/data/histories", params=[("key", "loss"), ("run", three[0]), ("run", three[2])]).json()
    assert set(body["runs"]) == {three[0], three[2]}
    assert body["runs"][three[2]]["values"] == [pytest.approx(1 / 3)]

    no_runs = browser.get("/ui/data/histories", params={"key": "loss"})
    assert no_runs.status_code == 400
    assert no_runs.json()["error"]["message"] == "Name at least one run."
    too_few = browser.get("/ui/data/histories", params={"key": "loss", "run": three[0], "max_points": 1})
    assert too_few.status_code == 400
    backwards = browser.get(
        "/ui/data/histories", params={"key": "loss", "run": three[0], "start_step": 5, "end_step": 1}
    )
    assert "start_step 5 is after end_step 1" in backwards.json()["error"]["message"]


def test_a_run_of_another_experiment_can_be_added_by_id(browser, three, client):
    extra = client.create_run(client.create_experiment("third"), run_name="extra").info.run_id
    page = browser.get(compare_url(three[:2])).text
    form = page.split('<label for="add-run">')[0].rsplit("<form", 1)[1]
    kept = re.findall(r'name="run" value="([0-9a-f]{32})"', form)
    assert kept == three[:2]

    added = browser.get("/ui/compare", params=[("run", r) for r in [*kept, extra]]).text
    assert "Compare 3 runs" in added and ">third<" in added


def test_a_long_table_of_metric_values_starts_folded(browser, three, client):
    page = browser.get(compare_url(three)).text
    assert '<details class="metric-values" open>' in page  # two metrics: shown at once

    many = []
    for i in range(2):
        run_id = client.create_run("0", run_name=f"wide{i}").info.run_id
        client.log_batch(run_id, metrics=[Metric(f"m{k:02d}", k + i, 1, 0) for k in range(25)])
        many.append(run_id)
    page = browser.get(compare_url(many)).text
    assert '<details class="metric-values">' in page  # 25 metrics: folded, still in the page
    assert cells(page, 'data-key="m24"') == ["m24 highest is best", "24", "25 (best)"]


def test_the_page_carries_the_values_of_the_metrics_it_draws(browser, three):
    page = browser.get(compare_url(three, metric="acc", x="metrics.loss", y="params.lr")).text
    data = json.loads(
        unescape(re.search(r'<script type="application/json" id="compare-data">(.*?)</script>', page, re.S).group(1))
    )
    assert [r["metrics"] for r in data["runs"]] == [
        {"acc": 0.5, "loss": 1.0},
        {"acc": 0.6, "loss": 0.5},
        {"acc": 0.7, "loss": 1 / 3},
    ]
    assert 'data-scatter data-x="metrics.loss" data-y="params.lr"' in page


def test_the_best_value_of_each_metric_is_marked(browser, three):
    page = browser.get(compare_url(three)).text

    # Lowest is best for a loss, highest for anything else.
    assert cells(page, 'data-key="loss"') == ["loss lowest is best", "1", "0.5", "0.333333 (best)"]
    assert cells(page, 'data-key="acc"') == ["acc highest is best", "0.5", "0.6", "0.7 (best)"]
    assert page.count('class="num best"') == 2


def test_a_run_can_be_removed_from_the_comparison(browser, three):
    page = browser.get(compare_url(three, metric="loss")).text

    link = unescape(re.search(r'<a href="([^"]*)" aria-label="Remove c1 from the comparison"', page).group(1))
    assert three[1] not in link and three[0] in link and three[2] in link
    assert "metric=loss" in link  # the rest of the page's choices stay
    smaller = browser.get("/ui/compare" + link).text
    assert "Compare 2 runs" in smaller
    assert "Remove c0" not in smaller  # two runs are the fewest a comparison has


def test_more_runs_than_compare_takes_are_offered_ways_forward(browser, client):
    exp_id = client.create_experiment("wide sweep")
    ids = []
    for i in range(104):
        run_id = client.create_run(exp_id, start_time=1000 + i, run_name=f"s{i:03d}").info.run_id
        client.log_batch(run_id, metrics=[Metric("loss", 1 / (i + 1), 1, 0)], params=[("lr", str(10 ** -(i % 4)))])
        ids.append(run_id)
    back = f"/ui/experiments/{exp_id}?filter=metrics.loss+%3C+0.5&order=metrics.loss+ASC"

    moved = browser.post(
        f"/ui/experiments/{exp_id}/runs", {"action": "compare", "run": ids, "next": back}, follow=False
    )
    assert moved.status_code == 303  # to a page that Back and reload can show again
    page = browser.get(moved.headers["location"])

    assert page.status_code == 200
    assert "Compare 104 runs" in page.text
    first = unescape(re.search(r'<a href="([^"]*)" data-way="first"', page.text).group(1))
    assert re.findall(r"run=([0-9a-f]{32})", first) == ids[:100]
    view = unescape(re.search(r'<a href="([^"]*)" data-way="experiment"', page.text).group(1))
    assert view == f"/ui/compare?experiment={exp_id}&filter=metrics.loss+%3C+0.5&order=metrics.loss+ASC"
    assert f'<a href="/ui/experiments/{exp_id}?filter=metrics.loss+%3C+0.5&amp;order=metrics.loss+ASC">' in page.text

    experiment_view = browser.get(view).text
    assert "Compare 102 runs of wide sweep" in experiment_view  # all but s000 and s001 (loss 1 and 0.5)
    assert "draw all 102 runs; the tables and metric charts show the first 100" in experiment_view
    data = json.loads(
        unescape(
            re.search(r'<script type="application/json" id="compare-data">(.*?)</script>', experiment_view, re.S).group(
                1
            )
        )
    )
    assert len(data["runs"]) == 102
    assert data["runs"][0]["name"] == "s103"  # the table's order: lowest loss first
    assert len(re.findall(r'<tr data-run="', experiment_view)) == 100
    assert 'name="experiment" value="' in experiment_view  # the page's own forms keep the view


def test_the_experiment_view_needs_two_runs(browser, client):
    exp_id = client.create_experiment("lonely")
    client.create_run(exp_id)
    response = browser.get("/ui/compare", params={"experiment": exp_id})
    assert response.status_code == 400
    assert "compares 2 runs or more; 1 match" in response.text
