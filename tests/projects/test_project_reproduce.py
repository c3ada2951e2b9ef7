"""`runstone reproduce`: the verdict on a re-run, stored on both runs and returned as the exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from project_support import git, runstone, runstone_json

from runstone.sdk.client import RunstoneClient
from runstone.tracking import tags as T


def train(repo: Path, data: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    result = runstone_json("run", str(repo), "-e", "train", "-P", f"data={data}", *extra, env=env)
    assert result["status"] == "FINISHED", result
    return str(result["run_id"])


def test_a_run_reproduces_then_diverges_when_its_data_or_its_code_changes(wine: tuple[Path, Path]) -> None:
    repo, data = wine
    run_id = train(repo, data, "--env-manager", "local")
    client = RunstoneClient()

    same = runstone_json("reproduce", run_id)
    data.write_text(data.read_text().replace("\n5.", "\n6.", 3))  # three rows of the table edited
    changed_data = runstone("reproduce", run_id)
    data.write_text((Path(__file__).parent / "fixtures" / "wine.csv").read_text())
    (repo / "train.py").write_text((repo / "train.py").read_text().replace("test_size=0.25", "test_size=0.4"))
    git("commit", "-qam", "hold out more rows", cwd=repo)
    new_code = runstone("reproduce", run_id, "--at", "HEAD")

    assert same["verdict"] == "reproduced"
    assert same["compared"] == {"params": 3, "metrics": 2, "artifacts": 1, "inputs": 1}
    assert same["matching_artifacts"] == ["predictions.csv"]
    assert changed_data.returncode == 3
    assert "Verdict: diverged" in changed_data.stdout
    assert "the data changed: wine (training)" in changed_data.stdout
    assert new_code.returncode == 3
    assert "│ metric   │ rmse" in new_code.stdout and "│ code     │ commit" in new_code.stdout
    # The verdict is on both runs: linked by tags, the table as JSON.
    original = client.get_run(run_id)
    latest = original.data.tags[T.REPRODUCTION_LATEST]
    assert original.data.tags[T.REPRODUCTION_VERDICT] == "diverged"
    assert client.get_run(latest).data.tags[T.REPRODUCTION_OF] == run_id
    stored = json.loads(Path(client.download_artifacts(latest, T.VERDICT_ARTIFACT)).read_text())
    assert {d["name"] for d in stored["differences"] if d["kind"] == "metric"} == {"rmse", "mae"}
    assert client.get_run(same["reproduction_run_id"]).data.tags[T.REPRODUCTION_VERDICT] == "reproduced"
    assert len(client.list_artifacts(run_id, T.VERDICTS_FOLDER)) == 3  # one table per reproduction


def test_uncommitted_changes_are_recorded_and_applied_again(wine: tuple[Path, Path]) -> None:
    repo, data = wine
    (repo / "train.py").write_text((repo / "train.py").read_text().replace("test_size=0.25", "test_size=0.3"))
    run_id = train(repo, data, "--env-manager", "local")
    git("checkout", "train.py", cwd=repo)  # the change is gone from the folder; the run kept it

    verdict = runstone_json("reproduce", run_id)

    client = RunstoneClient()
    assert client.get_run(run_id).data.tags[T.GIT_DIRTY] == "true"
    assert "test_size=0.3" in Path(client.download_artifacts(run_id, T.GIT_DIFF_ARTIFACT)).read_text()
    assert verdict["verdict"] == "reproduced"


SCRIPT = """
import os, runstone, runstone.projects
with runstone.start_run():
    {log_environment}
    runstone.log_param("n", 4)
    runstone.log_metric("total", sum(range(4)))
    with open("out.txt", "w") as f:
        f.write("4 numbers\\n")
    runstone.log_artifact("out.txt")
"""


@pytest.mark.parametrize("records_environment", [True, False])
def test_a_run_started_with_the_sdk_reproduces_when_it_recorded_enough(
    tmp_path: Path, records_environment: bool
) -> None:
    repo = tmp_path / "scripts"
    repo.mkdir()
    call = "runstone.projects.log_environment()" if records_environment else "pass"
    (repo / "job.py").write_text(SCRIPT.format(log_environment=call))
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "job", cwd=repo)
    subprocess.run([sys.executable, "job.py"], cwd=repo, check=True)
    (run,) = RunstoneClient().search_runs(["0"])

    done = runstone("reproduce", run.info.run_id)

    if records_environment:
        assert done.returncode == 0, done.stderr
        assert "Verdict: reproduced" in done.stdout
    else:
        assert done.returncode == 1
        assert (
            f"Run {run.info.run_id} cannot be reproduced: it did not record its environment "
            "(call runstone.projects.log_environment() in the run, or start it with runstone run)"
        ) in done.stderr


def test_a_run_outside_git_says_what_is_missing(tmp_path: Path) -> None:
    project = tmp_path / "loose"
    project.mkdir()
    (project / "runstone.yaml").write_text("environment: local\nentry_points:\n  main:\n    command: python -c pass\n")
    run_id = runstone_json("run", str(project))["run_id"]

    done = runstone("reproduce", run_id)

    assert done.returncode == 1
    assert "did not record its code version: the project was not in a git repository" in done.stderr


def test_tolerances_are_checked(wine: tuple[Path, Path]) -> None:
    done = runstone("reproduce", "0" * 32, "--tolerance", "rmse=0.1")
    assert done.returncode == 1
    assert "A tolerance names a metric as metrics.<name>" in done.stderr
