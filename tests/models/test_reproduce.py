"""`runstone models env create` and `runstone models verify`: a rebuilt environment reproduces
the recorded output, and a package that no longer does is caught.

Building the environment is the slow part (pip installs the pinned requirements), so one is
built for the module and the verify runs reuse it with --env.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

import runstone
import runstone.sklearn
from runstone.cli.main import cli
from runstone.models.reproduce import env_python


def training_data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.RandomState(3)
    X = pd.DataFrame({"a": rng.rand(40), "b": rng.rand(40)})
    return X, (X.a > X.b).astype("int64").to_numpy()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    X, y = training_data()
    path = tmp_path_factory.mktemp("reproduce") / "pkg"
    runstone.sklearn.save_model(
        LogisticRegression().fit(X, y), path, serialization_format="pickle", input_example=X.head(4)
    )
    return path


@pytest.fixture(scope="module")
def env(package: Path) -> Path:
    target = package.parent / "env"
    result = CliRunner().invoke(cli, ["models", "env", "create", str(package), str(target)])
    assert result.exit_code == 0, result.output
    assert "Environment ready" in result.output
    assert "by name from pip's configured index" in result.output
    return target


def run_in(env: Path, code: str) -> str:
    # Run outside this checkout: `python -c` puts the current folder first on sys.path.
    done = subprocess.run([str(env_python(env)), "-c", code], capture_output=True, text=True, check=True, cwd=env)
    return done.stdout.strip()


def test_the_environment_has_the_pinned_versions_and_its_own_runstone(env: Path, package: Path) -> None:
    pinned = dict(line.split("==") for line in (package / "requirements.txt").read_text().splitlines())

    versions = run_in(env, "import sklearn, numpy; print(sklearn.__version__, numpy.__version__)")
    location = run_in(env, "import runstone; print(runstone.__file__)")

    assert versions.split() == [pinned["scikit-learn"], pinned["numpy"]]
    assert Path(location).resolve().is_relative_to(env.resolve())


def test_verify_passes_for_a_model_logged_in_a_run(env: Path) -> None:
    X, y = training_data()
    with runstone.start_run() as run:
        runstone.sklearn.log_model(
            LogisticRegression().fit(X, y), "model", serialization_format="pickle", input_example=X.head(4)
        )

    result = CliRunner().invoke(cli, ["models", "verify", f"runs:/{run.info.run_id}/model", "--env", str(env)])

    assert result.exit_code == 0, result.output
    assert "PASS: the output equals the one recorded at save time" in result.output


def test_verify_fails_when_the_package_no_longer_reproduces_its_output(
    env: Path, package: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(package, broken)
    X, y = training_data()
    # Someone swaps the weights for a differently trained model: the recorded output no longer holds.
    runstone.sklearn.save_model(LogisticRegression().fit(X, 1 - y), tmp_path / "other", serialization_format="pickle")
    shutil.copy(tmp_path / "other" / "model.pkl", broken / "model.pkl")

    result = CliRunner().invoke(cli, ["models", "verify", str(broken), "--env", str(env)])

    assert result.exit_code == 1
    assert "FAIL: the output differs from the one recorded at save time" in result.output
    assert "output.data[0]" in result.output


def test_verify_fails_when_the_model_cannot_load_there(env: Path, package: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(package, broken)
    (broken / "model.pkl").write_bytes(b"not a pickle")

    result = CliRunner().invoke(cli, ["models", "verify", str(broken), "--env", str(env), "--json"])

    assert result.exit_code == 1
    assert '"passed": false' in result.output
    assert "UnpicklingError" in result.output


def test_verify_needs_an_input_example(tmp_path: Path) -> None:
    X, y = training_data()
    runstone.sklearn.save_model(LogisticRegression().fit(X, y), tmp_path / "pkg")

    result = CliRunner().invoke(cli, ["models", "verify", str(tmp_path / "pkg")])

    assert result.exit_code == 1
    assert "Error: The model at" in result.output
    assert "no input example" in result.output


def test_env_create_refuses_a_non_empty_folder(package: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")

    result = CliRunner().invoke(cli, ["models", "env", "create", str(package), str(tmp_path / "taken")])

    assert result.exit_code == 1
    assert "already exists and is not empty" in result.output


@pytest.fixture
def watched_index():
    """A package index on loopback that records every request pip would make to it."""
    import http.server
    import threading

    hits: list[str] = []

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple", hits
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "line",
    [
        "--extra-index-url {index}",
        "--index-url {index}",
        "-i {index}",
        "--find-links {index}",
        "-r other-requirements.txt",
        "-e git+https://example.invalid/pkg.git#egg=pkg",
        "pkg @ {index}/pkg-1.0.tar.gz",
        "{index}/pkg-1.0-py3-none-any.whl",
        "./vendored/pkg",
        "/etc/pkg",
    ],
)
@pytest.mark.parametrize("command", ["verify", "env create", "build-docker"])
def test_options_urls_and_paths_in_a_packages_requirements_are_refused_before_pip_runs(
    package: Path, tmp_path: Path, watched_index, line: str, command: str
) -> None:
    index, hits = watched_index
    hostile = tmp_path / "hostile"
    shutil.copytree(package, hostile)
    requirements = (hostile / "requirements.txt").read_text()
    (hostile / "requirements.txt").write_text(line.format(index=index) + "\n" + requirements)
    argv = {
        "verify": ["models", "verify", str(hostile)],
        "env create": ["models", "env", "create", str(hostile), str(tmp_path / "env")],
        "build-docker": ["models", "build-docker", "-m", str(hostile), "-o", str(tmp_path / "ctx")],
    }[command]

    result = CliRunner().invoke(cli, argv)

    assert result.exit_code == 1, result.output
    assert "Error:" in result.output and "PASS" not in result.output
    assert repr(line.format(index=index)) in result.output
    assert "--trust-requirements" in result.output
    assert hits == [], "pip never reached the package's index"
    assert not (tmp_path / "env").exists() and not (tmp_path / "ctx").exists()


@pytest.mark.parametrize(
    ("file", "content", "fragment"),
    [
        ("MLmodel", b"flavors: [unclosed", "is not valid YAML"),
        ("MLmodel", b"- just\n- a list\n", "is not an MLmodel manifest"),
        ("python_env.yaml", b"python: [3.11", "is not valid YAML"),
        ("python_env.yaml", b"- 3.11\n", "is not a python_env.yaml"),
        ("requirements.txt", b"\xff\xfe\x00bad", "is not UTF-8 text"),
    ],
)
def test_a_malformed_package_gets_a_clear_error_not_a_traceback(
    package: Path, tmp_path: Path, file: str, content: bytes, fragment: str
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(package, broken)
    (broken / file).write_bytes(content)
    for argv in (["models", "verify", str(broken)], ["models", "env", "create", str(broken), str(tmp_path / "env")]):
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code == 1, result.output
        assert fragment in result.output
        assert "Traceback" not in result.output
