"""`runstone run`: an entry point runs as a tracked run, with everything recorded, and bad input
is refused before anything starts."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from project_support import FIXTURES, runstone, runstone_json

from runstone.sdk.client import RunstoneClient
from runstone.tracking import tags as T


def read(client: RunstoneClient, run_id: str, path: str, tmp: Path) -> str:
    return Path(client.download_artifacts(run_id, path, tmp)).read_text()


def test_the_run_records_code_params_environment_machine_and_what_the_code_logged(
    wine: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, data = wine

    result = runstone_json("run", str(repo), "-e", "train", "-P", f"data={data}", "-P", "alpha=0.3",
                           "--env-manager", "local", "--experiment", "wine")  # fmt: skip

    client = RunstoneClient()
    run = client.get_run(result["run_id"])
    tags = run.data.tags
    assert result["status"] == run.info.status == "FINISHED"
    assert run.data.params == {"alpha": "0.3", "l1_ratio": "0.1", "data": str(data)}
    assert set(run.data.metrics) == {"rmse", "mae"}  # logged by the child's own start_run()
    assert [i.dataset.name for i in run.inputs.dataset_inputs] == ["wine"]
    assert tags[T.GIT_COMMIT] == subprocess_git(repo, "rev-parse", "HEAD")
    assert tags[T.GIT_DIRTY] == "false"
    assert tags[T.PROJECT_ENTRY_POINT] == "train"
    assert tags[T.PROJECT_EXIT_CODE] == "0"
    assert float(tags[T.PROJECT_DURATION]) > 0
    assert tags[T.PYTHON_VERSION].count(".") == 2
    assert int(tags[T.MACHINE_CORES]) >= 1 and int(tags[T.MACHINE_MEMORY]) > 0 and tags[T.MACHINE_OS]
    lock = read(client, run.info.run_id, T.ENV_LOCK_ARTIFACT, tmp_path / "a").splitlines()
    assert any(line.startswith("scikit-learn==") for line in lock)
    spec = json.loads(read(client, run.info.run_id, T.PROJECT_SPEC_ARTIFACT, tmp_path / "b"))
    assert spec["command"] == ["python", "train.py", "--alpha", "0.3", "--l1-ratio", "0.1", "--data", str(data)]
    assert spec["machine"]["cores"] == os.cpu_count()
    assert "rmse " in read(client, run.info.run_id, T.STDOUT_ARTIFACT, tmp_path / "c")
    assert client.get_experiment_by_name("wine").experiment_id == run.info.experiment_id  # type: ignore[union-attr]


def subprocess_git(repo: Path, *args: str) -> str:
    from project_support import git

    return git(*args, cwd=repo)


def test_a_failing_command_fails_the_run_with_its_exit_code_and_keeps_its_stderr(tmp_path: Path) -> None:
    project = tmp_path / "failing"
    project.mkdir()
    (project / "runstone.yaml").write_text(
        "name: failing\nenvironment: local\nentry_points:\n  main:\n    command: python boom.py\n"
    )
    (project / "boom.py").write_text("import sys\nprint('about to fail', file=sys.stderr)\nsys.exit(3)\n")

    done = runstone("run", str(project))

    client = RunstoneClient()
    (run,) = client.search_runs(["0"])
    assert done.returncode == 3
    assert run.info.status == "FAILED"
    assert run.data.tags[T.PROJECT_EXIT_CODE] == "3"
    assert "about to fail" in read(client, run.info.run_id, T.STDERR_ARTIFACT, tmp_path / "logs")
    assert "about to fail" in done.stderr  # echoed while it ran


def test_bad_parameters_are_refused_before_anything_runs(wine: tuple[Path, Path]) -> None:
    repo, data = wine
    cases = [
        (["-e", "train", "-P", f"data={data}", "-P", "alpha=strong"], "Parameter 'alpha' must be a float"),
        (["-e", "train", "-P", f"data={data}", "-P", "gamma=1"], "Entry point 'train' has no parameter 'gamma'"),
        (["-e", "train"], "needs a value for parameter 'data'"),
        (["-e", "evaluate", "-P", f"data={data}"], "has no entry point 'evaluate' \\(entry points: train\\)"),
        (["-e", "train", "-P", "data=/nowhere/wine.csv"], "no such file or folder"),
        (["-e", "train", "-P", "alpha"], "Parameter 'alpha' must be NAME=VALUE"),
    ]
    import re

    for args, message in cases:
        done = runstone("run", str(repo), "--env-manager", "local", *args)
        assert done.returncode == 1, done.stderr
        assert re.search(message, done.stderr), done.stderr
        assert not (repo / "predictions.csv").exists()  # the script never ran
    assert RunstoneClient().search_runs(["0"]).items == []  # nor was a run created


def test_a_missing_environment_is_refused_before_anything_runs(wine: tuple[Path, Path], tmp_path: Path) -> None:
    repo, data = wine
    (repo / "runstone.yaml").write_text((repo / "runstone.yaml").read_text().replace("requirements.txt", "env.yaml"))
    done = runstone("run", str(repo), "-e", "train", "-P", f"data={data}")
    assert done.returncode == 1
    assert "declares the environment file 'env.yaml', which does not exist" in done.stderr

    shutil.copy(FIXTURES / "wine" / "runstone.yaml", repo / "runstone.yaml")
    (repo / "python_env.yaml").write_text("python: '3.7'\ndependencies: []\n")
    (repo / "runstone.yaml").write_text(
        (repo / "runstone.yaml").read_text().replace("requirements.txt", "python_env.yaml")
    )
    done = runstone("run", str(repo), "-e", "train", "-P", f"data={data}")
    assert done.returncode == 1
    assert "needs Python 3.7 and no python3.7 is on PATH here" in done.stderr

    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    os.symlink(shutil.which("git") or "/usr/bin/git", empty_path / "git")
    done = runstone("run", str(repo), "-e", "train", "-P", f"data={data}", "--env-manager", "uv",
                    env={"PATH": str(empty_path)})  # fmt: skip
    assert done.returncode == 1
    assert "--env-manager uv needs the uv command, and uv is not on PATH here" in done.stderr
    assert RunstoneClient().search_runs(["0"]).items == []


def test_the_stock_mlflow_client_logs_into_the_run_of_an_unchanged_mlproject(tmp_path: Path) -> None:
    project = shutil.copytree(FIXTURES / "mlproject", tmp_path / "mlproject")
    data = shutil.copy(FIXTURES / "wine.csv", tmp_path / "wine.csv")

    result = runstone_json("run", str(project), "-P", f"data_file={data}", "-P", "regularization=0.5",
                           "--env-manager", "local", env={"MLFLOW_DISABLE_TELEMETRY": "true"})  # fmt: skip
    validated = runstone("run", str(project), "-e", "validate", "-P", f"data_file={data}", "--env-manager", "local")

    run = RunstoneClient().get_run(result["run_id"])
    assert result["status"] == "FINISHED"
    assert run.data.params["regularization"] == "0.5"
    assert 0 < run.data.metrics["r2"] <= 1
    assert run.data.tags["trained_by"] == "mlflow"
    assert validated.returncode == 0 and "120 rows" in validated.stdout


def test_a_project_runs_from_a_git_url_at_a_named_version(wine: tuple[Path, Path]) -> None:
    repo, data = wine
    from project_support import git

    git("tag", "v1", cwd=repo)
    (repo / "train.py").write_text("raise SystemExit('not this version')\n")
    git("commit", "-qam", "broken", cwd=repo)

    result = runstone_json("run", f"file://{repo}@v1", "-e", "train", "-P", f"data={data}", "--env-manager", "local")
    refused = runstone("run", f"file://{repo}@--upload-pack=touch", "-e", "train", "-P", f"data={data}")

    run = RunstoneClient().get_run(result["run_id"])
    assert result["status"] == "FINISHED"
    assert run.data.tags[T.PROJECT_URI] == f"file://{repo}@v1"
    assert run.data.tags[T.GIT_COMMIT] == git("rev-parse", "v1", cwd=repo)
    assert refused.returncode == 1 and "is not a git revision" in refused.stderr
