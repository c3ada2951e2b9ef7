"""build-docker: the build context's contents, and its serving command run from a fresh
virtualenv built from the pinned requirements (Docker itself cannot run here)."""

from __future__ import annotations

import json
import re
import subprocess

import httpx
import pytest
from click.testing import CliRunner
from serving_models import fraud_data
from serving_support import start_scoring

import runstone.sklearn
from runstone.cli.main import cli
from runstone.models.reproduce import create_env, env_python

pytestmark = pytest.mark.e2e


def test_build_docker_context_serves_from_a_fresh_environment(sklearn_model, tmp_path):
    context = tmp_path / "image"
    built = CliRunner().invoke(cli, ["models", "build-docker", "-m", str(sklearn_model), "-o", str(context)])
    assert built.exit_code == 0, built.output
    assert "docker build" in built.output

    # The context: model, pinned requirements, a runstone wheel, and a Dockerfile that uses them.
    assert (context / "model" / "MLmodel").is_file()
    assert (context / "requirements.txt").read_text() == (sklearn_model / "requirements.txt").read_text()
    serving = (context / "serving-requirements.txt").read_text().splitlines()
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[^=\s]+", line) for line in serving), serving
    assert {line.split("==")[0].lower() for line in serving} >= {"uvicorn", "starlette", "orjson"}
    wheels = list((context / "wheels").glob("runstone-*.whl"))
    assert len(wheels) == 1
    dockerfile = (context / "Dockerfile").read_text()
    lines = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    assert re.fullmatch(r"FROM python:3\.\d+-slim", lines[0])
    assert "RUN pip install -r requirements.txt -r serving-requirements.txt" in dockerfile
    assert "RUN pip install --no-deps wheels/*.whl" in dockerfile
    assert re.search(r"useradd --system .* runstone", dockerfile)
    user = next(i for i, line in enumerate(lines) if line.startswith("USER "))
    assert lines[user] == "USER runstone"
    assert any(line.startswith("HEALTHCHECK ") for line in lines[user:])
    assert "/ping" in dockerfile
    assert "EXPOSE 8080" in lines
    command = json.loads(lines[-1].removeprefix("CMD "))
    assert lines[-1].startswith("CMD [")
    assert command[:3] == ["python", "-m", "runstone.serving"]
    again = CliRunner().invoke(cli, ["models", "build-docker", "-m", str(sklearn_model), "-o", str(context)])
    assert again.exit_code == 1 and "not empty" in again.output

    # What the image does, in a fresh virtualenv: the pinned requirements, the serving
    # requirements, runstone without its server dependencies, then the CMD.
    env = create_env(context / "model", tmp_path / "env")
    python = str(env_python(env))
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r",
         str(context / "serving-requirements.txt")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    argv = [python, *command[1:]]
    argv[argv.index("/opt/runstone/model")] = str(context / "model")
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = "{port}"
    scoring = start_scoring(argv, tmp_path / "serve.log")
    try:
        frame = fraud_data(20, seed=9)[0]
        answer = httpx.post(
            f"{scoring.url}/invocations", json={"dataframe_split": frame.to_dict(orient="split")}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        expected = runstone.sklearn.load_model(sklearn_model).predict(frame).tolist()
        assert answer.json() == {"predictions": expected}
        assert httpx.get(f"{scoring.url}/health", timeout=30).status_code == 200
    finally:
        scoring.stop()
    # The slim image imports no tracking server, database or CLI code.
    probe = subprocess.run(
        [python, "-c", "import runstone.serving.run, runstone.serving.app, sys; "
         "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'httpx', 'runstone.cli', 'runstone.server') if m in sys.modules))"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"
