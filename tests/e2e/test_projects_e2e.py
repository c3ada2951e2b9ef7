"""Projects against a real `runstone server`: the entry point's own logging (runstone's SDK and
the stock mlflow client) lands in the run `runstone run` created there, and a reproduction
through the server gives its verdict."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from e2e_support import Server, remote, run_cli

FIXTURES = Path(__file__).resolve().parent.parent / "projects" / "fixtures"


def git_repo(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "v1"]):
        subprocess.run(["git", "-c", "user.email=t@r", "-c", "user.name=t", *args], cwd=target, check=True)
    return target


def test_run_and_reproduce_through_a_server(server: Server, tmp_path: Path) -> None:
    repo = git_repo(FIXTURES / "wine", tmp_path / "wine")
    data = shutil.copy(FIXTURES / "wine.csv", tmp_path / "wine.csv")
    mlproject = shutil.copytree(FIXTURES / "mlproject", tmp_path / "mlproject")

    ran = run_cli("run", str(repo), "-e", "train", "-P", f"data={data}", "--env-manager", "local", "--json",
                  env=server.env())  # fmt: skip
    run_id = json.loads(ran.stdout)["run_id"]
    verdict = run_cli("reproduce", run_id, "--json", env=server.env())
    stock = run_cli("run", str(mlproject), "-P", f"data_file={data}", "--env-manager", "local", "--json",
                    env={**server.env(), "MLFLOW_DISABLE_TELEMETRY": "true"})  # fmt: skip

    assert ran.returncode == 0, ran.stderr
    assert verdict.returncode == 0, verdict.stderr
    assert json.loads(verdict.stdout)["verdict"] == "reproduced"
    assert stock.returncode == 0, stock.stderr
    with remote(server.url) as client:
        run = client.get_run(run_id)
        assert set(run.data.metrics) == {"rmse", "mae"}
        assert run.data.tags["runstone.reproduction.verdict"] == "reproduced"
        by_mlflow = client.get_run(json.loads(stock.stdout)["run_id"])
        assert by_mlflow.data.tags["trained_by"] == "mlflow"
        assert by_mlflow.data.params["regularization"] == "0.1"
