"""The runs table: columns, sorting, filtering, paging, nesting and bulk actions, all in the URL."""

from __future__ import annotations

import re
import threading
from html import unescape

import pytest
from ui_support import cells, table_run_ids

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


def test_default_columns_and_fixed_attributes(browser, sweep, client):
    exp_id, ids = sweep

    page = browser.get(f"/ui/experiments/{exp_id}").text

    headers = [
        unescape(re.sub(r"<[^>]+>", "", h)).split()[0]
        for h in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', page, re.S)
    ][1:]
    assert headers[:7] == ["Run", "Status", "Started", "Duration", "User", "Source", "Git"]
    assert headers[7:] == ["acc", "loss", "lr", "opt"]
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
    sort_link = re.search(r'href="\?([^"]*)" title="Sort by loss"', page).group(1)
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
            assert "Page 2" in page and "First page" in page

    assert pages == 3
    assert seen == list(reversed(created))


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

    assert table_run_ids(page) == [loner, parent, kids[0], grandkid, kids[1]]
    assert f'class="depth-1" data-run="{kids[0]}"' in page
    assert f'class="depth-2" data-run="{grandkid}"' in page
    assert "2 children" in page
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


def test_compare_needs_two_to_a_hundred_selected_runs(browser, sweep):
    exp_id, ids = sweep

    one = browser.post(f"/ui/experiments/{exp_id}/runs", {"action": "compare", "run": [ids["r0"]]})
    assert "Select between 2 and 100 runs" in one.text
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
