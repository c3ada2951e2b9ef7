"""The data a workspace fetches: the metric keys of the runs it draws and a batch of panels'
histories in one read, downsampled as the run page's charts are; and the same read in the
native API."""

from __future__ import annotations

import pytest

from runstone.entities import Metric


@pytest.fixture
def runs(client):
    experiment = client.create_experiment("grid")
    ids = []
    for i in range(3):
        run_id = client.create_run(experiment, run_name=f"r{i}").info.run_id
        keys = ["train/loss", "val/loss"] if i < 2 else ["train/loss", "system/cpu"]
        client.log_batch(
            run_id, metrics=[Metric(k, float(step * (i + 1)), 1000 + step, step) for k in keys for step in range(3000)]
        )
        ids.append(run_id)
    return ids


def test_the_keys_of_the_runs_drawn_and_their_histories_in_one_read(browser, runs):
    keys = browser.get("/ui/data/metric-keys", params=[("run", r) for r in runs[:2]]).json()["keys"]
    assert keys == ["train/loss", "val/loss"]
    assert browser.get("/ui/data/metric-keys", params=[("run", runs[2])]).json()["keys"] == ["system/cpu", "train/loss"]

    params = [("run", r) for r in runs] + [("key", "train/loss"), ("key", "val/loss"), ("max_points", "200")]
    body = browser.get("/ui/data/history-grid", params=params).json()["keys"]
    assert set(body) == {"train/loss", "val/loss"}
    loss = body["train/loss"][runs[1]]
    assert loss["downsampled"] is True and len(loss["steps"]) <= 200
    assert loss["steps"][0] == 0 and loss["steps"][-1] == 2999
    assert max(loss["values"]) == 2999 * 2  # each bucket's extremes are kept
    assert body["val/loss"][runs[2]]["steps"] == []  # a run without the key draws nothing
    zoom = browser.get(
        "/ui/data/history-grid",
        params=[("run", runs[0]), ("key", "train/loss"), ("start_step", "10"), ("end_step", "19")],
    ).json()["keys"]["train/loss"][runs[0]]
    assert zoom["steps"] == list(range(10, 20)) and zoom["downsampled"] is False


def test_bad_grid_requests_are_refused_with_what_was_wrong(browser, runs):
    def error(params):
        response = browser.get("/ui/data/history-grid", params=params)
        assert response.status_code == 400
        return response.json()["error"]["message"]

    assert error([("key", "train/loss")]) == "Name at least one run and one metric key."
    too_many_keys = [("run", runs[0])] + [("key", f"k{i}") for i in range(101)]
    assert error(too_many_keys) == "Ask for at most 100 metric keys at once, not 101."
    big = [("run", f"{i:032x}") for i in range(100)] + [("key", f"k{i}") for i in range(50)] + [("max_points", "5000")]
    assert "is more than the 2,000,000 points one request may ask for" in error(big)
    assert "start_step 9 is after end_step 1" in error(
        [("run", runs[0]), ("key", "train/loss"), ("start_step", "9"), ("end_step", "1")]
    )
    too_many_runs = browser.get("/ui/data/metric-keys", params=[("run", f"{i:032x}") for i in range(101)])
    assert too_many_runs.status_code == 400


def test_the_native_api_reads_many_metrics_of_many_runs_at_once(http, runs):
    body = {"run_ids": runs, "keys": ["train/loss", "system/cpu"], "max_points": 100}
    found = http.post("/api/v1/runs/metric-histories/search", json=body).json()["histories"]
    assert set(found) == {"train/loss", "system/cpu"}
    assert set(found["train/loss"]) == set(runs)
    assert len(found["train/loss"][runs[0]]["steps"]) <= 100
    assert found["system/cpu"][runs[0]]["values"] == []
    refused = http.post("/api/v1/runs/metric-histories/search", json={"run_ids": runs, "keys": []})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Name at least one run and one metric key."


def test_runs_grouped_by_params_and_tags_with_their_aggregates(browser, client):
    experiment = client.create_experiment("grouped")
    for i, (optimizer, loss) in enumerate([("adam", 0.2), ("adam", 0.4), ("sgd", 0.9), (None, 1.0)]):
        run_id = client.create_run(experiment, run_name=f"g{i}").info.run_id
        params = [("optimizer", optimizer)] if optimizer else []
        client.log_batch(
            run_id, metrics=[Metric("loss", loss, 1, 0)], params=params, tags=[("team", "a" if i < 2 else "b")]
        )
    body = browser.get(
        "/ui/data/groups", params=[("experiment", experiment), ("group", "params.optimizer"), ("metric", "loss")]
    ).json()
    by_label = {g["label"]: g for g in body["groups"]}
    assert set(by_label) == {"optimizer=adam", "optimizer=sgd", "optimizer=(none)"}
    adam = by_label["optimizer=adam"]
    assert adam["count"] == 2 and adam["metrics"]["loss"]["mean"] == pytest.approx(0.3)
    assert adam["metrics"]["loss"]["min"] == 0.2 and adam["metrics"]["loss"]["max"] == 0.4
    assert body["matching"] == body["grouped"] == 4

    two = browser.get(
        "/ui/data/groups",
        params=[
            ("experiment", experiment),
            ("group", "tags.team"),
            ("group", "params.optimizer"),
            ("filter", "metrics.loss < 0.95"),
        ],
    ).json()
    assert sorted(g["label"] for g in two["groups"]) == ["team=a, optimizer=adam", "team=b, optimizer=sgd"]
    keys = browser.get("/ui/data/group-keys", params={"experiment": experiment}).json()
    assert keys == {"params": ["optimizer"], "tags": ["team"]}

    bad = browser.get("/ui/data/groups", params={"experiment": experiment, "group": "metrics.loss"})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "Cannot group by 'metrics.loss': use params.<key> or tags.<key>."
    none = browser.get("/ui/data/groups", params={"experiment": experiment})
    assert "Group by at least one param or tag" in none.json()["error"]["message"]
    broken = browser.get("/ui/data/groups", params={"experiment": experiment, "group": "params.x", "filter": "loss <"})
    assert broken.status_code == 400


def test_a_page_is_saved_as_a_view_and_reopened_by_its_url(browser, client):
    experiment = client.create_experiment("viewed")
    client.create_run(experiment, run_name="only")
    saved = browser.post(
        f"/ui/experiments/{experiment}/views",
        {"name": "mine", "query": "filter=attributes.run_name+%3D+%27only%27", "workspace": '{"group": ["params.x"]}'},
        follow=False,
    )
    assert saved.status_code == 303
    target = saved.headers["location"]
    assert target.startswith(f"/ui/experiments/{experiment}?filter=") and "saved_view=" in target
    page = browser.get(target).text
    assert "data-current-view>mine</strong>" in page
    assert "&#34;group&#34;" in page or "&quot;group&quot;" in page  # the workspace settings ride along
    view_id = target.rsplit("saved_view=", 1)[1]
    opened = browser.get(f"/ui/experiments/{experiment}/views/{view_id}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == target

    unnamed = browser.post(f"/ui/experiments/{experiment}/views", {"name": " ", "query": ""})
    assert "Give the view a name." in unnamed.text
    broken = browser.post(f"/ui/experiments/{experiment}/views", {"name": "b", "workspace": "{nope"})
    assert "The workspace settings of the view are not JSON." in broken.text
    other = client.create_experiment("not-viewed")
    missing = browser.get(f"/ui/experiments/{other}/views/{view_id}")
    assert missing.status_code == 404
    deleted = browser.post(f"/ui/experiments/{experiment}/views/{view_id}/delete")
    assert "Deleted the view &#39;mine&#39;." in deleted.text


def test_images_and_tables_of_the_runs_are_listed_and_bad_ones_refused(browser, client):
    from runstone.errors import InvalidInput

    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
    experiment = client.create_experiment("media")
    run_id = client.create_run(experiment, run_name="m").info.run_id
    client.log_image(run_id, png, "val/samples", step=3)
    client.log_image(run_id, png, "val/samples", step=1)
    client.log_table(run_id, {"a": [1, 2], "b": ["x", float("nan")]}, "tables/t.json")
    client.log_text(run_id, '{"rows": 1}', "tables/not-a-table.json")
    client.set_tag(
        run_id,
        "mlflow.loggedArtifacts",
        client.get_run(run_id).data.tags["mlflow.loggedArtifacts"][:-1]
        + ', {"path": "tables/not-a-table.json", "type": "table"}]',
    )

    listed = browser.get("/ui/data/media", params={"run": run_id}).json()
    assert [step for step, _ in listed["images"]["val/samples"][run_id]] == [1, 3]
    assert listed["tables"] == {"tables/not-a-table.json": [run_id], "tables/t.json": [run_id]}
    table = browser.get("/ui/data/table", params={"run": run_id, "path": "tables/t.json"}).json()
    assert table["columns"] == ["a", "b"] and table["data"] == [[1, "x"], [2, None]]
    bad = browser.get("/ui/data/table", params={"run": run_id, "path": "tables/not-a-table.json"})
    assert bad.status_code == 400 and "needs 'columns' and 'data'" in bad.json()["error"]["message"]
    assert browser.get("/ui/data/table", params={"run": run_id, "path": "nope.json"}).status_code == 404

    with pytest.raises(InvalidInput, match="must be a PNG or a JPEG"):
        client.log_image(run_id, b"GIF89a", "x")
    with pytest.raises(InvalidInput, match="cannot have empty"):
        client.log_image(run_id, png, "a//b")
    with pytest.raises(InvalidInput, match="as many values"):
        client.log_table(run_id, {"a": [1], "b": [1, 2]}, "t.json")
    with pytest.raises(InvalidInput, match=r"name it \*.json"):
        client.log_table(run_id, {"a": [1]}, "t.csv")


def test_parameter_importance_ranks_the_param_that_drives_the_metric(browser, client, monkeypatch):
    import sys

    experiment = client.create_experiment("importance")
    for i in range(12):
        run_id = client.create_run(experiment, run_name=f"i{i}").info.run_id
        lr = 0.01 * (i + 1)
        params = [
            ("lr", str(lr)),
            ("seed", str((i * 7) % 5)),
            ("optimizer", "adam" if i % 2 else "sgd"),
            ("epochs", "3"),
        ]
        client.log_batch(run_id, metrics=[Metric("loss", 1 - 5 * lr, 1, 0)], params=params)
    body = browser.get("/ui/data/importance", params={"experiment": experiment, "metric": "loss"}).json()
    assert body["runs"] == 12 and body["model_message"] is None
    by_param = {p["param"]: p for p in body["params"]}
    assert set(by_param) == {"lr", "seed", "optimizer"}  # epochs is the same everywhere
    assert by_param["lr"]["correlation"] == pytest.approx(-1.0)
    assert body["params"][0]["param"] == "lr" and by_param["lr"]["importance"] > 0.5
    assert sum(p["importance"] for p in body["params"]) == pytest.approx(1.0)
    assert by_param["optimizer"]["correlation"] is None and by_param["optimizer"]["numeric"] is False

    filtered = browser.get(
        "/ui/data/importance", params={"experiment": experiment, "metric": "loss", "filter": "params.optimizer = 'sgd'"}
    ).json()
    assert filtered["runs"] == 6

    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)  # a server without scikit-learn
    without = browser.get("/ui/data/importance", params={"experiment": experiment, "metric": "loss"}).json()
    assert "needs scikit-learn on the server" in without["model_message"]
    assert {p["param"]: p["correlation"] for p in without["params"]}["lr"] == pytest.approx(-1.0)

    none = browser.get("/ui/data/importance", params={"experiment": experiment, "metric": "nope"}).json()
    assert none["runs"] == 0 and "needs 3 runs or more" in none["model_message"]
    assert browser.get("/ui/data/importance", params={"experiment": experiment, "metric": ""}).status_code == 400
