"""Browser tests: Debian's Chromium, driven by Playwright, against a real ``runstone server``.

One server (SQLite home, free loopback port) and one browser serve the whole module; every test
opens its own page. A page that logs a JavaScript error fails its test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))

from demo_data import Demo, LongRun, RegistryDemo, Sweep, populate, populate_long_run, populate_registry, populate_sweep
from e2e_support import Server, Servers, remote

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def launch(playwright: Any, profile: Path) -> Any:
    """Chromium with a fresh profile; a missing browser is a failure that says how to fix it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); scripts/test does.")
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 900},
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pool = Servers(tmp_path_factory.mktemp("browser-server"))
    try:
        yield pool.start()
    finally:
        pool.stop_all()


@pytest.fixture(scope="session")
def demo(server: Server) -> Demo:
    with remote(server.url) as client:
        return populate(client)


# Per module: while Playwright's synchronous API is open, the main thread counts as running an
# event loop, which would break later tests that call asyncio.run().
@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = launch(playwright, tmp_path_factory.mktemp("chromium-profile"))
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def sweep(server: Server) -> Sweep:
    with remote(server.url) as client:
        return populate_sweep(client)


@pytest.fixture(scope="session")
def long_run(server: Server) -> LongRun:
    with remote(server.url) as client:
        return populate_long_run(client)


@pytest.fixture(scope="session")
def registry_demo(server: Server, demo: Demo) -> RegistryDemo:
    with remote(server.url) as client:
        return populate_registry(client, demo)


@pytest.fixture
def pages(chromium: Any, server: Server, demo: Demo) -> Iterator[Callable[[str | None], Any]]:
    """Open pages, each acting as the user it names (the X-Runstone-User header of its requests)."""
    opened: list[tuple[Any, list[str]]] = []

    def open_page(user: str | None = None) -> Any:
        page = chromium.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        if user:
            page.set_extra_http_headers({"X-Runstone-User": user})
        page.base = server.url
        page.allowed_errors = []  # a test that expects an error response names it here
        opened.append((page, errors))
        return page

    try:
        yield open_page
    finally:
        for page, _ in opened:
            page.close()
    for page, errors in opened:
        # The sandboxed HTML preview refusing to run its script is the sandbox working.
        allowed = ["allow-scripts", *page.allowed_errors]
        unexpected = [e for e in errors if not any(a in e for a in allowed)]
        assert not unexpected, f"the page logged errors: {unexpected}"


@pytest.fixture
def page(pages: Callable[[str | None], Any]) -> Any:
    return pages(None)
