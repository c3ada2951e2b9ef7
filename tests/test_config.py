"""Settings: the embedded default with no configuration, and RUNSTONE_* overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from runstone.config import Settings


def test_with_no_configuration_everything_lives_under_the_home_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNSTONE_HOME", raising=False)
    settings = Settings()
    home = Path.home() / ".runstone"
    assert settings.home == home
    assert settings.database_uri == f"sqlite:///{home / 'runstone.db'}"
    assert settings.artifact_root == str(home / "artifacts")
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 5000, 1)
    assert settings.tracking_uri is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RUNSTONE_HOME", str(tmp_path / "team"))
    monkeypatch.setenv("RUNSTONE_TRACKING_URI", "http://tracking:5000")
    monkeypatch.setenv("RUNSTONE_PORT", "8080")
    settings = Settings()
    assert settings.database_uri == f"sqlite:///{tmp_path / 'team' / 'runstone.db'}"
    assert settings.tracking_uri == "http://tracking:5000"
    assert settings.port == 8080
    monkeypatch.setenv("RUNSTONE_BACKEND_STORE_URI", "postgresql+psycopg://db/runstone")
    monkeypatch.setenv("RUNSTONE_ARTIFACTS_DESTINATION", "s3://bucket/prefix")
    assert Settings().database_uri == "postgresql+psycopg://db/runstone"
    assert Settings().artifact_root == "s3://bucket/prefix"
