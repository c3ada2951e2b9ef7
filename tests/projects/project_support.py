"""Running the real `runstone` command (and scripts) in subprocesses for the project tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def runstone(
    *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runstone", *args],
        cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def runstone_json(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    done = runstone(*args, "--json", cwd=cwd, env=env)
    assert done.stdout.strip(), done.stderr
    try:
        return json.loads(done.stdout)  # type: ignore[no-any-return]
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}") from None


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=tests@runstone", "-c", "user.name=tests", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def make_repo(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    git("init", "-q", "-b", "main", cwd=target)
    git("add", "-A", cwd=target)
    git("commit", "-qm", "first version", cwd=target)
    return target
