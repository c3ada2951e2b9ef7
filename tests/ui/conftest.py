"""Fixtures of the UI tests: the real HTTP stack in-process, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

CSRF_COOKIE = "runstone_csrf"


class Browser:
    """A TestClient that behaves like a browser on the UI: cookies, form posts with the token."""

    def __init__(self, http: Any) -> None:
        self.http = http

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.http.get(url, **kwargs)

    def token(self) -> str:
        if CSRF_COOKIE not in self.http.cookies:
            assert self.http.get("/ui/").status_code == 200
        return str(self.http.cookies[CSRF_COOKIE])

    def post(self, url: str, data: dict[str, Any] | None = None, *, follow: bool = True) -> Any:
        form = {"csrf_token": self.token(), **(data or {})}
        return self.http.post(url, data=form, follow_redirects=follow)


@pytest.fixture
def browser(http: Any) -> Browser:
    return Browser(http)


@pytest.fixture
def client(remote_client: Any) -> Any:
    """The SDK over HTTP, to write what the pages then show."""
    return remote_client
