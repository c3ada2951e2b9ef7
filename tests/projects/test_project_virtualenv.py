"""Virtualenv environments: built from what the project declares, holding the running runstone,
cached by the hash of their lock so that the next run (and a reproduction) starts at once.

One environment is built for the whole session (the first test that needs it builds it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from project_support import runstone, runstone_json

from runstone.sdk.client import RunstoneClient
from runstone.tracking import tags as T


@pytest.fixture
def cached(env_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RUNSTONE_ENV_CACHE", str(env_cache))
    return env_cache


def test_a_project_runs_in_its_own_environment_found_again_by_its_lock(
    wine: tuple[Path, Path], cached: Path, tmp_path: Path
) -> None:
    repo, data = wine
    (repo / "where.py").write_text("import runstone, sklearn, sys\nprint(sys.prefix)\nprint(runstone.__file__)\n")

    first = runstone("run", str(repo), "-e", "train", "-P", f"data={data}")
    started = time.monotonic()
    second = runstone("run", str(repo), "-e", "where.py")
    second_seconds = time.monotonic() - started

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    client = RunstoneClient()
    runs = client.search_runs(["0"], order_by=["attributes.start_time ASC"]).items
    prefix, location = second.stdout.strip().splitlines()[-2:]
    (env_dir,) = [p for p in cached.iterdir() if p.is_dir() and p.name.startswith("virtualenv-")]
    assert Path(prefix) == env_dir
    assert Path(location).is_relative_to(env_dir)  # the run imported the environment's runstone
    assert "Building a virtualenv environment" not in second.stderr
    assert second_seconds < 30  # found in the cache: no pip install
    assert runs[0].data.tags[T.PROJECT_ENV_MANAGER] == "virtualenv"
    assert runs[0].data.tags[T.ENV_LOCK_HASH] == runs[1].data.tags[T.ENV_LOCK_HASH]
    lock = Path(client.download_artifacts(runs[0].info.run_id, T.ENV_LOCK_ARTIFACT, tmp_path)).read_text()
    assert "runstone==" in lock and "scikit-learn==" in lock

    verdict = runstone_json("reproduce", runs[0].info.run_id)

    assert verdict["verdict"] == "reproduced"
    assert not any(d["kind"] == "environment" for d in verdict["differences"])
    info = json.loads((env_dir / "runstone-env.json").read_text())
    assert info["lock"] == lock.splitlines()
