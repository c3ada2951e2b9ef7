"""Fixtures of the UI tests: the real HTTP stack in-process, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

CSRF_COOKIE = "runstone_csrf"


class Browser:
    """A TestClient that behaves like a browser on the UI: cookies, form posts with the token.

    It acts as "tester" (the X-Runstone-User header of the ``http`` fixture) unless a request
    names another ``user``.
    """

    def __init__(self, http: Any) -> None:
        self.http = http

    def get(self, url: str, *, user: str | None = None, **kwargs: Any) -> Any:
        if user:
            kwargs["headers"] = {**kwargs.get("headers", {}), "X-Runstone-User": user}
        return self.http.get(url, **kwargs)

    def token(self) -> str:
        if CSRF_COOKIE not in self.http.cookies:
            assert self.http.get("/ui/").status_code == 200
        return str(self.http.cookies[CSRF_COOKIE])

    def post(
        self, url: str, data: dict[str, Any] | None = None, *, follow: bool = True, user: str | None = None
    ) -> Any:
        form = {"csrf_token": self.token(), **(data or {})}
        headers = {"X-Runstone-User": user} if user else None
        return self.http.post(url, data=form, follow_redirects=follow, headers=headers)


@pytest.fixture
def browser(http: Any) -> Browser:
    return Browser(http)


@pytest.fixture
def client(remote_client: Any) -> Any:
    """The SDK over HTTP, to write what the pages then show."""
    return remote_client


@pytest.fixture
def as_user(backend: Any) -> Callable[[str], Any]:
    """The registry service as one named person sees it, on the stores the pages read."""
    from runstone.governance.context import Principal

    return lambda user: backend.registry(backend.context(Principal(user)))


@pytest.fixture
def logged_model(as_user: Any) -> Callable[..., str]:
    """A run (named ``name``) holding a tiny model and an accuracy metric; returns its runs:/ URI."""
    from runstone.entities import Metric

    def make(accuracy: float | None = None, name: str = "train") -> str:
        registry = as_user("alice")
        run_id = registry.tracking.create_run(run_name=name).info.run_id
        if accuracy is not None:
            registry.tracking.log_batch(run_id, [Metric("accuracy", accuracy, 1, 0)])
        registry.artifacts.log_artifact(run_id, "model/MLmodel", [b"flavors: {}\n"])
        return f"runs:/{run_id}/model"

    return make
