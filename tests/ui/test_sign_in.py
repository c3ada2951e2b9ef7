"""The UI's sign-in with auth on, through the real HTTP stack in-process on SQLite and
PostgreSQL: the session cookie's flags (Secure behind a TLS proxy), CSRF tokens bound to the
session, and sign-out revoking it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runstone.backend import Backend
from runstone.config import Settings
from runstone.governance.context import Principal
from runstone.governance.identity import IdentityService

PASSWORD = "alice's long password"


@pytest.fixture
def signed_in_client(settings: Settings, backend: Backend) -> Callable[..., TestClient]:
    from runstone.server.app import create_app

    identity = IdentityService(backend.context(Principal("setup")))
    identity.create_user("alice", password=PASSWORD)
    identity.create_user("root", password=PASSWORD, admin=True)

    def make(**extra: Any) -> TestClient:
        return TestClient(create_app(settings.model_copy(update={"auth": True, **extra}), backend=backend))

    return make


def _csrf(page: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert found, page[:500]
    return found.group(1)


def _sign_in(http: TestClient, name: str = "alice") -> Any:
    login = http.get("/ui/login")
    assert login.status_code == 200
    # Behind a TLS proxy the browser sends back the Secure CSRF cookie; this client speaks plain
    # HTTP to the app (as the proxy does), so it is sent by hand.
    csrf_cookie = login.cookies.get("runstone_csrf") or http.cookies.get("runstone_csrf")
    return http.post(
        "/ui/login",
        data={"csrf_token": _csrf(login.text), "name": name, "password": PASSWORD, "next": "/ui/models"},
        headers={"Cookie": f"runstone_csrf={csrf_cookie}"},
        follow_redirects=False,
    )


@pytest.mark.parametrize(("external_url", "secure"), [(None, False), ("https://mlops.example.com", True)])
def test_the_session_cookie_is_httponly_lax_expiring_and_secure_behind_tls(signed_in_client, external_url, secure):
    with signed_in_client(external_url=external_url, ui_session_hours=2) as http:
        answer = _sign_in(http)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/models"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("runstone_session="))
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert "httponly" in flags and flags["samesite"].lower() == "samesite=lax"
    assert flags["max-age"] == "Max-Age=7200"
    assert ("secure" in flags) is secure


def test_csrf_tokens_are_bound_to_the_session_and_sign_out_revokes_it(signed_in_client, backend: Backend):
    with signed_in_client() as http:
        before = _csrf(http.get("/ui/login").text)  # the token of the browser before signing in
        assert _sign_in(http).status_code == 303
        page = http.get("/ui/")
        assert "Signed in as <strong>alice</strong>" in page.text
        bound = _csrf(page.text)
        assert bound != before
        refused = http.post("/ui/experiments", data={"csrf_token": before, "name": "with-old-token"})
        assert refused.status_code == 403 and "CSRF" in refused.text
        made = http.post("/ui/experiments", data={"csrf_token": bound, "name": "with-session-token"})
        assert made.status_code == 200 and "with-session-token" in made.text
        session = http.cookies["runstone_session"]

        out = http.post("/ui/logout", data={"csrf_token": bound}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/ui/login"
        http.cookies.set("runstone_session", session)  # a copy of the cookie kept from before
        again = http.post(
            "/ui/experiments", data={"csrf_token": bound, "name": "after-sign-out"}, follow_redirects=False
        )
        assert again.status_code == 303 and again.headers["location"].startswith("/ui/login")
    names = {e.name for e in backend.tracking(backend.context(Principal("check"))).search_experiments()}
    assert "with-session-token" in names and not {"with-old-token", "after-sign-out"} & names


def test_an_admin_resetting_a_password_ends_that_users_ui_sessions(signed_in_client):
    # Every request checks its session, so the end is seen at once (no seconds of trust).
    with signed_in_client(auth_token_cache_seconds=0) as alice, signed_in_client(auth_token_cache_seconds=0) as root:
        assert _sign_in(alice).status_code == 303 and alice.get("/ui/").status_code == 200
        assert _sign_in(root, "root").status_code == 303
        admin_page = root.get("/ui/admin")
        assert admin_page.status_code == 200
        reset = root.post(
            "/ui/admin/users/alice/password",
            data={"csrf_token": _csrf(admin_page.text), "password": "alice's new long password"},
        )
        assert "ended 1 UI session" in reset.text
        stale = alice.get("/ui/", follow_redirects=False)
        assert stale.status_code == 303 and stale.headers["location"].startswith("/ui/login")
        assert root.get("/ui/").status_code == 200  # the admin's own session goes on


def test_a_password_set_through_the_identity_service_ends_the_ui_sessions_too(signed_in_client, backend: Backend):
    """The REST API and the CLI set passwords through the same service call as the admin page."""
    with signed_in_client(auth_token_cache_seconds=0) as alice:
        assert _sign_in(alice).status_code == 303 and alice.get("/ui/").status_code == 200
        ended = IdentityService(backend.context(Principal("root"))).set_password("alice", "a new long password!")
        assert ended == 1
        stale = alice.get("/ui/", follow_redirects=False)
        assert stale.status_code == 303 and stale.headers["location"].startswith("/ui/login")


def test_the_header_names_the_signed_in_user_and_says_so_when_auth_is_off(settings: Settings, backend: Backend):
    from runstone.server.app import create_app

    with TestClient(create_app(settings.model_copy(update={"auth": False}), backend=backend)) as http:
        page = http.get("/ui/")
        assert page.status_code == 200
        assert "auth off (single user)" in page.text
        assert 'action="/ui/logout"' not in page.text and "Signed in as" not in page.text
        # There is nobody to sign in as: the sign-in page says so and sends the browser on.
        login = http.get("/ui/login")
        assert login.url.path == "/ui/" and "without authentication" in login.text

    identity = IdentityService(backend.context(Principal("setup")))
    identity.create_user("carol", password=PASSWORD)
    with TestClient(create_app(settings.model_copy(update={"auth": True}), backend=backend)) as http:
        assert _sign_in(http, "carol").status_code == 303
        page = http.get("/ui/")
        assert "Signed in as <strong>carol</strong>" in page.text and 'action="/ui/logout"' in page.text
        assert "auth off" not in page.text
