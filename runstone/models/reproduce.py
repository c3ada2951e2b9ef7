"""Rebuilding a model's environment and proving the package reproduces its recorded output.

``create_env`` makes a virtualenv with the Python the package names (python_env.yaml: same
major.minor as an interpreter found here), then installs the pinned requirements.txt and the
running runstone in one pip call. runstone is not on PyPI, so it is installed from a wheel
built on the spot from the running package folder and its installed metadata: the same code
that is running, whether it came from a wheel, a source checkout or an editable install.

``verify`` loads the package inside such an environment (a subprocess running
``python -m runstone.models.reproduce``), predicts the stored input example, and compares the
result with the output recorded when the package was saved. A package saved by another tool
(MLflow records no output) is compared with the output of the model loaded in this process.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runstone.errors import AlreadyExists, InvalidInput, InvalidState
from runstone.models.environment import check_requirements, pinned_closure, read_environment
from runstone.models.manifest import Model

WORKER = "runstone.models.reproduce"
# What runstone needs to load a package and predict, besides the package's own requirements
# (``import runstone`` reads settings with pydantic-settings; manifests are YAML; the SDK's journal
# encodes with orjson). The rest of
# runstone's dependencies (database, HTTP client) and its server extra are installed with ``full=True``.
MODEL_RUNTIME = ("pydantic-settings", "pyyaml", "packaging", "orjson")
# Variables that would make the new environment's Python see packages from elsewhere.
_LEAKY_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE")


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _installed_metadata() -> tuple[str, str, str | None]:
    """METADATA text, version and entry points of the installed runstone. A source checkout
    may also hold a setuptools ``runstone.egg-info`` (PKG-INFO plus requires.txt): it is used
    only when no installed ``.dist-info`` is found, its requirements turned into Requires-Dist."""
    found = [d for d in md.distributions() if (d.metadata["Name"] or "").lower() == "runstone"]
    for dist in found:
        text = dist.read_text("METADATA")
        if text:
            return text, dist.version, dist.read_text("entry_points.txt")
    for dist in found:
        lines = ["Metadata-Version: 2.1", "Name: runstone", f"Version: {dist.version}"]
        lines += [f"Requires-Dist: {r}" for r in dist.requires or []]
        return "\n".join(lines) + "\n", dist.version, dist.read_text("entry_points.txt")
    raise InvalidState(
        "runstone is not installed (no package metadata), so it cannot be put into a new environment; "
        "install it (pip install -e <checkout>) and try again."
    )


def build_runstone_wheel(dest: Path) -> Path:
    """A wheel of the running runstone in ``dest``."""
    metadata, version, entry_points = _installed_metadata()
    package = Path(__file__).resolve().parents[1]  # the runstone package folder
    info = f"runstone-{version}.dist-info"
    entries: list[tuple[str, bytes]] = []
    for file in sorted(package.rglob("*")):
        if file.is_dir() or "__pycache__" in file.parts or file.suffix in (".pyc", ".pyo"):
            continue
        entries.append((f"runstone/{file.relative_to(package).as_posix()}", file.read_bytes()))
    entries.append((f"{info}/METADATA", metadata.encode()))
    entries.append(
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: runstone\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    )
    if entry_points:
        entries.append((f"{info}/entry_points.txt", entry_points.encode()))
    record = [_record_line(name, data) for name, data in entries] + [f"{info}/RECORD,,"]
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"runstone-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in entries:
            out.writestr(name, data)
        out.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def _interpreter(version: str) -> str:
    wanted = ".".join(version.split(".")[:2])
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if wanted == running:
        return sys.executable
    found = shutil.which(f"python{wanted}")
    if found is None:
        raise InvalidState(
            f"The model needs Python {version} and no python{wanted} is on PATH here "
            f"(this runstone runs on Python {running})."
        )
    return found


def env_python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=_clean_environ())
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise InvalidState(f"{what} failed (exit {done.returncode}):\n{tail}")


def _runtime_pins(requirements: list[str]) -> list[str]:
    """MODEL_RUNTIME at the versions running here, less what the package pins itself."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    pinned = set()
    for line in requirements:
        try:
            pinned.add(canonicalize_name(Requirement(line).name))
        except InvalidRequirement:
            continue
    return [p for p in pinned_closure(MODEL_RUNTIME) if canonicalize_name(p.split("==")[0]) not in pinned]


def create_env(
    model_path: Path,
    env_dir: Path,
    *,
    full: bool = False,
    trust_requirements: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> Path:
    """A new virtualenv in ``env_dir`` with the package's Python, pinned requirements and
    runstone: with what loading and predicting need, or (``full``) all of runstone's dependencies
    and the server extra (``runstone[server]``).

    The package's requirements are installed by name from pip's configured index; a line that is
    a pip option, a URL or a local path is refused unless ``trust_requirements``, and then the
    file is handed to pip as it is."""
    Model.load(model_path)  # a package, or a clear error
    python_version, requirements = read_environment(model_path)
    if not trust_requirements:
        check_requirements(requirements, model_path / "requirements.txt")
    interpreter = _interpreter(python_version)
    if env_dir.exists() and any(env_dir.iterdir()):
        raise AlreadyExists(f"{env_dir} already exists and is not empty; choose a new folder.")
    say(f"Creating a virtualenv in {env_dir} (Python {python_version})")
    _run([interpreter, "-m", "venv", str(env_dir)], "Creating the virtualenv")
    with tempfile.TemporaryDirectory(prefix="runstone-wheel-") as tmp:
        wheel = build_runstone_wheel(Path(tmp))
        if trust_requirements:
            say(f"Installing {model_path / 'requirements.txt'} as pip reads it (trusted: options and URLs followed)")
            wanted = ["-r", str(model_path / "requirements.txt")]
        else:
            say(
                f"Installing {len(requirements)} pinned requirement(s) by name from pip's configured index, "
                f"and runstone {wheel.name.split('-')[1]}"
            )
            wanted = list(requirements)
        pip = [str(env_python(env_dir)), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
        if full:
            _run([*pip, *wanted, f"{wheel}[server]"], "Installing the requirements")
        else:
            _run([*pip, *wanted, *_runtime_pins(requirements)], "Installing the requirements")
            _run([*pip, "--no-deps", str(wheel)], "Installing runstone")
    return env_dir


@dataclass
class Verification:
    passed: bool
    model_path: str
    env_dir: str
    seconds: float
    differences: list[str] = field(default_factory=list)
    error: str | None = None
    expected: Any = None
    actual: Any = None
    # "recorded": the output saved with the package; "here": predicted in this process (none was saved).
    baseline: str = "recorded"

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k not in ("expected", "actual")}


def verify(
    model_path: Path,
    *,
    env_dir: Path | None = None,
    rtol: float = 0.0,
    atol: float = 0.0,
    trust_requirements: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> Verification:
    """Predict the stored input example in a fresh environment (``env_dir`` if it already holds
    one, else a new one there or in a temporary folder) and compare with the recorded output."""
    from runstone.models.example import differences, load_output_example

    started = time.monotonic()
    model = Model.load(model_path)
    if not model.saved_input_example_info:
        raise InvalidInput(
            f"The model at {model_path} has no input example to verify with; save it with input_example=."
        )
    baseline = "recorded"
    if model.saved_output_example_info:
        expected = load_output_example(model_path, model.saved_output_example_info)
    else:
        baseline = "here"
        # Saved by another tool (MLflow records no output): compare with this environment's answer.
        say("The package has no recorded output; comparing with the output of the model loaded here")
        expected = _predict_example(model_path)
    temporary = None
    if env_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="runstone-env-")
        env_dir = Path(temporary.name) / "env"
    try:
        if not env_python(env_dir).exists():
            create_env(model_path, env_dir, trust_requirements=trust_requirements, say=say)
        else:
            say(f"Using the environment in {env_dir}")
        with tempfile.TemporaryDirectory(prefix="runstone-verify-") as tmp:
            out = Path(tmp) / "output.json"
            say("Loading the model and predicting its input example in that environment")
            done = subprocess.run(
                [str(env_python(env_dir)), "-m", WORKER, str(model_path), str(out)],
                capture_output=True,
                text=True,
                env=_clean_environ(),
                cwd=tmp,
            )
            seconds = round(time.monotonic() - started, 2)
            if done.returncode != 0:
                tail = "\n".join(done.stderr.strip().splitlines()[-15:])
                return Verification(
                    False, str(model_path), str(env_dir), seconds, error=tail or "the worker failed", baseline=baseline
                )
            actual = json.loads(out.read_text())
        diffs = differences(expected, actual, rtol=rtol, atol=atol)
        return Verification(
            not diffs,
            str(model_path),
            str(env_dir),
            seconds,
            diffs,
            expected=expected,
            actual=actual,
            baseline=baseline,
        )
    finally:
        if temporary is not None:
            temporary.cleanup()


def _predict_example(path: Path) -> Any:
    """The encoded output of the package on its stored input example, predicted in this process."""
    from runstone.models.example import encode_output, load_input_example
    from runstone.models.pyfunc_model import load_package

    loaded = load_package(path)
    info = loaded.metadata.saved_input_example_info
    if info is None:
        raise InvalidInput(f"The model at {path} has no input example to verify with; save it with input_example=.")
    example = load_input_example(path, info, loaded.metadata.get_input_schema())
    return encode_output(loaded.predict(example))


def _worker(model_path: str, out: str) -> None:
    """Runs inside the rebuilt environment: predict the stored example, write the encoded output."""
    Path(out).write_text(json.dumps(_predict_example(Path(model_path))))


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
