"""Environment capture: exact versions of the flavor's libraries and everything they need."""

from __future__ import annotations

import importlib.metadata as md
import platform
from pathlib import Path

import pytest
import yaml
from sklearn.linear_model import LinearRegression

import runstone.sklearn
from runstone.errors import InvalidInput
from runstone.models.environment import pinned_closure


def pins(path: Path) -> dict[str, str]:
    lines = (path / "requirements.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines)


def test_requirements_pin_the_library_and_its_dependencies_as_installed(tmp_path: Path, table) -> None:
    X, y = table
    runstone.sklearn.save_model(LinearRegression().fit(X, y), tmp_path / "pkg")

    pinned = pins(tmp_path / "pkg")

    for name in ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl", "cloudpickle", "pandas"):
        assert pinned[name] == md.version(name), name
    assert "runstone" not in pinned
    assert "pytest" not in pinned  # only what the model needs, not everything installed
    env = yaml.safe_load((tmp_path / "pkg" / "python_env.yaml").read_text())
    assert env["python"] == platform.python_version()
    assert env["dependencies"] == ["-r requirements.txt"]
    assert f"pip=={md.version('pip')}" in env["build_dependencies"]


def test_extra_requirements_replace_a_default_pin_and_explicit_ones_win(tmp_path: Path, table) -> None:
    X, y = table
    model = LinearRegression().fit(X, y)

    runstone.sklearn.save_model(model, tmp_path / "extra", extra_pip_requirements=["numpy>=1.26", "tabulate==0.9.0"])
    runstone.sklearn.save_model(model, tmp_path / "exact", pip_requirements=["scikit-learn", "numpy"])

    extra = (tmp_path / "extra" / "requirements.txt").read_text().splitlines()
    assert "numpy>=1.26" in extra and "tabulate==0.9.0" in extra
    assert not [line for line in extra if line.startswith("numpy==")]
    assert (tmp_path / "exact" / "requirements.txt").read_text().splitlines() == ["scikit-learn", "numpy"]


def test_only_installed_dependencies_are_followed() -> None:
    closure = pinned_closure(["pandas"])

    assert all("==" in line for line in closure)
    assert {line.split("==")[0] for line in closure} >= {"pandas", "numpy", "python-dateutil"}


def test_a_library_that_is_not_installed_cannot_be_pinned() -> None:
    with pytest.raises(InvalidInput, match="not installed"):
        pinned_closure(["surely-not-a-real-package-name"])
