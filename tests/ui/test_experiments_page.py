"""The experiments page: list with run counts and activity, search, create, rename, delete, restore."""

from __future__ import annotations

from ui_support import cells, text


def test_lists_experiments_with_run_counts_and_last_activity(browser, client):
    busy = client.create_experiment("busy")
    client.create_experiment("idle")
    for _ in range(3):
        client.create_run(busy)
    deleted = client.create_run(busy)
    client.delete_run(deleted.info.run_id)

    page = browser.get("/ui/")

    assert page.status_code == 200
    row = cells(page.text, f'href="/ui/experiments/{busy}"')
    assert row[0] == "busy"
    assert row[2] == "3"  # deleted runs are not counted
    assert row[3].endswith("ago")
    assert cells(page.text, ">idle<")[2] == "0"


def test_search_by_name_finds_parts_of_names_and_quotes(browser, client):
    client.create_experiment("vision-resnet")
    client.create_experiment("nlp-bert")
    client.create_experiment("it's quoted")

    found = browser.get("/ui/", params={"q": "RESNET"}).text
    assert "vision-resnet" in found
    assert "nlp-bert" not in found
    assert "it&#39;s quoted" in browser.get("/ui/", params={"q": "it's"}).text
    assert "No experiment name contains" in browser.get("/ui/", params={"q": "nothing-like-this"}).text


def test_create_rename_delete_and_restore(browser, client):
    created = browser.post("/ui/experiments", {"name": "fresh"})
    assert created.status_code == 200
    assert str(created.url).endswith(f"/ui/experiments/{client.get_experiment_by_name('fresh').experiment_id}")
    assert "Created experiment" in created.text
    exp_id = client.get_experiment_by_name("fresh").experiment_id

    renamed = browser.post(f"/ui/experiments/{exp_id}/rename", {"name": "renamed", "next": "/ui/"})
    assert "Renamed experiment" in renamed.text
    assert client.get_experiment(exp_id).name == "renamed"

    browser.post(f"/ui/experiments/{exp_id}/delete", {"next": "/ui/"})
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert "renamed" not in text(browser.get("/ui/").text)
    assert "renamed" in browser.get("/ui/", params={"view": "deleted"}).text

    browser.post(f"/ui/experiments/{exp_id}/restore", {"next": "/ui/?view=deleted"})
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_a_failed_action_is_reported_on_the_page(browser, client):
    client.create_experiment("taken")

    page = browser.post("/ui/experiments", {"name": "taken"})

    assert page.status_code == 200
    assert 'class="flash flash-error"' in page.text
    assert "already exists" in page.text
    # The message is shown once, not on the next page too.
    assert "already exists" not in browser.get("/ui/").text


def test_redirects_stay_inside_the_ui(browser, client):
    exp_id = client.create_experiment("x")

    response = browser.post(
        f"/ui/experiments/{exp_id}/rename", {"name": "y", "next": "https://evil.example/"}, follow=False
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/ui/"


def test_root_and_unknown_pages(browser):
    assert browser.get("/", follow_redirects=False).headers["location"] == "/ui/"
    missing = browser.get("/ui/no/such/page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "There is no page at /ui/no/such/page" in missing.text
    assert browser.get("/ui/experiments/999").status_code == 404
