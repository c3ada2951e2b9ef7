"""Docs are tested against the code: reference pages are generated and current, and the
commands in the how-tos run."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import gen_docs  # noqa: E402


@pytest.mark.parametrize("page", sorted(gen_docs.PAGES))
def test_reference_pages_are_current(page):
    expected = gen_docs.PAGES[page]()
    actual = (ROOT / "docs" / page).read_text()
    assert actual == expected, f"docs/{page} is out of date; run: python scripts/gen_docs.py"


def test_every_cli_command_and_setting_is_documented():
    from runstone.config import Settings

    cli_page = (ROOT / "docs" / "cli.md").read_text()
    for command in ("runstone server", "runstone runs list", "runstone gc", "runstone sync", "runstone audit verify"):
        assert f"## `{command}`" in cli_page
    settings_page = (ROOT / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"RUNSTONE_{name.upper()}" in settings_page


def blocks(markdown: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(python|bash)\n(.*?)```", markdown, re.S)]


@pytest.mark.parametrize("page", ["quickstart.md", "registry.md", "models.md", "serving.md", "monitoring.md"])
def test_howto_commands_run(page, tmp_path):
    """Every python and bash block of the page runs, in order, in one fresh home."""
    env = {**os.environ, "RUNSTONE_HOME": str(tmp_path / "home")}
    env.pop("RUNSTONE_TRACKING_URI", None)
    # Pages with mlflow code run it offline, on MLflow's local default store.
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    found = blocks((ROOT / "docs" / page).read_text())
    assert found, "the page has runnable blocks"
    for language, code in found:
        if language == "python":
            done = subprocess.run(
                [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"python block failed:\n{code}\n{done.stderr}"
            continue
        for line in code.strip().splitlines():
            argv = shlex.split(line)
            assignments = {}
            while argv and "=" in argv[0] and argv[0].split("=", 1)[0].isidentifier():
                name, value = argv.pop(0).split("=", 1)
                assignments[name] = value
            assert argv[0] == "runstone", f"bash blocks hold runstone commands only: {line}"
            done = subprocess.run(
                [sys.executable, "-m", "runstone", *argv[1:]],
                cwd=tmp_path,
                env={**env, **assignments},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, f"{line} failed:\n{done.stdout}\n{done.stderr}"


def test_every_test_the_reliability_page_names_exists() -> None:
    """docs/reliability.md proves each promise with named tests: each must be real."""
    import re

    page = (ROOT / "docs" / "reliability.md").read_text()
    test_files = list((ROOT / "tests").rglob("test_*.py"))
    defined = {name for p in test_files for name in re.findall(r"^def (test_\w+)", p.read_text(), re.M)}
    stems = {p.stem for p in test_files}
    named = set(re.findall(r"\btest_\w+", page))
    assert len(named) > 10
    assert sorted(named - defined - stems) == []
    assert [f for f in sorted(set(re.findall(r"tests/[\w/]+\.py", page))) if not (ROOT / f).is_file()] == []
