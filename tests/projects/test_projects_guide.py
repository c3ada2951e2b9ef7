"""docs/projects.md: the project it shows is the example project, and every command it shows
runs, in order, against that project."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from project_support import FIXTURES, make_repo

from runstone.sdk.client import RunstoneClient
from runstone.tracking import tags as T

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "projects.md"


def blocks(markdown: str, languages: str = "python|bash|yaml") -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in re.finditer(rf"```({languages})\n(.*?)```", markdown, re.S)]


def first_project_run() -> str:
    runs = RunstoneClient().search_runs(["0"], f"tags.`{T.PROJECT_ENTRY_POINT}` = 'train'",
                                        order_by=["attributes.start_time ASC"]).items  # fmt: skip
    return runs[0].info.run_id


def test_the_guide_shows_the_example_project() -> None:
    (manifest,) = [code for lang, code in blocks(GUIDE.read_text()) if lang == "yaml"]
    assert manifest == (FIXTURES / "wine" / "runstone.yaml").read_text()


def test_every_command_of_the_guide_runs(tmp_path: Path, env_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNSTONE_ENV_CACHE", str(env_cache))
    make_repo(FIXTURES / "wine", tmp_path / "wine")
    (tmp_path / "data").mkdir()
    shutil.copy(FIXTURES / "wine.csv", tmp_path / "data" / "wine.csv")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    found = [(lang, code) for lang, code in blocks(GUIDE.read_text(), "python|bash")]
    assert len(found) >= 6
    for language, code in found:
        if language == "python":
            done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=600, check=False)  # fmt: skip
            assert done.returncode == 0, f"python block failed:\n{code}\n{done.stderr}"
            continue
        for line in code.strip().splitlines():
            if "$RUN_ID" in line:
                line = line.replace("$RUN_ID", first_project_run())
            argv = shlex.split(line)
            assert argv[0] == "runstone", line
            done = subprocess.run([sys.executable, "-m", "runstone", *argv[1:]], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
            assert done.returncode == 0, f"{line} failed:\n{done.stdout}\n{done.stderr}"
    assert RunstoneClient().get_run(first_project_run()).data.tags[T.REPRODUCTION_VERDICT] == "reproduced"
