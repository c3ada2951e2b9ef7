"""Signing in to the UI of a real ``runstone server --auth`` in headless Chromium: the browser is
sent to the sign-in page, signs in, sees its name, is refused (403 page) on an experiment it may
not read, cannot be driven by a page served from another loopback origin, and signing out ends
the session for good."""

from __future__ import annotations

import base64
import http.server
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import oidc_provider
import pytest
from browser_support import screenshot
from e2e_support import Server, Servers, free_port
from joserfc.jwk import RSAKey
from sqlalchemy import create_engine, text

ADMIN_PASSWORD = "admin password of the sign-in test"
READER_PASSWORD = "reader password of the sign-in test"
ADMIN = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()}


@pytest.fixture(scope="module")
def sso() -> Iterator[oidc_provider.Provider]:
    provider, httpd = oidc_provider.start(free_port())
    try:
        yield provider
    finally:
        httpd.shutdown()
        httpd.server_close()


# The sign-in journey runs against a server on each backend; the longer journeys below keep
# to the SQLite one (``ON_SQLITE``), so PostgreSQL costs one more server and one journey.
ON_SQLITE = pytest.mark.parametrize("auth_server", ["sqlite"], indirect=True)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def auth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sso: oidc_provider.Provider
) -> Iterator[Server]:
    pool = Servers(tmp_path_factory.mktemp("sign-in"))
    args: list[str] = []
    schema, admin_engine = None, None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
        schema = f"sign_in_{uuid.uuid4().hex[:10]}"
        admin_engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        args = ["--backend-store-uri", f"{url}?options=-csearch_path%3D{schema}"]
    try:
        # Every request checks its token, so a revoked one is refused at once (no 5 s of trust).
        env = {"RUNSTONE_ADMIN_PASSWORD": ADMIN_PASSWORD, "RUNSTONE_AUTH_TOKEN_CACHE_SECONDS": "0",
               "RUNSTONE_OIDC_ISSUER": sso.url, "RUNSTONE_OIDC_CLIENT_ID": oidc_provider.CLIENT_ID,
               "RUNSTONE_OIDC_CLIENT_SECRET": oidc_provider.CLIENT_SECRET}  # fmt: skip
        yield pool.start("--auth", *args, env=env)
    finally:
        pool.stop_all()
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                # The journey's people were kept in PostgreSQL, not in a file beside the server.
                users = conn.execute(text(f'SELECT name FROM "{schema}".users')).scalars().all()
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin_engine.dispose()
            assert {"admin", "reader"} <= set(users)


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
<form id="l" method="post" action="{url}/ui/login" target="sink2"><input name="name" value="admin">
<input name="password" value="{admin_password}"><input name="next" value="/ui/"></form>
<iframe name="sink2"></iframe>
<script>
fetch("{url}/api/v1/experiments", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({{name: "forged-fetch"}})}})
  .catch(() => null)
  .then(() => fetch("{url}/api/2.0/mlflow/experiments/create", {{method: "POST", mode: "no-cors",
     credentials: "include", body: JSON.stringify({{name: "forged-mlflow"}})}}))
  .catch(() => null)
  .then(() => {{ document.getElementById("f").submit(); document.getElementById("l").submit(); }})
  .then(() => setTimeout(() => {{ document.title = "sent"; }}, 300));
</script></body></html>"""


@pytest.fixture(scope="module")
def attacker(auth_server: Server) -> Iterator[str]:
    """A hostile page on a second loopback port (another origin, the same site)."""
    body = ATTACKER_PAGE.format(url=auth_server.url, admin_password=ADMIN_PASSWORD).encode()

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
        screenshot(page, "sign-in")
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

        # Given READ on a shared experiment, the reader sees it and its permission state.
        shared = api.post("/api/v1/experiments", json={"name": "shared"}).json()["experiment"]["experiment_id"]
        grant = {"resource_type": "experiment", "resource_id": shared, "principal": "reader", "permission": "READ"}
        assert api.post("/api/v1/permissions/grant", json=grant).status_code == 200
        page.goto(f"{auth_server.url}/ui/experiments/{shared}")
        assert page.locator("h1").inner_text().startswith("shared")
        assert page.locator("#access .access-level").inner_text() == "READ"
        page.click("#access summary")
        grants = page.locator("#access table.grants").inner_text()
        assert "user reader\tREAD" in grants and "user admin\tMANAGE" in grants
        assert page.locator("#access form.grant").count() == 0  # READ cannot change grants
        forged = page.request.post(
            f"{auth_server.url}/ui/experiments/{shared}/grants",
            form={
                "csrf_token": page.locator("meta[name=csrf-token]").get_attribute("content"),
                "principal": "reader",
                "permission": "MANAGE",
            },
        )
        assert forged.status == 403 and "MANAGE" in forged.text()

        cookie = next(c for c in chromium.cookies(auth_server.url) if c["name"] == "runstone_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # plain http here

        # The reader's own experiment, made through the UI's form with its session-bound token.
        page.goto(f"{auth_server.url}/ui/")
        page.fill("#new-name", "readers-own")
        page.click("form.create button")
        assert "readers-own" in page.locator("main").inner_text()

        # A hostile page on another loopback port posts a form and fetches at the server
        # while the reader is signed in, and posts the admin's name and password to the sign-in
        # form to swap the session for one it knows: nothing is created, nobody is signed in.
        before = _experiment_names(api)
        hostile = chromium.new_page()
        try:
            hostile.goto(attacker)
            hostile.wait_for_function("document.title === 'sent'")
        finally:
            hostile.close()
        assert _experiment_names(api) == before
        assert not {"forged-form", "forged-fetch", "forged-mlflow"} & before
        # Nor could it sign the browser in as someone else (login CSRF): still the reader.
        page.reload()
        assert page.locator(".top .actor").inner_text() == "Signed in as reader"

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


def _sign_in(page: Any, url: str, name: str, password: str, target: str = "/ui/") -> None:
    page.context.clear_cookies()
    page.goto(url + target)
    page.fill("#login-name", name)
    page.fill("#login-password", password)
    page.click("button:text('Sign in')")


@ON_SQLITE
def test_an_admin_manages_users_tokens_and_groups_and_reads_the_audit_trail_a_user_cannot(
    chromium: Any, auth_server: Server, api: httpx.Client
) -> None:
    url = auth_server.url
    page = chromium.new_page()
    try:
        _sign_in(page, url, "reader", READER_PASSWORD, "/ui/admin")
        assert page.locator("h1").inner_text() == "Refused"  # admins only
        assert "admin" in page.locator(".error-message").inner_text()

        _sign_in(page, url, "admin", ADMIN_PASSWORD)
        page.click(".top .admin-link")
        assert page.url == f"{url}/ui/admin", page.content()[-3000:]
        assert page.locator("#new-user").count() == 1, page.content()[-3000:]
        page.fill("#new-user", "carol")
        page.fill("input[name=password][placeholder^='password']", "carol's first password")
        page.click("form.create:has(#new-user) button")
        assert "Created user 'carol'" in page.locator(".flash").inner_text()
        assert page.locator("tr[data-user=carol] .state").inner_text() == "active"
        page.fill("#new-user", "carol")  # taken: a clear message, nothing changes
        page.click("form.create:has(#new-user) button")
        assert "carol" in page.locator(".flash-error").inner_text()
        assert page.locator("tr[data-user=carol]").count() == 1
        page.fill("input[name=name][placeholder='token name']", "bad")
        page.fill("input[name=days]", "soon")
        page.click("button:text('Create token')")
        assert "number of days" in page.locator(".flash-error").inner_text()

        # A token is shown once; it works for the API until it is revoked on this page.
        page.select_option("#token-user", "carol")
        page.fill("input[name=name][placeholder='token name']", "ci")
        page.fill("input[name=days]", "30")
        page.click("button:text('Create token')")
        secret = page.locator("code.new-token").inner_text()
        assert secret.startswith("rst_")
        bearer = {"Authorization": f"Bearer {secret}"}
        assert httpx.get(f"{url}/api/v1/users/me", headers=bearer).json()["user"]["name"] == "carol"
        page.goto(f"{url}/ui/admin")
        assert page.locator("code.new-token").count() == 0  # never shown again
        screenshot(page, "admin")
        token_id = secret.split("_")[1]
        page.click(f"tr[data-token='{token_id}'] button:text('Revoke')")
        assert page.locator(f"tr[data-token='{token_id}'] .state").inner_text() == "revoked"
        assert httpx.get(f"{url}/api/v1/users/me", headers=bearer).status_code == 401

        # Reset a password, then disable the user: the new password works, then nothing does.
        row = page.locator("tr[data-user=carol]")
        row.locator("input[name=password]").fill("carol's second password")
        row.locator("button:text('Reset password')").click()
        carol = ("carol", "carol's second password")
        assert httpx.get(f"{url}/api/v1/users/me", auth=carol).status_code == 200
        page.locator("tr[data-user=carol] button:text('Disable')").click()
        assert page.locator("tr[data-user=carol] .state").inner_text() == "disabled"

        page.fill("#new-group", "analysts")
        page.click("button:text('Create group')")
        page.locator("tr[data-group=analysts] input[name=user]").fill("reader")
        page.locator("tr[data-group=analysts] button:text('Add')").click()
        assert "reader" in page.locator("tr[data-group=analysts]").inner_text()
        assert {"name": "analysts", "members": ["reader"]} in api.get("/api/v1/groups").json()["groups"]

        # A model's page shows the permission state too; APPROVE granted to a group is listed.
        assert api.post("/api/v1/registered-models", json={"name": "churn"}).status_code == 201
        grant = {"resource_type": "model", "resource_id": "churn", "principal_type": "group", "principal": "analysts",
                 "permission": "APPROVE"}  # fmt: skip
        assert api.post("/api/v1/permissions/grant", json=grant).status_code == 200
        page.goto(f"{url}/ui/models/churn")
        assert page.locator("#access .access-level").inner_text() == "admin"
        page.click("#access summary")
        assert "group analysts\tAPPROVE" in page.locator("#access table.grants").inner_text()
        # An admin (or MANAGE holder) grants and revokes there.
        page.fill("#access form.grant input[name=principal]", "reader")
        page.select_option("#access form.grant select[name=permission]", "EDIT")
        page.click("#access button:text('Grant')")
        assert "Granted EDIT to user 'reader'" in page.locator(".flash").inner_text()
        page.click("#access tr[data-grant='group:analysts:APPROVE'] button")
        grants = {(g["principal_type"], g["principal"], g["permission"])
                  for g in api.get("/api/v1/permissions", params={"resource_type": "model", "resource_id": "churn"}).json()["permissions"]}  # fmt: skip
        assert ("user", "reader", "EDIT") in grants and ("group", "analysts", "APPROVE") not in grants

        # The audit trail, filtered: the reader's sign-ins, the token's life.
        page.goto(f"{url}/ui/admin/audit")
        page.fill("#f-actor", "reader")
        page.fill("#f-action", "login.")
        page.click("form[role=search] button")
        actions = page.locator("table.audit td.action").all_inner_texts()
        assert actions and set(actions) == {"login.success"}
        page.goto(f"{url}/ui/admin/audit?target=token:{token_id}")
        actions = page.locator("table.audit td.action").all_inner_texts()  # newest first
        assert [a for a in actions if a.startswith("token.")] == ["token.revoke", "token.create"]
        assert actions[0] == "login.failed"  # the revoked token, tried once more
        assert secret not in page.content()

        # A disabled user cannot sign in.
        _sign_in(page, url, "carol", "carol's second password")
        assert "Wrong user name or password" in page.locator("[role=alert]").inner_text()
    finally:
        page.close()


def _groups(api: httpx.Client) -> dict[str, list[str]]:
    return {g["name"]: g["members"] for g in api.get("/api/v1/groups").json()["groups"]}


@ON_SQLITE
def test_single_sign_on_through_openid_connect_maps_the_user_and_its_groups(
    chromium: Any, auth_server: Server, api: httpx.Client, sso: oidc_provider.Provider
) -> None:
    url = auth_server.url
    for group in ("ml-team", "ops"):
        assert api.post("/api/v1/groups", json={"name": group}).status_code == 201
    sso.user = {"preferred_username": "dana", "groups": ["ml-team", "not-a-runstone-group"]}
    page = chromium.new_page()
    try:
        page.context.clear_cookies()
        page.goto(f"{url}/ui/models")
        page.click("a:text('Sign in with single sign-on')")
        # To the provider and back, signed in as the user the ID token names, where it was going.
        assert page.url == f"{url}/ui/models"
        assert page.locator(".top .actor").inner_text() == "Signed in as dana"
        groups = _groups(api)
        assert groups["ml-team"] == ["dana"] and "dana" not in groups["ops"]
        assert "not-a-runstone-group" not in groups  # groups are not created from the claim

        # Membership follows the provider at each sign-in.
        sso.user = {"preferred_username": "dana", "groups": ["ops"]}
        page.click(".top .logout button")
        page.click("a:text('Sign in with single sign-on')")
        assert page.locator(".top .actor").inner_text() == "Signed in as dana"
        groups = _groups(api)
        assert "dana" not in groups["ml-team"] and groups["ops"] == ["dana"]

        # A callback this browser did not start (a forged state) signs nobody in.
        page.context.clear_cookies()
        issued = sso.tokens_issued
        page.goto(f"{url}/ui/login/oidc/callback?code=stolen&state=forged")
        assert page.locator("h1").inner_text() == "Something is wrong"
        assert "start again" in page.locator(".error-message").inner_text()
        assert sso.tokens_issued == issued
        assert page.locator(".top .actor").count() == 0

        # An ID token whose signature the provider's published keys do not verify signs nobody in.
        sso.forged_key = RSAKey.generate_key(2048, private=True, auto_kid=True)
        try:
            page.goto(f"{url}/ui/login")
            page.click("a:text('Sign in with single sign-on')")
            assert page.locator("h1").inner_text() != "Models"
            assert "Single sign-on failed" in page.locator(".error-message").inner_text()
            assert page.locator(".top .actor").count() == 0
        finally:
            sso.forged_key = None
    finally:
        page.close()
    events = api.get("/api/v1/audit", params={"action": "login.success", "actor": "dana"}).json()["events"]
    assert [e["after"]["method"] for e in events] == ["oidc", "oidc"]


@ON_SQLITE
def test_the_workspace_and_reports_show_a_signed_in_reader_only_what_it_may_read(
    chromium: Any, auth_server: Server, api: httpx.Client
) -> None:
    def experiment_with_a_run(name: str) -> tuple[str, str]:
        experiment = api.post("/api/v1/experiments", json={"name": name}).json()["experiment"]["experiment_id"]
        run = api.post("/api/v1/runs", json={"experiment_id": experiment, "run_name": f"{name}-run"}).json()
        run_id = run["run"]["info"]["run_id"]
        points = [{"key": "train/loss", "value": 1 / (s + 1), "timestamp": 1000 + s, "step": s} for s in range(10)]
        assert api.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": points}).status_code == 200
        return experiment, run_id

    readable, run_id = experiment_with_a_run("workspace-readable")
    hidden, _ = experiment_with_a_run("workspace-hidden")
    grant = {"resource_type": "experiment", "resource_id": readable, "principal": "reader", "permission": "READ"}
    assert api.post("/api/v1/permissions/grant", json=grant).status_code == 200
    body = f"@panel experiment={readable} metric=train/loss\n\n@panel experiment={hidden} metric=train/loss\n"
    report = api.post("/api/v1/reports", json={"title": "shared study", "body": body}).json()["report"]["report_id"]

    page = chromium.new_page()
    try:
        _sign_in(page, auth_server.url, "reader", READER_PASSWORD, f"/ui/experiments/{readable}")
        page.locator("#workspace").scroll_into_view_if_needed()
        panel = page.locator('[data-panel][data-key="train/loss"]')
        panel.scroll_into_view_if_needed()
        page.wait_for_function("() => document.querySelector('[data-panel]')?.dataset.state === 'drawn'")
        assert panel.get_attribute("data-runs") == run_id

        # A report shows the panel of the experiment the reader may read, and refuses the other.
        page.goto(f"{auth_server.url}/ui/reports/{report}")
        panels = page.locator("[data-report-panel]")
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-report-panel]')].every(p => ['drawn', 'error'].includes(p.dataset.state))"
        )
        assert panels.nth(0).get_attribute("data-state") == "drawn"
        assert panels.nth(1).get_attribute("data-state") == "error"
        assert "READ" in panels.nth(1).locator("[role=alert]").inner_text()
        # Its export would hold the other experiment's data: refused as a whole.
        refused = page.request.get(f"{auth_server.url}/ui/reports/{report}/export.html")
        assert refused.status == 403
    finally:
        page.close()


@ON_SQLITE
def test_guessing_a_password_on_the_sign_in_form_is_stopped_after_ten_tries(
    auth_server: Server, api: httpx.Client
) -> None:
    password = "target's real password"
    assert api.post("/api/v1/users", json={"name": "target", "password": password}).status_code == 201
    with httpx.Client(base_url=auth_server.url, timeout=30) as http:
        login = http.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token, login.text[:500]

        def sign_in(name: str, secret: str) -> httpx.Response:
            form = {"csrf_token": token.group(1), "name": name, "password": secret, "next": "/ui/"}
            return http.post("/ui/login", data=form, follow_redirects=False)

        assert [sign_in("target", f"guess {i}").status_code for i in range(10)] == [401] * 10
        # The eleventh try is refused before its password is looked at, even the right one.
        refused = sign_in("target", password)
        assert refused.status_code == 429 and "Too many wrong passwords for &#39;target&#39;" in refused.text
        assert "runstone_session" not in refused.headers.get("set-cookie", "")
    # Another user at the same address signs in as before.
    with httpx.Client(base_url=auth_server.url, timeout=30) as other:
        page = other.get("/ui/login")
        token2 = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token2
        form = {"csrf_token": token2.group(1), "name": "reader", "password": READER_PASSWORD, "next": "/ui/"}
        assert other.post("/ui/login", data=form, follow_redirects=False).status_code == 303
