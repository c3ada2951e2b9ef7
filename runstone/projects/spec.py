"""The project format: ``runstone.yaml``, or MLflow's ``MLproject`` read as-is.

A project is a folder with one of these files::

    name: churn
    environment: python_env.yaml        # or requirements.txt, conda.yaml, or "local"
    entry_points:
      train:
        parameters:
          alpha: {type: float, default: 0.5}
          data: path
        command: "python train.py --alpha {alpha} --data {data}"

``MLproject`` says ``python_env:`` or ``conda_env:`` instead of ``environment:``; both files
accept both spellings. Parameter types are ``float``, ``int``, ``str`` (MLflow's ``string``),
``path`` and ``uri``.

A command is split into an argument list first (shell quoting rules, no shell), then each
``{name}`` inside an argument is replaced by the parameter's validated value, so a value is
always exactly one argument (or part of one) and never shell text. A ``.py`` file of the
project can be named as the entry point without being declared: it runs with every parameter
passed as ``--name value``.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from runstone.errors import InvalidInput

RUNSTONE_FILE = "runstone.yaml"
MLPROJECT_FILE = "MLproject"
TYPES = ("float", "int", "str", "path", "uri")
_ALIASES = {"string": "str", "integer": "int", "double": "float", "number": "float"}
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-.]*$")
LOCAL = "local"


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str = "str"
    default: str | None = None

    def resolve(self, raw: object, base: Path, project: Path | None = None) -> str:
        """The value as the command receives it, checked against the type. A relative path is
        taken from ``base``; a path inside the ``project`` folder stays relative to it (the
        command runs there), so that the same value means the same file in a checkout."""
        text = str(raw)
        if "\x00" in text:
            raise InvalidInput(f"Parameter {self.name!r}: the value holds a NUL character.")
        if self.type == "float":
            try:
                number = float(text)
            except ValueError:
                raise InvalidInput(f"Parameter {self.name!r} must be a float, got {text!r}.") from None
            if not math.isfinite(number):
                raise InvalidInput(f"Parameter {self.name!r} must be a finite float, got {text!r}.")
            return text.strip()
        if self.type == "int":
            try:
                int(text, 10)
            except ValueError:
                raise InvalidInput(f"Parameter {self.name!r} must be an integer, got {text!r}.") from None
            return text.strip()
        if self.type == "path":
            if not text:
                raise InvalidInput(f"Parameter {self.name!r} must be a path, got an empty value.")
            path = Path(text).expanduser()
            path = path if path.is_absolute() else base / path
            if not path.exists():
                raise InvalidInput(f"Parameter {self.name!r}: no such file or folder {str(path)!r}.")
            full = path.resolve()
            root = (project or base).resolve()
            return full.relative_to(root).as_posix() if full.is_relative_to(root) else str(full)
        if self.type == "uri":
            parsed = urlparse(text)
            if not parsed.scheme or len(parsed.scheme) < 2:  # "C:" is a drive, not a scheme
                raise InvalidInput(
                    f"Parameter {self.name!r} must be a URI with a scheme (s3://..., https://..., file:///...), "
                    f"got {text!r}."
                )
            return text
        return text


@dataclass(frozen=True)
class EntryPoint:
    name: str
    command: str
    parameters: dict[str, Parameter] = field(default_factory=dict)
    # An undeclared .py file: every parameter goes through as --name value, untyped.
    loose: bool = False

    def resolve(self, given: Mapping[str, object], base: Path, given_base: Path | None = None) -> dict[str, str]:
        """Every parameter's value (given or default), validated; unknown or missing ones refused.
        Relative paths of defaults are taken from ``base`` (the project folder), those of given
        values from ``given_base`` (where the command was typed) when set."""
        if not self.loose:
            unknown = sorted(set(given) - set(self.parameters))
            if unknown:
                known = ", ".join(sorted(self.parameters)) or "none"
                raise InvalidInput(
                    f"Entry point {self.name!r} has no parameter {', '.join(map(repr, unknown))} (its parameters: {known})."
                )
        values: dict[str, str] = {}
        for name, param in self.parameters.items():
            if name in given:
                values[name] = param.resolve(given[name], given_base or base, base)
            elif param.default is not None:
                values[name] = param.resolve(param.default, base, base)
            else:
                raise InvalidInput(f"Entry point {self.name!r} needs a value for parameter {name!r} (-P {name}=...).")
        if self.loose:
            for name, raw in given.items():
                if not _NAME.match(name):
                    raise InvalidInput(f"{name!r} is not a valid parameter name.")
                values[name] = Parameter(name).resolve(raw, given_base or base, base)
        return values

    def argv(self, values: Mapping[str, str]) -> list[str]:
        """The argument list: the command split, placeholders replaced argument by argument.
        Parameters the command does not name are appended as ``--name value``."""
        try:
            words = shlex.split(self.command)
        except ValueError as exc:
            raise InvalidInput(f"Entry point {self.name!r}: cannot split its command ({exc}).") from None
        used: set[str] = set()

        def fill(match: re.Match[str]) -> str:
            token = match.group(0)
            if token in ("{{", "}}"):
                return token[0]
            name = match.group(1)
            used.add(name)
            return values[name]

        argv = [_PLACEHOLDER.sub(fill, word) for word in words]
        for name in sorted(set(values) - used):
            argv += [f"--{name}", values[name]]
        return argv


@dataclass(frozen=True)
class Environment:
    """What the project declares: a file (python_env.yaml, requirements.txt, conda.yaml) or
    ``local`` (the interpreter running runstone)."""

    kind: str  # "python_env" | "requirements" | "conda" | "local"
    file: str | None = None


@dataclass(frozen=True)
class Project:
    name: str
    path: Path
    environment: Environment
    entry_points: dict[str, EntryPoint]
    format: str  # "runstone" | "mlproject" | "folder"

    def entry_point(self, name: str) -> EntryPoint:
        found = self.entry_points.get(name)
        if found is not None:
            return found
        if name.endswith(".py"):
            script = (self.path / name).resolve()
            if not script.is_relative_to(self.path.resolve()):
                raise InvalidInput(f"Entry point {name!r} is outside the project folder.")
            if not script.is_file():
                raise InvalidInput(f"Project {self.name!r} has no entry point {name!r} and no such file.")
            return EntryPoint(name, shlex.join(["python", name]), {}, loose=True)
        known = ", ".join(sorted(self.entry_points)) or "none declared"
        raise InvalidInput(f"Project {self.name!r} has no entry point {name!r} (entry points: {known}).")


def _parameter(entry: str, name: str, spec: object) -> Parameter:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(f"Entry point {entry!r}: {name!r} is not a valid parameter name.")
    if isinstance(spec, str):
        kind, default = spec, None
    elif isinstance(spec, Mapping):
        kind, default = spec.get("type", "str"), spec.get("default")
    elif spec is None:
        kind, default = "str", None
    else:
        raise InvalidInput(f"Entry point {entry!r}, parameter {name!r}: expected a type or {{type, default}}.")
    kind = _ALIASES.get(str(kind), str(kind))
    if kind not in TYPES:
        raise InvalidInput(
            f"Entry point {entry!r}, parameter {name!r}: unknown type {kind!r} (types: {', '.join(TYPES)})."
        )
    return Parameter(name, kind, None if default is None else str(default))


def _placeholders(command: str) -> set[str]:
    return {m.group(1) for m in _PLACEHOLDER.finditer(command) if m.group(1) is not None}


def _entry_point(name: str, spec: object) -> EntryPoint:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("command"), str):
        raise InvalidInput(f"Entry point {name!r} needs a command.")
    params = spec.get("parameters") or {}
    if not isinstance(params, Mapping):
        raise InvalidInput(f"Entry point {name!r}: parameters must be a mapping of name to type.")
    entry = EntryPoint(name, spec["command"], {k: _parameter(name, k, v) for k, v in params.items()})
    undeclared = sorted(_placeholders(entry.command) - set(entry.parameters))
    if undeclared:
        raise InvalidInput(f"Entry point {name!r}: its command names undeclared parameter(s) {', '.join(undeclared)}.")
    try:
        shlex.split(entry.command)
    except ValueError as exc:
        raise InvalidInput(f"Entry point {name!r}: cannot split its command ({exc}).") from None
    return entry


def _environment(spec: Mapping[str, object], folder: Path) -> Environment:
    if "docker_env" in spec:
        raise InvalidInput("docker_env projects are not supported; declare python_env, conda_env or requirements.")
    declared = [(k, spec[k]) for k in ("environment", "python_env", "conda_env") if spec.get(k) is not None]
    if len(declared) > 1:
        raise InvalidInput(f"Declare one environment, not {' and '.join(k for k, _ in declared)}.")
    if declared:
        key, value = declared[0]
        value = str(value)
        if value == LOCAL and key == "environment":
            return Environment(LOCAL)
        if key == "conda_env":
            return _environment_file(folder, value, "conda")
        return _environment_file(folder, value, None)
    for name, kind in (("python_env.yaml", "python_env"), ("requirements.txt", "requirements")):
        if (folder / name).is_file():
            return Environment(kind, name)
    return Environment(LOCAL)


def _environment_file(folder: Path, name: str, kind: str | None) -> Environment:
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise InvalidInput(f"The environment file {name!r} is outside the project folder.")
    if not path.is_file():
        raise InvalidInput(f"The project declares the environment file {name!r}, which does not exist.")
    if kind is None:
        if name.endswith(".txt"):
            kind = "requirements"
        elif name.endswith((".yaml", ".yml")):
            import yaml

            try:
                content = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise InvalidInput(f"{name} is not valid YAML: {exc}") from None
            kind = "conda" if isinstance(content, Mapping) and "channels" in content else "python_env"
        else:
            raise InvalidInput(f"Unknown kind of environment file {name!r} (use .yaml or .txt).")
    return Environment(kind, name)


def load_project(path: str | Path) -> Project:
    """Read the project in a folder: runstone.yaml, else MLproject, else a plain folder (whose
    .py files are its entry points)."""
    import yaml

    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise InvalidInput(f"{path} is not a folder.")
    for file, fmt in ((RUNSTONE_FILE, "runstone"), (MLPROJECT_FILE, "mlproject")):
        manifest = folder / file
        if manifest.is_file():
            try:
                spec = yaml.safe_load(manifest.read_text()) or {}
            except yaml.YAMLError as exc:
                raise InvalidInput(f"{file} is not valid YAML: {exc}") from None
            if not isinstance(spec, Mapping):
                raise InvalidInput(f"{file} must be a mapping (name, environment, entry_points).")
            entries = spec.get("entry_points") or {}
            if not isinstance(entries, Mapping):
                raise InvalidInput(f"{file}: entry_points must be a mapping of name to entry point.")
            return Project(
                name=str(spec.get("name") or folder.name),
                path=folder,
                environment=_environment(spec, folder),
                entry_points={str(k): _entry_point(str(k), v) for k, v in entries.items()},
                format=fmt,
            )
    return Project(folder.name, folder, _environment({}, folder), {}, "folder")
