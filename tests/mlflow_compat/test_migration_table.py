"""The examples of "What MLflow 3 offers" in docs/migrating-from-mlflow.md, run as the page shows
them against a real ``runstone server``: each prints what the page says it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from stock_client import mlflow_env

pytestmark = pytest.mark.e2e

PAGE = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-mlflow.md"
SECTION = "## What MLflow 3 offers, and what runstone does with it"


def examples() -> list[tuple[str, str]]:
    """(code, expected output) of each python block of the section and the text block after it."""
    text = PAGE.read_text()
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    return re.findall(r"```python\n(.*?)```\s*```text\n(.*?)```", section, re.S)


def test_the_page_has_examples_for_its_table():
    assert len(examples()) == 5
    table = PAGE.read_text().split(SECTION)[1].split("```")[0]
    for feature in (
        "Tracing",
        "copy_model_version",
        "Prompt registry",
        "OTLP",
        "Trace retention",
        "runs:/",
        "Lightning",
    ):
        assert feature in table


@pytest.mark.parametrize("index", range(5))
def test_each_example_prints_what_the_page_shows(server, tmp_path, index):
    code, expected = examples()[index]
    env = {**mlflow_env(server.url), "RUNSTONE_TRACKING_URI": server.url}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-5000:]
    # The client also prints links to the runs it ends ("🏃 View run ...", "🧪 View experiment ...").
    printed = [line for line in done.stdout.splitlines() if not line.startswith(("🏃", "🧪"))]
    assert printed == expected.strip().splitlines()
