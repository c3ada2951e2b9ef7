"""The environment a model needs, pinned at save time.

requirements.txt lists the flavor's libraries and everything they depend on, each at the exact
version installed when the model was saved (``name==version``), found by walking the installed
distributions' metadata; python_env.yaml names the Python version and points at the
requirements, in MLflow's format:

    python: 3.11.7
    build_dependencies: [pip==24.0, setuptools==69.0.3, wheel==0.42.0]
    dependencies: [-r requirements.txt]

runstone itself is not listed (it is not on PyPI): ``runstone models env create`` installs the
running runstone into the environment it builds.
"""

from __future__ import annotations

import importlib.metadata as md
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path

from runstone.errors import InvalidInput

REQUIREMENTS = "requirements.txt"
PYTHON_ENV = "python_env.yaml"
# What the pyfunc layer itself needs on top of a flavor's libraries.
PYFUNC_BASE = ("numpy", "pandas")


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def distribution_of(module: str) -> str:
    """The installed distribution that provides a top-level module (xgboost -> xgboost-cpu)."""
    found = md.packages_distributions().get(module.split(".")[0])
    if not found:
        raise InvalidInput(f"No installed distribution provides the module {module!r}.")
    return found[0]


def _installed(name: str) -> md.Distribution | None:
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        return None


def pinned_closure(names: Iterable[str]) -> list[str]:
    """``name==version`` for each distribution and, recursively, what it requires (markers
    evaluated for this interpreter, extras not followed), sorted by name."""
    from packaging.requirements import InvalidRequirement, Requirement

    pins: dict[str, str] = {}
    pending = list(names)
    missing = [n for n in pending if _installed(n) is None]
    if missing:
        raise InvalidInput(f"Cannot pin {', '.join(missing)}: not installed.")
    while pending:
        name = pending.pop()
        key = _canonical(name)
        if key in pins:
            continue
        dist = _installed(name)
        if dist is None:  # an optional dependency that is not installed
            continue
        pins[key] = f"{dist.metadata['Name']}=={dist.version}"
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            pending.append(req.name)
    return [pins[k] for k in sorted(pins)]


def requirements_for(
    packages: Sequence[str],
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
) -> list[str]:
    """The requirements.txt lines: ``pip_requirements`` verbatim when given, else the pinned
    closure of ``packages`` (plus numpy and pandas), then ``extra_pip_requirements``; a
    package the caller names replaces its default pin."""
    from packaging.requirements import InvalidRequirement, Requirement

    if pip_requirements is not None:
        return list(pip_requirements)
    base = pinned_closure([*packages, *PYFUNC_BASE])
    extra = list(extra_pip_requirements or [])
    named = set()
    for line in extra:
        try:
            named.add(_canonical(Requirement(line).name))
        except InvalidRequirement:
            continue
    return [b for b in base if _canonical(b.split("==")[0]) not in named] + extra


def _version(name: str) -> str | None:
    dist = _installed(name)
    return dist.version if dist else None


def python_env(python_version: str | None = None) -> dict[str, object]:
    build = [f"{n}=={v}" if (v := _version(n)) else n for n in ("pip", "setuptools", "wheel")]
    return {
        "python": python_version or platform.python_version(),
        "build_dependencies": build,
        "dependencies": [f"-r {REQUIREMENTS}"],
    }


def write_environment(path: Path, requirements: Sequence[str]) -> dict[str, str]:
    """Write requirements.txt and python_env.yaml; returns the pyfunc ``env`` entry."""
    import yaml

    (path / REQUIREMENTS).write_text("".join(f"{line}\n" for line in requirements))
    (path / PYTHON_ENV).write_text(yaml.safe_dump(python_env(), sort_keys=False))
    return {"virtualenv": PYTHON_ENV}


def read_environment(path: Path) -> tuple[str, list[str]]:
    """The Python version and requirement lines of a package (python_env.yaml may be missing
    in old packages: the requirements alone then)."""
    import yaml

    python = platform.python_version()
    env_file = path / PYTHON_ENV
    if env_file.is_file():
        try:
            spec = yaml.safe_load(env_file.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{env_file} is not valid YAML: {exc}") from None
        if not isinstance(spec, dict):
            raise InvalidInput(f"{env_file} is not a python_env.yaml (a mapping with a 'python' version).")
        python = str(spec.get("python", python))
    req_file = path / REQUIREMENTS
    if not req_file.is_file():
        raise InvalidInput(f"{path} has no {REQUIREMENTS}; it cannot be rebuilt.")
    try:
        text = req_file.read_text()
    except UnicodeDecodeError:
        raise InvalidInput(f"{req_file} is not UTF-8 text.") from None
    lines = [ln.split(" #")[0].strip() for ln in text.replace("\\\n", " ").splitlines()]
    return python, [ln for ln in lines if ln and not ln.startswith("#")]


def unsafe_requirements(requirements: Sequence[str]) -> list[str]:
    """Why each line that is not a plain requirement by name is refused: a package is untrusted
    input, and pip follows options (another index, another requirements file), URLs and local
    paths written in its requirements.txt."""
    from packaging.requirements import InvalidRequirement, Requirement

    problems = []
    for line in requirements:
        if line.startswith("-"):
            problems.append(f"{line!r}: a pip option")
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            problems.append(f"{line!r}: not a package name and version (a URL or a local path?)")
            continue
        if requirement.url:
            problems.append(f"{line!r}: installs from a URL")
    return problems


def check_requirements(requirements: Sequence[str], source: Path) -> None:
    """InvalidInput naming every line of ``source`` that pip would not install by name from the
    configured index."""
    problems = unsafe_requirements(requirements)
    if problems:
        raise InvalidInput(
            f"{source} asks for more than packages from the configured index, which runstone does not do for an "
            "untrusted package: " + "; ".join(problems) + ". Remove those lines, or pass --trust-requirements if "
            "you trust this package.",
            {"refused": problems},
        )
