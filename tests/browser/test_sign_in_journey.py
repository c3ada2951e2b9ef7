"""Signing in to the UI of a real ``runstone server --auth`` in headless Chromium: the browser is
sent to the sign-in page, signs in, sees its name, is refused (403 page) on an experiment it may
not read, cannot be driven by a page served from another loopback origin, and signing out ends
the session for good."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import Server, Servers, free_port

ADMIN_PASSWORD = "admin password of the sign-in test"
READER_PASSWORD = "reader password of the sign-in test"
ADMIN = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()}


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pool = Servers(tmp_path_factory.mktemp("sign-in"))
    try:
        yield pool.start("--auth", env={"RUNSTONE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    finally:
        pool.stop_all()


@pytest.fixture(scope="module")
def api(auth_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=auth_server.url, headers=ADMIN, timeout=30) as client:
        made = client.post("/api/v1/users", json={"name": "reader", "password": READER_PASSWORD})
        assert made.status_code == 201, made.text
        yield client


def _experiment_names(api: httpx.Client) -> set[str]:
    found = api.post("/api/v1/experiments/search", json={"max_results": 1000}).json()["experiments"]
    return {e["name"] for e in found}


ATTACKER_PAGE = """<!doctype html><html><body>
<form id="f" method="post" action="{url}/ui/experiments" target="sink"><input name="name" value="forged-form"></form>
<iframe name="sink"></iframe>
<script>
fetch("{url}/api/v1/experiments", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({{name: "forged-fetch"}})}})
  .catch(() => null)
  .then(() => fetch("{url}/api/2.0/mlflow/experiments/create", {{method: "POST", mode: "no-cors",
     credentials: "include", body: JSON.stringify({{name: "forged-mlflow"}})}}))
  .catch(() => null)
  .then(() => {{ document.getElementById("f").submit(); }})
  .then(() => setTimeout(() => {{ document.title = "sent"; }}, 300));
</script></body></html>"""


@pytest.fixture(scope="module")
def attacker(auth_server: Server) -> Iterator[str]:
    """A hostile page on a second loopback port (another origin, the same site)."""
    body = ATTACKER_PAGE.format(url=auth_server.url).encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_browser_signs_in_is_refused_where_it_may_not_read_and_no_other_page_can_drive_it(
    chromium: Any, auth_server: Server, api: httpx.Client, attacker: str, tmp_path: Path
) -> None:
    secret = api.post("/api/v1/experiments", json={"name": "admins-only"}).json()["experiment"]["experiment_id"]
    page = chromium.new_page()
    try:
        # Not signed in: the experiment's page sends the browser to the sign-in page.
        page.goto(f"{auth_server.url}/ui/experiments/{secret}")
        assert page.url.startswith(f"{auth_server.url}/ui/login?next=")
        page.fill("#login-name", "reader")
        page.fill("#login-password", "wrong password")
        page.click("button:text('Sign in')")
        assert "Wrong user name or password" in page.locator("[role=alert]").inner_text()

        page.fill("#login-password", READER_PASSWORD)
        page.click("button:text('Sign in')")
        # Back where it was going, and refused there: the reader holds nothing on this experiment.
        assert page.url == f"{auth_server.url}/ui/experiments/{secret}"
        assert page.locator("h1").inner_text() == "Refused"
        assert "reader" in page.locator(".error-message").inner_text()
        assert page.locator(".top .actor").inner_text() == "Signed in as reader"
        assert page.locator(".top .admin-link").count() == 0  # not an admin

        cookie = next(c for c in chromium.cookies(auth_server.url) if c["name"] == "runstone_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # plain http here

        # The reader's own experiment, made through the UI's form with its session-bound token.
        page.goto(f"{auth_server.url}/ui/")
        page.fill("#new-name", "readers-own")
        page.click("form.create button")
        assert "readers-own" in page.locator("main").inner_text()

        # A hostile page on another loopback port posts a form and fetches at the server
        # while the reader is signed in: nothing is created.
        before = _experiment_names(api)
        hostile = chromium.new_page()
        try:
            hostile.goto(attacker)
            hostile.wait_for_function("document.title === 'sent'")
        finally:
            hostile.close()
        assert _experiment_names(api) == before
        assert not {"forged-form", "forged-fetch", "forged-mlflow"} & before

        # Signing out revokes the session: the old cookie opens nothing any more.
        page.goto(f"{auth_server.url}/ui/")
        page.click(".top .logout button")
        assert page.url.startswith(f"{auth_server.url}/ui/login")
        stale = httpx.get(
            f"{auth_server.url}/ui/", cookies={"runstone_session": cookie["value"]}, follow_redirects=False
        )
        assert stale.status_code == 303 and stale.headers["location"].startswith("/ui/login")
        api_stale = httpx.get(f"{auth_server.url}/api/v1/experiments", cookies={"runstone_session": cookie["value"]})
        assert api_stale.status_code == 401
    finally:
        page.close()
    actions = [
        (e["action"], e["actor"])
        for e in api.get("/api/v1/audit", params={"action": "login."}).json()["events"]
        if e["action"].startswith("login.")
    ]
    assert ("login.failed", "anonymous") in actions and ("login.success", "reader") in actions
