"""The serving commands refuse bad invocations with one clear line, before starting anything."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from runstone.cli.main import cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "serve"], "Give exactly one of -m/--model-uri and --traffic"),
        (["models", "serve", "-m", "/no/such/model"], "No model at /no/such/model"),
        (["models", "serve", "-m", "x", "--workers", "0"], "--workers must be at least 1"),
        (["models", "build-docker", "-m", "/no/such/model", "-o", "out"], "No model at /no/such/model"),
    ],
)
def test_bad_invocations(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert f"Error: {message}" in result.output


def test_deployment_records_need_a_registered_model(sklearn_model, tmp_path):
    result = CliRunner().invoke(cli, ["models", "serve", "-m", str(sklearn_model), "--deployment-name", "api"])
    assert result.exit_code == 1
    assert "records registered models" in result.output


def test_a_bad_traffic_policy_is_refused(tmp_path):
    policy = tmp_path / "traffic.yaml"
    policy.write_text("routes:\n  - model: a\n    weight: -1\n")
    result = CliRunner().invoke(cli, ["models", "serve", "--traffic", str(policy)])
    assert result.exit_code == 1
    assert "weights are numbers >= 0" in result.output
