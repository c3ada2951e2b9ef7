"""User text is always escaped; writes need this browser's CSRF token; pages carry a strict CSP."""

from __future__ import annotations

import pytest

from runstone.entities import Policy

EVIL = "<script>alert(1)</script>"


def test_forged_posts_are_refused_and_change_nothing(browser, client):
    exp_id = client.create_experiment("keep")
    browser.get("/ui/")  # the browser holds a token cookie; the forger does not know it

    without = browser.http.post(f"/ui/experiments/{exp_id}/delete", data={})
    wrong = browser.http.post(f"/ui/experiments/{exp_id}/delete", data={"csrf_token": "x" * 43})
    cross_site = browser.http.post(
        f"/ui/experiments/{exp_id}/delete",
        data={"csrf_token": browser.token()},
        headers={"Origin": "https://evil.example"},
    )

    sandboxed = browser.http.post(
        f"/ui/experiments/{exp_id}/delete", data={"csrf_token": browser.token()}, headers={"Origin": "null"}
    )

    for response in (without, wrong, cross_site, sandboxed):
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
    assert "CSRF token" in without.text
    assert "another site" in cross_site.text
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_the_token_cookie_is_strict_and_http_only(browser):
    response = browser.get("/ui/")

    cookie = response.headers["set-cookie"]
    assert cookie.startswith("runstone_csrf=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    token = browser.token()
    assert f'name="csrf_token" value="{token}"' in browser.get("/ui/").text


def test_a_header_token_also_works_for_scripts(browser, client):
    run = client.create_run(client.create_experiment("h"))

    response = browser.http.post(
        f"/ui/runs/{run.info.run_id}/tags",
        data={"key": "k", "value": "v"},
        headers={"X-CSRF-Token": browser.token()},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert client.get_run(run.info.run_id).data.tags["k"] == "v"


@pytest.fixture
def evil_run(client):
    exp_id = client.create_experiment(f"exp {EVIL}")
    run = client.create_run(exp_id, run_name=f"run {EVIL}", tags={"team": f"value {EVIL}"})
    note = f"# Note\n{EVIL}\n<img src=x onerror=alert(2)>\n[click](javascript:alert(3))"
    client.log_batch(run.info.run_id, params=[("p", f"v {EVIL}")], tags=[("runstone.note.content", note)])
    client.log_metric(run.info.run_id, "m", 1.0)
    client.log_text(run.info.run_id, f"a,b\n{EVIL},2\n", "data/t.csv")
    return exp_id, run.info.run_id


def test_user_text_is_escaped_on_every_page(browser, client, evil_run):
    exp_id, run_id = evil_run
    other = client.create_run(exp_id, run_name="other").info.run_id
    pages = [
        "/ui/",
        f"/ui/experiments/{exp_id}",
        f"/ui/experiments/{exp_id}?cols=1&col=params.p&col=tags.team&col=metrics.m",
        f"/ui/experiments/{exp_id}/columns",
        f"/ui/runs/{run_id}",
        f"/ui/runs/{run_id}/artifacts?path=data/t.csv",
        f"/ui/compare?run={run_id}&run={other}",
        f"/ui/experiments/{exp_id}?filter=params.x = '{EVIL}' and",
    ]
    for url in pages:
        html = browser.get(url).text
        assert "<script>alert" not in html, url
        assert "onerror=alert" not in html.replace("onerror=alert(2)&gt;", ""), url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "\\u003cscript\\u003e" in html, url
    run_page = browser.get(f"/ui/runs/{run_id}").text
    assert "<h1>Note</h1>" in run_page  # markdown is rendered ...
    assert "&lt;img src=x onerror=alert(2)&gt;" in run_page  # ... but raw HTML in it is not
    assert 'href="javascript:' not in run_page


def test_pages_forbid_inline_scripts_and_framing(browser):
    response = browser.get("/ui/")

    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_html_artifacts_are_sandboxed(browser, client):
    run_id = client.create_run(client.create_experiment("html")).info.run_id
    client.log_text(run_id, "<html><script>parent.document.title='owned'</script></html>", "report.html")

    page = browser.get(f"/ui/runs/{run_id}/artifacts", params={"path": "report.html"}).text
    raw = browser.get(f"/ui/runs/{run_id}/raw", params={"path": "report.html"})

    assert '<iframe src="/ui/runs/' in page
    assert 'sandbox=""' in page
    policy = raw.headers["content-security-policy"]
    assert policy.startswith("sandbox;")
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert raw.headers["x-content-type-options"] == "nosniff"


def test_raw_serves_only_images_and_html_inline(browser, client):
    run_id = client.create_run(client.create_experiment("raw")).info.run_id
    client.log_text(run_id, "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "x.svg")
    client.log_text(run_id, "#!/bin/sh\necho hi\n", "run.bin")

    svg = browser.get(f"/ui/runs/{run_id}/raw", params={"path": "x.svg"})
    other = browser.get(f"/ui/runs/{run_id}/raw", params={"path": "run.bin"})

    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.headers["content-security-policy"].startswith("sandbox;")
    assert other.headers["content-type"] == "application/octet-stream"
    assert other.headers["content-disposition"] == "attachment"


def test_registry_text_is_escaped_on_every_page(browser, as_user, logged_model):
    name = "<img src=x onerror=alert(1)>"  # a model name may not hold '/', so no </script> here
    alice = as_user("alice")
    alice.create_registered_model(name, description=f"# Model\n{EVIL}", tags={"owner": EVIL})
    alice.create_model_version(name, logged_model(0.9), description=EVIL, tags={"note": EVIL})
    alice.create_model_version(name, logged_model(0.8))
    alice.transition_model_version_stage(name, "1", "Production", reason=EVIL)
    alice.set_policy(name, Policy(protected_stages=["Production"]))
    request_id = alice.request_transition(name, "2", stage="Production", comment=EVIL).id
    as_user("bob").reject_request(request_id, comment=EVIL)
    alice.request_transition(name, "2", alias="best", comment=EVIL)
    quoted = "/ui/models/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"

    pages = [
        "/ui/models",
        quoted,
        f"{quoted}/versions/1",
        f"{quoted}/request?version=2&stage=Production&comment={EVIL}",
        "/ui/requests?status=all",
        f"/ui/requests/{request_id}",
    ]
    for url in pages:
        html = browser.get(url).text
        assert "<script>alert" not in html, url
        assert "<img src=x" not in html, url
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in browser.get(quoted).text
    assert "<h1>Model</h1>" in browser.get(quoted).text  # the description is markdown, its HTML is text
