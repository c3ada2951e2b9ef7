"""The run page: overview, notes, params, editable tags, metrics, datasets, and artifacts."""

from __future__ import annotations

import math
import re

from ui_support import cells, element, text

from runstone.entities import Dataset, Metric


def test_overview_shows_git_state_parent_and_children(browser, client):
    exp_id = client.create_experiment("e")
    parent = client.create_run(exp_id, run_name="sweep").info.run_id
    run = client.create_run(
        exp_id,
        run_name="trial",
        parent_run_id=parent,
        tags={
            "runstone.source.name": "train.py",
            "runstone.source.git.commit": "0123456789abcdef0123456789abcdef01234567",
            "runstone.source.git.branch": "main",
            "runstone.source.git.dirty": "true",
        },
    ).info.run_id
    child = client.create_run(exp_id, run_name="inner", parent_run_id=run).info.run_id

    page = browser.get(f"/ui/runs/{run}").text

    facts = dict(
        zip(
            re.findall(r"<dt>(.*?)</dt>", page),
            (text(d) for d in re.findall(r"<dd>(.*?)</dd>", page, re.S)),
            strict=True,
        )
    )
    assert facts["Source"] == "train.py"
    assert facts["Git commit"].startswith("0123456789abcdef0123456789abcdef01234567 on main dirty uncommitted changes")
    assert f'<a href="/ui/runs/{parent}">sweep</a>' in page
    assert f'<a href="/ui/runs/{child}">inner</a>' in page
    assert facts["Status"] == "RUNNING"


def test_params_metrics_and_datasets_are_listed(browser, client):
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    client.log_batch(
        run_id, metrics=[Metric("loss", 0.25, 1, 0), Metric("nan_metric", math.nan, 1, 0)], params=[("lr", "0.01")]
    )
    client.log_inputs(
        run_id, [(Dataset("train-set", "a1b2c3d4e5f6", "path", "/data/train"), {"runstone.data.context": "training"})]
    )

    page = browser.get(f"/ui/runs/{run_id}").text

    assert cells(page, '<th scope="row">lr</th>') == ["lr", "0.01"]
    assert cells(page, '<th scope="row">loss</th>') == ["loss", "0.25"]
    assert cells(page, '<th scope="row">nan_metric</th>') == ["nan_metric", "NaN"]
    assert cells(page, "train-set")[:3] == ["train-set", "training", "a1b2c3d4e5f6"]
    # Logged once each: values, not one-dot charts.
    assert page.count("data-chart ") == 0
    assert page.count('<figure class="metric-value"') == 2


def test_tags_are_added_edited_and_deleted(browser, client):
    run_id = client.create_run(client.create_experiment("e")).info.run_id

    browser.post(f"/ui/runs/{run_id}/tags", {"key": "team", "value": "vision"})
    edited = browser.post(f"/ui/runs/{run_id}/tags", {"key": "team", "value": "nlp"})
    assert "Set tag" in edited.text
    assert cells(edited.text, '<th scope="row">team</th>')[:2] == ["team", "nlp"]
    assert client.get_run(run_id).data.tags["team"] == "nlp"

    browser.post(f"/ui/runs/{run_id}/tags/delete", {"key": "team"})
    assert "team" not in client.get_run(run_id).data.tags
    empty_key = browser.post(f"/ui/runs/{run_id}/tags", {"key": " ", "value": "x"})
    assert "Give the tag a key" in empty_key.text


def test_notes_are_markdown(browser, client):
    run_id = client.create_run(client.create_experiment("e")).info.run_id

    page = browser.post(f"/ui/runs/{run_id}/note", {"note": "Uses **mixup**.\r\n\r\n- a\r\n- b"}).text

    assert "<strong>mixup</strong>" in page
    assert "<li>a</li>" in page
    assert client.get_run(run_id).data.tags["runstone.note.content"] == "Uses **mixup**.\n\n- a\n- b"
    browser.post(f"/ui/runs/{run_id}/note", {"note": ""})
    assert "runstone.note.content" not in client.get_run(run_id).data.tags


def test_rename_delete_and_restore_a_run(browser, client):
    run_id = client.create_run(client.create_experiment("e"), run_name="old").info.run_id

    browser.post(f"/ui/runs/{run_id}/rename", {"name": "new"})
    assert client.get_run(run_id).info.run_name == "new"
    deleted = browser.post(f"/ui/runs/{run_id}/delete")
    assert "deleted" in deleted.text and ">Restore<" in deleted.text
    browser.post(f"/ui/runs/{run_id}/restore")
    assert client.get_run(run_id).info.lifecycle_stage == "active"


def test_unknown_run_is_a_not_found_page(browser):
    response = browser.get("/ui/runs/" + "0" * 32)
    assert response.status_code == 404
    assert "No run with id" in response.text


def test_artifact_previews(browser, client):
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    client.log_text(run_id, "name,score\nalpha,1\nbeta,2\n", "tables/scores.csv")
    client.log_dict(run_id, {"b": [1, 2], "a": "x"}, "config.json")
    client.log_text(run_id, "flavors:\n  python_function: {}\n", "model/MLmodel")
    client.log_text(run_id, "hello log\n", "logs/out.log")
    client.log_text(run_id, "x\ty\n1\t2\n", "t.tsv")
    client.log_text(run_id, "\x00\x01binary", "weights.bin")
    url = f"/ui/runs/{run_id}/artifacts"

    root = browser.get(url).text
    assert [text(a) for a in re.findall(r'<li class="(?:dir|file)[^"]*">\s*<a[^>]*>(.*?)</a>', root)] == [
        "config.json", "logs/", "model/", "t.tsv", "tables/", "weights.bin",
    ]  # fmt: skip
    csv_page = browser.get(url, params={"path": "tables/scores.csv"}).text
    assert cells(csv_page, '<th scope="col">name</th>') == ["name", "score"]
    assert cells(csv_page, "<td>beta</td>") == ["beta", "2"]
    assert "tables" in text(csv_page.split('class="path"')[1].split("</p>")[0])
    assert cells(browser.get(url, params={"path": "t.tsv"}).text, "<td>1</td>") == ["1", "2"]
    assert '"b": [\n    1,' in browser.get(url, params={"path": "config.json"}).text.replace("&#34;", '"').replace(
        "&quot;", '"'
    )
    assert "python_function" in browser.get(url, params={"path": "model/MLmodel"}).text
    assert "hello log" in browser.get(url, params={"path": "logs/out.log"}).text
    assert "This file is not text" in browser.get(url, params={"path": "weights.bin"}).text
    folder = browser.get(url, params={"path": "tables"}).text
    assert "scores.csv" in folder and f"/api/v1/runs/{run_id}/artifacts-zip?path=tables" in folder
    assert browser.get(url, params={"path": "nope"}).status_code == 404


def test_download_links_work_for_files_and_folders(browser, client):
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    client.log_text(run_id, "a,b\n1,2\n", "dir one/data set.csv")

    page = browser.get(f"/ui/runs/{run_id}/artifacts", params={"path": "dir one/data set.csv"}).text
    file_link = re.search(r'<a href="(/api/v1/runs/[^"]+)" download>Download</a>', page).group(1)
    zip_link = re.search(r'<a href="(/api/v1/runs/[^"]+artifacts-zip[^"]*)" download>', page).group(1)

    assert browser.get(file_link).content == b"a,b\n1,2\n"
    archive = browser.get(zip_link.replace("&amp;", "&"))
    assert archive.headers["content-type"] == "application/zip"


def test_plotly_comes_from_the_installed_package(browser):
    import plotly

    page = browser.get(f"/ui/runs/{'0' * 32}").text  # any page: not found still renders the layout
    assert "plotly" not in page  # only chart pages load it
    url = f"/ui/vendor/plotly-{plotly.__version__}.min.js"

    plain = browser.get(url, headers={"Accept-Encoding": "identity"})
    zipped = browser.get(url, headers={"Accept-Encoding": "gzip"})

    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "immutable" in plain.headers["cache-control"]
    assert b"plotly.js" in plain.content[:200]
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx decodes it
    assert browser.get("/ui/vendor/plotly-0.0.0.min.js").status_code == 404


def test_ui_routes_stay_out_of_the_api_reference(app):
    paths = app.openapi()["paths"]
    assert not [p for p in paths if p.startswith("/ui") or p == "/"]


def test_models_the_run_logged_or_used_are_listed_with_their_files(browser, client, backend):
    """What MLflow 3's log_model writes (a logged model, outside the run's artifacts) shows on the run page."""
    run_id = client.create_run("0", run_name="trainer").info.run_id
    other = client.create_run("0", run_name="unrelated").info.run_id
    models = backend.logged_models()
    made = models.create("0", name="clf", source_run_id=run_id, model_type="sklearn")
    models.log_artifact(made.model_id, "MLmodel", [b"flavors: {}\n"])
    models.log_artifact(made.model_id, "data/model.pkl", [b"x" * 2048])
    models.finalize(made.model_id, "READY")
    base = models.create("0", name="pretrained <b>")
    models.link_run(run_id, [(made.model_id, 7)], "output")
    models.link_run(run_id, [(base.model_id, 0)], "input")
    models.create("0", name="elsewhere", source_run_id=other)

    page = browser.get(f"/ui/runs/{run_id}").text
    section = page[page.index('id="logged-models"') :]
    assert "Logged models (2)" in section
    assert made.model_id in section and "produced at step 7" in section and "READY" in section
    assert "pretrained &lt;b&gt;" in section and "used" in section  # names are escaped
    assert "elsewhere" not in section
    link = f"/api/v1/logged-models/{made.model_id}/artifacts/data/model.pkl"
    assert f'href="{link}"' in section and "2.0 KiB" in section
    assert browser.get(link).content == b"x" * 2048

    empty = browser.get(f"/ui/runs/{other}").text
    assert "Logged models (1)" in empty and "elsewhere" in empty


def test_a_metric_logged_once_is_a_value_and_a_curve_is_a_chart(browser, client):
    run_id = client.create_run(client.create_experiment("shapes")).info.run_id
    client.log_batch(
        run_id,
        metrics=[
            Metric("test_accuracy", 0.93, 5, 0),
            *(Metric("loss", 1 / (s + 1), 10 + s, s) for s in range(3)),
            Metric("restarts", 1.0, 1, 0),
            Metric("restarts", 2.0, 2, 0),  # twice at step 0: two points in time
        ],
    )

    page = browser.get(f"/ui/runs/{run_id}").text

    assert re.findall(r'<figure class="chart" data-chart data-key="([^"]+)"', page) == ["loss", "restarts"]
    value = re.search(r'<figure class="metric-value" data-key="test_accuracy">(.*?)</figure>', page, re.S).group(1)
    assert text(value) == "test_accuracy 0.93 logged once: a value, not a curve"


def test_system_tags_of_runstone_and_mlflow_are_listed_apart(browser, client):
    run_id = client.create_run(client.create_experiment("tagged")).info.run_id
    client.log_batch(run_id, tags=[("team", "vision"), ("mlflow.autologging", "sklearn"), ("runstone.host", "gpu-7")])

    page = browser.get(f"/ui/runs/{run_id}").text

    user = element(page, "section", "tags").split("System tags")[0]
    assert "team" in user and "mlflow.autologging" not in user and "runstone.host" not in user
    system = re.search(r'<table class="grid compact system-tags">(.*?)</table>', page, re.S).group(1)
    assert cells(system, "mlflow.autologging") == ["mlflow.autologging", "sklearn"]
    assert cells(system, "runstone.host") == ["runstone.host", "gpu-7"]
    assert 'name="key" value="mlflow.autologging"' not in page  # no edit or delete form for them


def test_the_overview_links_the_model_versions_registered_from_the_run(browser, client, as_user, logged_model):
    source = logged_model(accuracy=0.9, name="producer")
    run_id = source.split("/")[1]
    registry = as_user("alice")
    registry.create_registered_model("fraud detector")
    registry.create_model_version("fraud detector", source)
    registry.create_model_version("fraud detector", source)
    registry.set_registered_model_alias("fraud detector", "champion", "2")
    plain = client.create_run(client.create_experiment("no models")).info.run_id

    page = browser.get(f"/ui/runs/{run_id}").text
    nothing = browser.get(f"/ui/runs/{plain}").text

    registered = re.search(r'<ul class="plain registered">(.*?)</ul>', page, re.S).group(1)
    assert text(registered) == "fraud detector version 2 @champion fraud detector version 1"
    assert 'href="/ui/models/fraud%20detector/versions/2"' in registered
    assert "no registered model version comes from this run" in nothing
