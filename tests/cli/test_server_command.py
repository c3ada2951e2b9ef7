"""runstone server: with no options it serves the embedded default on 127.0.0.1:5000 (the
server itself is started for real by the end-to-end tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli

from runstone.config import Settings
from runstone.server import run


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Settings, Any]]:
    """Records what `runstone server` would serve instead of serving it."""
    calls: list[tuple[Settings, Any]] = []

    def serve(settings: Settings, backend: Any = None) -> None:
        calls.append((settings, backend))
        if backend is not None:
            backend.close()

    monkeypatch.setattr(run, "serve", serve)
    return calls


def test_no_options_mean_the_embedded_default_on_loopback_port_5000(cli: Cli, home: Path, served: list) -> None:
    out = cli("server").stdout
    [(settings, backend)] = served
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 5000, 1)
    assert settings.database_uri == f"sqlite:///{home / 'runstone.db'}"
    assert settings.artifact_root == str(home / "artifacts")
    assert backend is not None  # one worker serves with the backend opened (and checked) up front
    assert (home / "runstone.db").is_file()
    assert out == f"runstone server on http://127.0.0.1:5000 (store: sqlite:///{home / 'runstone.db'})\n"


def test_options_override_the_defaults(cli: Cli, tmp_path: Path, served: list) -> None:
    database = f"sqlite:///{tmp_path / 'meta.db'}"
    cli("server", "--host", "0.0.0.0", "--port", "8080", "--workers", "3", "--backend-store-uri", database,
        "--artifacts-destination", str(tmp_path / "blobs"))  # fmt: skip
    [(settings, backend)] = served
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 8080, 3)
    assert (settings.database_uri, settings.artifact_root) == (database, str(tmp_path / "blobs"))
    assert backend is None  # several workers each open their own
    assert (tmp_path / "meta.db").is_file()  # the schema was created before any worker started


@pytest.mark.parametrize(
    ("host", "warned"), [("0.0.0.0", True), ("192.168.1.10", True), ("::1", False), ("localhost", False)]
)
def test_listening_beyond_loopback_without_authentication_is_warned_about(
    cli: Cli, served: list, host: str, warned: bool
) -> None:
    done = cli("server", "--host", host)
    assert ("without authentication" in done.stderr) is warned
