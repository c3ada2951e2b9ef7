"""The client install: a training job logs, searches and lists runs without the server's libraries.

``pip install runstone`` leaves out the server extra (FastAPI, uvicorn, plotly, Jinja, ...). A
child process logs through the SDK and runs the command line's client commands, to the embedded
store and to a real server, and then none of those libraries is in its ``sys.modules``. With
them made unimportable (as on a client install), the same job still works, and the commands
that need the server extra say which command installs it. scripts/smoke-wheel does the same
from a wheel installed without the extra into a fresh virtualenv.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from e2e_support import Server, child_env, remote

pytestmark = pytest.mark.e2e

SERVER_LIBRARIES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "httptools",
    "plotly",
    "jinja2",
    "fastapi_offline",
    "multipart",
    "python_multipart",
    "opentelemetry",
    "argon2",
    "prometheus_client",
)

# Run before anything else in the child: with ``block``, the server's libraries cannot be
# imported, as in a virtualenv where only ``runstone`` (no extra) was installed.
PRELUDE = textwrap.dedent(
    f"""
    import sys
    SERVER_LIBRARIES = {SERVER_LIBRARIES!r}
    if "--block" in sys.argv:
        for name in SERVER_LIBRARIES:
            sys.modules[name] = None
    """
)

TRAIN = PRELUDE + textwrap.dedent(
    """
    import json
    import runstone
    from runstone.cli.main import cli

    runstone.set_experiment("lean")
    with runstone.start_run(run_name="gpu-box") as run:
        runstone.log_params({"lr": 0.1, "layers": 4})
        for step in range(50):
            runstone.log_metric("loss", 1 / (step + 1), step=step)
        runstone.set_tag("box", "gpu")
    runs = runstone.search_runs(experiment_names=["lean"], filter_string="metrics.loss < 0.05")
    assert [r.info.run_id for r in runs] == [run.info.run_id], runs
    cli(["runs", "list", "-e", "lean", "--json"], standalone_mode=False)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in SERVER_LIBRARIES and sys.modules[m] is not None)
    print(json.dumps({"run_id": run.info.run_id, "loaded": loaded}))
    """
)

CLI = PRELUDE + textwrap.dedent(
    """
    from runstone.cli.main import main

    sys.argv = ["runstone", *[a for a in sys.argv[1:] if a != "--block"]]
    main()
    """
)


def _child(script: str, *args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=child_env(env),
        input=stdin,
        timeout=180,
        check=False,
    )


def _train(env: dict[str, str], *args: str) -> tuple[str, list[str]]:
    done = _child(TRAIN, *args, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    listed = json.loads("\n".join(lines[:-1]))
    answer = json.loads(lines[-1])
    assert [r["info"]["run_id"] for r in listed] == [answer["run_id"]]
    return answer["run_id"], answer["loaded"]


@pytest.mark.parametrize("block", [False, True], ids=["installed", "absent"])
def test_a_training_job_on_the_embedded_store_needs_no_server_library(tmp_path: Path, block: bool):
    env = {"RUNSTONE_HOME": str(tmp_path / "home"), "GIT_DIR": str(tmp_path / "no-git")}
    _, loaded = _train(env, *(["--block"] if block else []))
    assert loaded == []


@pytest.mark.parametrize("block", [False, True], ids=["installed", "absent"])
def test_a_training_job_logging_to_a_server_needs_no_server_library(server: Server, tmp_path: Path, block: bool):
    env = {
        "RUNSTONE_HOME": str(tmp_path / "client-home"),
        "RUNSTONE_TRACKING_URI": server.url,
        "GIT_DIR": str(tmp_path / "no-git"),
    }
    run_id, loaded = _train(env, *(["--block"] if block else []))
    assert loaded == []
    with remote(server.url) as client:
        run = client.get_run(run_id)
    assert run.data.params == {"lr": "0.1", "layers": "4"} and run.data.metrics["loss"] == 1 / 50
    assert run.info.status == "FINISHED"


def test_runstone_server_without_the_extra_names_the_install_command(tmp_path: Path):
    done = _child(CLI, "server", "--port", "1", "--block", env={"RUNSTONE_HOME": str(tmp_path / "home")})
    assert done.returncode == 1
    assert "runstone server needs the server extra" in done.stderr
    assert "pip install 'runstone[server]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "home").exists()  # refused before touching the store


def test_a_password_without_the_extra_names_the_install_command_and_users_still_list(tmp_path: Path):
    env = {"RUNSTONE_HOME": str(tmp_path / "home")}
    made = _child(CLI, "users", "create", "ada", "--password-stdin", "--block", env=env, stdin="a long password 1\n")
    assert made.returncode == 1 and "pip install 'runstone[server]'" in made.stderr, made.stderr
    assert "Traceback" not in made.stderr
    listed = _child(CLI, "users", "list", "--json", "--block", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "ada" not in listed.stdout  # nothing was written


def test_an_mlflow_project_on_the_embedded_store_without_the_extra_names_it_and_records_nothing(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "MLproject").write_text('name: p\nentry_points:\n  main:\n    command: "python -c pass"\n')
    env = {"RUNSTONE_HOME": str(tmp_path / "home")}
    done = _child(CLI, "run", str(project), "--env-manager", "local", "--block", env=env)
    assert done.returncode == 1 and "pip install 'runstone[server]'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    listed = _child(CLI, "runs", "list", "-e", "Default", "--json", "--block", env=env)
    assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stdout


def test_models_serve_without_the_serving_extra_names_the_install_command(tmp_path: Path):
    done = _child(
        CLI, "models", "serve", "-m", str(tmp_path / "model"), "--block", env={"RUNSTONE_HOME": str(tmp_path / "h")}
    )
    assert done.returncode == 1
    assert "runstone models serve needs the serving extra" in done.stderr
    assert "pip install 'runstone[serving]'" in done.stderr
