"""The runs table: columns, sorting, filtering, paging, nesting and bulk actions, all in the URL."""

from __future__ import annotations

import re
import threading
from html import unescape

import pytest
from ui_support import cells, table_run_ids, text

from runstone.entities import Metric


@pytest.fixture
def sweep(client):
    """An experiment of five runs with params, metrics, source and git tags."""
    exp_id = client.create_experiment("sweep")
    ids = {}
    for i, loss in enumerate([0.5, 0.1, 0.9, 0.3, 0.7]):
        run = client.create_run(
            exp_id,
            start_time=1_700_000_000_000 + i * 1000,
            run_name=f"r{i}",
            tags={
                "runstone.source.name": "train.py",
                "runstone.source.git.commit": f"{i}abcdef0123456789",
                "runstone.source.git.dirty": "true" if i == 1 else "false",
            },
        )
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("loss", loss, 1, 0), Metric("acc", 1 - loss, 1, 0)],
            params=[("lr", str(0.1 * (i + 1))), ("opt", "sgd" if i % 2 else "adam")],
            tags=[("team", "a" if i < 3 else "b")],
        )
        client.set_terminated(run.info.run_id, end_time=1_700_000_000_000 + i * 1000 + 65_000)
        ids[f"r{i}"] = run.info.run_id
    return exp_id, ids


def names(html, ids):
    by_id = {v: k for k, v in ids.items()}
    return [by_id[r] for r in table_run_ids(html)]


def headers(page):
    """(kind, label) of each column header after the selection box."""
    found = re.findall(r'<th scope="col"[^>]*data-kind="(\w+)"[^>]*>(.*?)</th>', page, re.S)
    return [(kind, " ".join(unescape(re.sub(r"<[^>]+>", " ", h)).split()[1:])) for kind, h in found]


def test_default_columns_and_fixed_attributes(browser, sweep, client):
    exp_id, ids = sweep

    page = browser.get(f"/ui/experiments/{exp_id}").text

    assert headers(page)[:7] == [
        ("attribute", "Run"),
        ("attribute", "Status"),
        ("attribute", "Started (UTC) ▼"),  # the default order
        ("attribute", "Duration"),
        ("attribute", "User"),
        ("tag", "Source"),
        ("tag", "Git commit"),
    ]
    assert headers(page)[7:] == [("metric", "acc"), ("metric", "loss"), ("param", "lr"), ("param", "opt")]
    row = cells(page, f'data-run="{ids["r1"]}"')
    assert row[1:] == [
        "r1",
        "FINISHED",
        "2023-11-14 22:13:21",
        "1 min 5 s",
        client.user,
        "train.py",
        "1abcdef0 dirty",
        "0.9",
        "0.1",
        "0.2",
        "sgd",
    ]
    assert names(page, ids) == ["r4", "r3", "r2", "r1", "r0"]  # newest first


def test_chosen_columns_live_in_the_url(browser, sweep):
    exp_id, ids = sweep

    page = browser.get(
        f"/ui/experiments/{exp_id}", params=[("cols", "1"), ("col", "tags.team"), ("col", "metrics.loss")]
    ).text

    assert cells(page, f'data-run="{ids["r4"]}"')[-2:] == ["b", "0.7"]
    assert ">lr<" not in page
    # Sorting keeps the chosen columns.
    sort_link = re.search(r'href="\?([^"]*)" title="Sort by the metric loss"', page).group(1)
    assert "col=tags.team" in unescape(sort_link)
    assert "col=metrics.loss" in unescape(sort_link)
    none = browser.get(f"/ui/experiments/{exp_id}", params={"cols": "1"}).text
    assert len(cells(none, f'data-run="{ids["r4"]}"')) == 8  # no chosen columns at all


def test_sort_by_metric_param_and_attribute(browser, sweep):
    exp_id, ids = sweep
    url = f"/ui/experiments/{exp_id}"

    assert names(browser.get(url, params={"order": "metrics.loss ASC"}).text, ids) == ["r1", "r3", "r0", "r4", "r2"]
    assert names(browser.get(url, params={"order": "params.lr DESC"}).text, ids)[0] == "r4"
    assert names(browser.get(url, params={"order": "attributes.run_name ASC"}).text, ids) == [
        "r0",
        "r1",
        "r2",
        "r3",
        "r4",
    ]
    page = browser.get(url, params={"order": "metrics.loss ASC"}).text
    assert 'aria-sort="ascending"' in page
    assert "order=metrics.loss+DESC" in page  # clicking again reverses


def test_filter_uses_the_sdk_grammar(browser, sweep):
    exp_id, ids = sweep

    page = browser.get(f"/ui/experiments/{exp_id}", params={"filter": "metrics.loss < 0.6 and tags.team = 'a'"}).text

    assert sorted(names(page, ids)) == ["r0", "r1"]
    assert 'value="metrics.loss &lt; 0.6 and tags.team = &#39;a&#39;"' in page


def test_filter_errors_are_shown_inline_with_their_position(browser, sweep):
    exp_id, _ = sweep

    response = browser.get(f"/ui/experiments/{exp_id}", params={"filter": "metrics.loss << 1"})

    assert response.status_code == 400
    page = response.text
    assert 'aria-invalid="true"' in page
    assert "Invalid filter at position 15" in page
    caret = re.search(r'<pre class="caret"[^>]*>(.*?)</pre>', page, re.S).group(1)
    assert caret.split("\n")[1] == " " * 14 + "^"
    assert "Fix the filter to see runs." in page


def test_pages_follow_keyset_tokens(browser, client):
    exp_id = client.create_experiment("many")
    created = [client.create_run(exp_id, start_time=1_000 + i, run_name=f"n{i:02d}").info.run_id for i in range(25)]

    seen = []
    url = f"/ui/experiments/{exp_id}?max=10"
    pages = 0
    while url:
        page = browser.get(url).text
        pages += 1
        seen += table_run_ids(page)
        found = re.search(r'<a href="\?([^"]*)" rel="next">', page)
        url = f"/ui/experiments/{exp_id}?" + unescape(found.group(1)) if found else None
        if pages == 2:
            assert "Page 2 of 3" in page and "Previous page" in page and "First page" not in page
        if pages == 3:
            assert "First page" in page
            previous = re.search(r'<a href="\?([^"]*)" rel="prev">', page).group(1)

    assert pages == 3
    assert seen == list(reversed(created))
    # Previous page walks the keyset back: page 3's previous is page 2, and page 2's is the first.
    second = browser.get(f"/ui/experiments/{exp_id}?" + unescape(previous)).text
    assert table_run_ids(second) == seen[10:20]
    assert "Page 2 of 3" in second
    first = re.search(r'<a href="\?([^"]*)" rel="prev">', second).group(1)
    assert "page_token" not in unescape(first)
    assert table_run_ids(browser.get(f"/ui/experiments/{exp_id}?" + unescape(first)).text) == seen[:10]


def test_nested_runs_are_shown_under_their_parent(browser, client):
    exp_id = client.create_experiment("nest")
    parent = client.create_run(exp_id, start_time=1000, run_name="parent").info.run_id
    kids = [
        client.create_run(exp_id, start_time=2000 + i, run_name=f"kid{i}", parent_run_id=parent).info.run_id
        for i in range(2)
    ]
    grandkid = client.create_run(exp_id, start_time=3000, run_name="grandkid", parent_run_id=kids[0]).info.run_id
    loner = client.create_run(exp_id, start_time=4000, run_name="loner").info.run_id

    page = browser.get(f"/ui/experiments/{exp_id}").text

    # Nested runs are folded under their parent, which says how many it holds.
    assert table_run_ids(page) == [loner, parent]
    assert cells(page, f'data-run="{parent}"')[1] == "▸ parent 2 nested runs"
    assert "5 runs: 2 top-level, 3 nested under them" in text(page)
    # Unfolding asks for the rows of the parent's nested runs, one level at a time.
    level = browser.get(f"/ui/experiments/{exp_id}/children", params={"parent": parent, "depth": "1"}).text
    assert table_run_ids(level) == kids
    assert f'class="depth-1" data-run="{kids[0]}" data-depth="1" data-parent="{parent}"' in level
    assert cells(level, f'data-run="{kids[0]}"')[1] == "↳ nested run: ▸ kid0 1 nested run"
    deeper = browser.get(f"/ui/experiments/{exp_id}/children", params={"parent": kids[0], "depth": "2"}).text
    assert table_run_ids(deeper) == [grandkid]
    assert f'class="depth-2" data-run="{grandkid}"' in deeper
    # Without JavaScript, the count links to the nested runs listed flat.
    link = unescape(re.search(r'<a class="kids" href="\?([^"]*)"', page).group(1))
    listed = browser.get(f"/ui/experiments/{exp_id}?" + link).text
    assert table_run_ids(listed) == [kids[1], kids[0]]
    # With a filter, matching runs are listed flat and name their parent.
    flat = browser.get(f"/ui/experiments/{exp_id}", params={"filter": "attributes.run_name LIKE 'kid%'"}).text
    assert table_run_ids(flat) == [kids[1], kids[0]]
    assert f'child of <a href="/ui/runs/{parent}">parent</a>' in flat


def test_bulk_delete_restore_tag_and_move(browser, sweep, client):
    exp_id, ids = sweep
    other = client.create_experiment("elsewhere")
    back = f"/ui/experiments/{exp_id}"

    tagged = browser.post(
        f"/ui/experiments/{exp_id}/runs",
        {"action": "tag", "run": [ids["r0"], ids["r1"]], "tag_key": "stage", "tag_value": "gold", "next": back},
    )
    assert "Tagged 2 run(s)" in tagged.text
    assert client.get_run(ids["r1"]).data.tags["stage"] == "gold"

    browser.post(f"/ui/experiments/{exp_id}/runs", {"action": "delete", "run": [ids["r2"]], "next": back})
    assert client.get_run(ids["r2"]).info.lifecycle_stage == "deleted"
    assert ids["r2"] not in table_run_ids(browser.get(back).text)
    assert table_run_ids(browser.get(back, params={"view": "deleted"}).text) == [ids["r2"]]
    browser.post(
        f"/ui/experiments/{exp_id}/runs", {"action": "restore", "run": [ids["r2"]], "next": back + "?view=deleted"}
    )
    assert client.get_run(ids["r2"]).info.lifecycle_stage == "active"

    moved = browser.post(
        f"/ui/experiments/{exp_id}/runs", {"action": "move", "run": [ids["r3"]], "target": other, "next": back}
    )
    assert "Moved 1 run(s) to experiment &#39;elsewhere&#39;" in moved.text
    assert client.get_run(ids["r3"]).info.experiment_id == other
    assert ids["r3"] in table_run_ids(browser.get(f"/ui/experiments/{other}").text)


def test_compare_needs_two_selected_runs(browser, sweep):
    exp_id, ids = sweep

    one = browser.post(f"/ui/experiments/{exp_id}/runs", {"action": "compare", "run": [ids["r0"]]})
    assert "Select at least 2 runs to compare" in one.text
    nothing = browser.post(f"/ui/experiments/{exp_id}/runs", {"action": "delete"})
    assert "Select at least one run" in nothing.text
    two = browser.post(
        f"/ui/experiments/{exp_id}/runs", {"action": "compare", "run": [ids["r0"], ids["r1"]]}, follow=False
    )
    assert two.headers["location"] == f"/ui/compare?run={ids['r0']}&run={ids['r1']}"


def test_column_picker_lists_every_key_of_the_experiment(browser, sweep, client):
    exp_id, _ = sweep
    elsewhere = client.create_run(client.create_experiment("other"))
    client.log_metric(elsewhere.info.run_id, "not-here", 1.0)

    page = browser.get(f"/ui/experiments/{exp_id}/columns", params=[("cols", "1"), ("col", "metrics.loss")]).text

    for key in ("metrics.acc", "metrics.loss", "params.lr", "params.opt", "tags.team", "tags.runstone.source.name"):
        assert f'value="{key}"' in page
    assert "not-here" not in page
    assert 'value="metrics.loss" checked' in page
    assert 'value="metrics.acc">' in page
    fragment = browser.get(f"/ui/experiments/{exp_id}/columns", params={"fragment": "1"}).text
    assert fragment.lstrip().startswith('<form method="get" action="/ui/experiments/')


def test_the_page_costs_the_same_number_of_queries_for_few_or_many_runs(browser, client, app):
    from sqlalchemy import event

    engine = app.state.backend.db.engine
    exp_id = client.create_experiment("q")
    statements = []

    def count(*_args):
        # Background threads of the server (webhook deliveries) query on their own schedule.
        if not threading.current_thread().name.startswith("runstone-"):
            statements.append(1)

    def queries_for_page():
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert browser.get(f"/ui/experiments/{exp_id}").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    for i in range(3):
        client.log_batch(
            client.create_run(exp_id).info.run_id, metrics=[Metric("m", float(i), 1, 0)], params=[("p", "1")]
        )
    few = queries_for_page()
    for i in range(30):
        client.log_batch(
            client.create_run(exp_id).info.run_id, metrics=[Metric("m", float(i), 1, 0)], params=[("p", "1")]
        )
    many = queries_for_page()

    assert few == many


def test_bad_query_strings_are_explained(browser, sweep):
    exp_id, _ = sweep

    bad_size = browser.get(f"/ui/experiments/{exp_id}", params={"max": "0"})
    bad_col = browser.get(f"/ui/experiments/{exp_id}", params={"col": "bogus"})
    bad_token = browser.get(f"/ui/experiments/{exp_id}", params={"page_token": "nonsense"})

    assert bad_size.status_code == 400 and "Page size must be between 1 and 1000" in bad_size.text
    assert bad_col.status_code == 400 and "Unknown column" in bad_col.text
    assert bad_token.status_code == 400 and "Invalid page token" in bad_token.text


def test_a_bulk_action_that_fails_part_way_says_how_far_it_got(browser, sweep, client):
    exp_id, ids = sweep
    client.delete_run(ids["r1"])

    page = browser.post(f"/ui/experiments/{exp_id}/runs", {"action": "delete", "run": [ids["r0"], ids["r1"]]})

    assert "Deleted 1 of 2 runs, then stopped" in page.text
    assert "is already deleted" in page.text


def test_default_columns_are_the_keys_that_vary_whatever_the_filter_or_layout(browser, client):
    exp_id = client.create_experiment("vary")
    parent = client.create_run(exp_id, start_time=1000, run_name="parent").info.run_id
    client.log_batch(parent, metrics=[Metric("val/error", 0.3, 1, 0)], params=[("lr", "0.1"), ("epochs", "10")])
    for fold in range(3):
        kid = client.create_run(exp_id, start_time=2000 + fold, run_name=f"fold{fold}", parent_run_id=parent)
        client.log_batch(
            kid.info.run_id,
            metrics=[Metric("val/error", 0.2 + fold / 10, 1, 0), Metric("constant", 1.0, 1, 0)],
            params=[("lr", "0.1"), ("epochs", "10"), ("fold", str(fold)), ("seed", "7")],
            tags=[("fold", str(fold))],
        )
    url = f"/ui/experiments/{exp_id}"

    shown = headers(browser.get(url).text)[7:]
    filtered = headers(browser.get(url, params={"filter": "params.fold = '1'"}).text)[7:]
    flat = headers(browser.get(url, params={"flat": "1"}).text)[7:]

    # epochs, seed, lr and the constant metric are the same in every run that has them.
    assert shown == [("metric", "val/error"), ("param", "fold")]
    assert filtered == shown and flat == shown
    # A param and a tag of the same name say which is which.
    both = browser.get(url, params=[("cols", "1"), ("col", "params.fold"), ("col", "tags.fold")]).text
    assert headers(both)[7:] == [("param", "fold"), ("tag", "fold")]


def test_the_header_counts_the_runs_that_match_the_filter(browser, sweep):
    exp_id, _ = sweep
    url = f"/ui/experiments/{exp_id}"

    assert "Experiment 1 · 5 runs · created" in text(browser.get(url).text)
    matched = text(browser.get(url, params={"filter": "metrics.loss < 0.6"}).text)
    assert "3 of 5 runs match the filter" in matched
    assert "Page 1 of 1" in matched
    assert "0 of 5 runs match the filter" in text(browser.get(url, params={"filter": "metrics.loss > 5"}).text)


def test_first_click_sorts_losses_up_and_other_metrics_down(browser, sweep):
    exp_id, _ = sweep
    page = browser.get(f"/ui/experiments/{exp_id}").text

    def link(label):
        return unescape(re.search(rf'href="\?([^"]*)" title="Sort by the {label}"', page).group(1))

    assert "order=metrics.loss+ASC" in link("metric loss")
    assert "order=metrics.acc+DESC" in link("metric acc")
    assert "order=params.lr+ASC" in link("param lr")
    assert "order=attributes.duration+DESC" in link("attribute Duration")


def test_running_runs_show_how_long_they_have_run(browser, client):
    import time

    exp_id = client.create_experiment("live")
    started = int(time.time() * 1000) - 125_000
    running = client.create_run(exp_id, start_time=started, run_name="live").info.run_id

    page = browser.get(f"/ui/experiments/{exp_id}").text

    duration = cells(page, f'data-run="{running}"')[4]
    assert re.fullmatch(r"2 min \d+ s so far", duration), duration
    assert f'data-since="{started}"' in page  # the browser keeps counting from there


def test_export_the_current_view_as_csv(browser, sweep, client):
    import csv
    import io

    exp_id, ids = sweep
    client.set_tag(ids["r0"], "team", '=HYPERLINK("http://evil")')
    response = browser.get(
        f"/ui/experiments/{exp_id}/runs.csv",
        params=[
            ("filter", "params.opt = 'adam'"),
            ("order", "metrics.loss ASC"),
            ("cols", "1"),
            ("col", "metrics.loss"),
            ("col", "tags.team"),
        ],
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="sweep-runs.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["run_name"] for r in rows] == ["r0", "r4", "r2"]  # adam runs, lowest loss first
    assert list(rows[0])[:4] == ["run_id", "run_name", "status", "start_time"]
    assert list(rows[0])[-2:] == ["metrics.loss", "tags.team"]
    assert rows[1]["metrics.loss"] == "0.7" and rows[1]["duration_s"] == "65.0"
    assert rows[1]["start_time"] == "2023-11-14T22:13:24.000Z"
    assert rows[0]["tags.team"] == '\'=HYPERLINK("http://evil")'  # never run as a formula


def test_export_reads_every_page_and_nested_runs(browser, client, monkeypatch):
    import csv
    import io

    from runstone.ui import runs_table

    monkeypatch.setattr(runs_table, "EXPORT_PAGE", 4)  # the export reads the runs this many at a time
    exp_id = client.create_experiment("big export")
    parent = client.create_run(exp_id, start_time=1, run_name="parent").info.run_id
    for i in range(10):
        client.create_run(exp_id, start_time=10 + i, run_name=f"k{i}", parent_run_id=parent if i < 3 else None)

    rows = list(csv.DictReader(io.StringIO(browser.get(f"/ui/experiments/{exp_id}/runs.csv").text)))

    assert [r["run_name"] for r in rows] == [*(f"k{i}" for i in reversed(range(10))), "parent"]
    assert sum(1 for r in rows if r["parent_run_id"] == parent) == 3
    assert browser.get(f"/ui/experiments/{exp_id}/runs.csv", params={"filter": "oops"}).status_code == 400


def test_new_pages_answer_bad_input_with_a_clear_4xx(browser, sweep):
    exp_id, ids = sweep

    cases = {
        f"/ui/experiments/{exp_id}/children?parent={ids['r0']}&depth=0": "depth",
        f"/ui/experiments/nope/children?parent={ids['r0']}": "experiment",
        f"/ui/experiments/{exp_id}/runs.csv?order=metrics.loss+SIDEWAYS": "order_by",
        f"/ui/experiments/{exp_id}/runs.csv?view=gone": "Unknown view",
        "/ui/compare?experiment=nope": "experiment",
        "/ui/compare?experiment=987654": "987654",
        f"/ui/compare?experiment={exp_id}&filter=metrics.loss+%3C": "Invalid filter",
        f"/ui/experiments/{exp_id}/compare-many?selected=-1": "selected",
        f"/ui/experiments/{exp_id}?page_token=abc&page=2": "Invalid page token",
    }
    for url, says in cases.items():
        response = browser.get(url)
        assert 400 <= response.status_code < 500, (url, response.status_code)
        assert says in unescape(response.text), (url, says)
    # An unknown parent simply has no nested runs.
    assert table_run_ids(browser.get(f"/ui/experiments/{exp_id}/children", params={"parent": "f" * 32}).text) == []
