"""The API explorer at /docs runs in the browser from the server's own files, under its CSP."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_api_explorer_loads_nothing_from_elsewhere(page):
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).netloc))
    answer = page.goto(page.base + "/docs")
    assert answer is not None
    assert "script-src 'self';" in answer.headers["content-security-policy"]
    # The operations of the API are listed: Swagger UI ran and read /openapi.json.
    expect(page.get_by_text("/api/v1/runs/search").first).to_be_visible()
    assert hosts == {urlparse(page.base).netloc}, hosts  # no CDN, nothing but this server
