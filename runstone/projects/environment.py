"""The environment a project runs in, built once and cached by the hash of its lock.

Three managers: ``local`` runs the entry point with the interpreter running runstone;
``virtualenv`` (the standard library's venv and pip) and ``uv`` build an isolated environment
from what the project declares (python_env.yaml, requirements.txt, or the pip part of
conda.yaml) or, when a run is reproduced, from the exact package versions it recorded.

Every environment's lock (``name==version`` of each installed distribution, sorted) and
Python version are recorded on the run. Built environments live under ``<home>/envs/<key>``:
the key of a fully pinned list is the hash of that lock, and an environment built from loose
requirements is found again by the hash of the declaration it was built from and, through
``envs/by-lock/``, by the hash of the lock it resolved to, so reproducing a run on the same
machine reuses the environment the run used. A requirement named ``runstone`` means the
running runstone, installed from a wheel of its own code (runstone is not on PyPI).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata as md
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput, InvalidState
from runstone.projects.spec import LOCAL, Project

MANAGERS = ("local", "virtualenv", "uv")
READY = "runstone-env.json"
# Variables that would make an isolated environment's Python see packages from elsewhere.
LEAKY_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE", "CONDA_PREFIX")
_TOOLING = {"pip", "setuptools", "wheel", "distribute"}
_RUNSTONE = "runstone"
Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class Declaration:
    """What to install: requirement lines and a Python version (None: the running one)."""

    python: str | None
    requirements: list[str]
    needs_runstone: bool
    notes: list[str] = field(default_factory=list)

    def python_version(self) -> str:
        return self.python or platform.python_version()


@dataclass
class ResolvedEnvironment:
    manager: str
    python: Path  # the interpreter
    python_version: str
    lock: list[str]
    path: Path | None = None  # the environment folder (None for local)
    reused: bool = False

    @property
    def lock_hash(self) -> str:
        return lock_hash(self.python_version, self.lock)

    @property
    def isolated(self) -> bool:
        return self.manager != LOCAL

    def bin_dir(self) -> Path:
        return self.python.parent

    def child_environ(self, base: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in base.items() if not (self.isolated and k in LEAKY_ENV)}
        env["PATH"] = os.pathsep.join([str(self.bin_dir()), base.get("PATH", "")])
        if self.isolated and self.path is not None:
            env["VIRTUAL_ENV"] = str(self.path)
        return env


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _requirement_name(line: str) -> str | None:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return _canonical(Requirement(line).name)
    except InvalidRequirement:
        return None


def lock_hash(python_version: str, lock: Sequence[str]) -> str:
    minor = ".".join(python_version.split(".")[:2])
    text = f"python {minor}\n" + "\n".join(sorted(lock, key=str.lower))
    return hashlib.sha256(text.encode()).hexdigest()


def is_pinned(lines: Sequence[str]) -> bool:
    return all("==" in ln and not ln.startswith("-") and ";" not in ln and "@" not in ln for ln in lines)


# ------------------------------------------------------------------ declarations
def _read_requirements(path: Path, root: Path, seen: set[Path] | None = None) -> list[str]:
    seen = seen or set()
    if path in seen:
        return []
    seen.add(path)
    lines: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            included = (path.parent / line.split(None, 1)[1].strip()).resolve()
            if not included.is_relative_to(root) or not included.is_file():
                raise InvalidInput(
                    f"{path.name} includes {line.split(None, 1)[1]!r}, which is not a file of the project."
                )
            lines += _read_requirements(included, root, seen)
        else:
            lines.append(line)
    return lines


def _split_runstone(lines: list[str]) -> tuple[list[str], bool]:
    kept = [ln for ln in lines if _requirement_name(ln) != _RUNSTONE]
    return kept, len(kept) != len(lines)


def declaration(project: Project) -> Declaration:
    """Read the environment a project declares (nothing to read for ``local``)."""
    import yaml

    env = project.environment
    if env.kind == LOCAL or env.file is None:
        return Declaration(None, [], False)
    root = project.path.resolve()
    file = root / env.file
    if env.kind == "requirements":
        lines, runstone = _split_runstone(_read_requirements(file, root))
        return Declaration(None, lines, runstone)
    try:
        spec = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{env.file} is not valid YAML: {exc}") from None
    if not isinstance(spec, dict):
        raise InvalidInput(f"{env.file} must be a mapping.")
    if env.kind == "python_env":
        python = spec.get("python")
        lines = []
        for item in spec.get("dependencies") or []:
            item = str(item).strip()
            if item.startswith(("-r ", "--requirement ")):
                included = (file.parent / item.split(None, 1)[1].strip()).resolve()
                if not included.is_relative_to(root) or not included.is_file():
                    raise InvalidInput(
                        f"{env.file} includes {item.split(None, 1)[1]!r}, which is not a file of the project."
                    )
                lines += _read_requirements(included, root)
            else:
                lines.append(item)
        kept, runstone = _split_runstone(lines)
        return Declaration(str(python) if python else None, kept, runstone)
    # conda.yaml: the Python version and the pip part; conda packages cannot be installed by pip.
    python = None
    lines, ignored = [], []
    for item in spec.get("dependencies") or []:
        if isinstance(item, dict) and "pip" in item:
            lines += [str(x).strip() for x in item["pip"] or []]
        elif isinstance(item, str):
            name = item.replace("==", "=").split("=")[0].strip()
            if name == "python":
                python = item.replace("==", "=").split("=", 1)[1].strip() if "=" in item else None
            elif name != "pip":
                ignored.append(item)
    kept, runstone = _split_runstone(lines)
    notes = (
        [f"{env.file}: conda packages are not installed, only its pip part: {', '.join(ignored)}"] if ignored else []
    )
    return Declaration(python, kept, runstone, notes)


# ------------------------------------------------------------------------ locks
def installed_lock(python: Path | None = None) -> list[str]:
    """``name==version`` of every distribution the interpreter sees (this one by default),
    build tooling left out, sorted by name."""
    if python is None or Path(python) == Path(sys.executable):
        return _lock_of(md.distributions())
    done = subprocess.run(
        [str(python), "-c", _LOCK_SCRIPT], capture_output=True, text=True, env=_clean_environ(), check=False
    )
    if done.returncode != 0:
        raise InvalidState(f"Could not list the packages of {python}: {done.stderr.strip()[-500:]}")
    return list(json.loads(done.stdout))


_LOCK_SCRIPT = (
    "import importlib.metadata as m, json\n"
    "print(json.dumps(sorted({(d.metadata['Name'] or '') + '==' + d.version for d in m.distributions() "
    "if (d.metadata['Name'] or '').lower() not in ('pip', 'setuptools', 'wheel', 'distribute', '')}, "
    "key=str.lower)))"
)


def _lock_of(dists: Any) -> list[str]:
    found = set()
    for d in dists:
        name = d.metadata["Name"] or ""
        if name and name.lower() not in _TOOLING:
            found.add(f"{name}=={d.version}")
    return sorted(found, key=str.lower)


def lock_differences(recorded: Sequence[str], current: Sequence[str]) -> list[tuple[str, str | None, str | None]]:
    """(package, recorded version, current version) for each package that differs."""

    def versions(lines: Sequence[str]) -> dict[str, str]:
        out = {}
        for line in lines:
            name, _, version = line.partition("==")
            out[_canonical(name)] = version
        return out

    a, b = versions(recorded), versions(current)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


# ---------------------------------------------------------------------- building
def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in LEAKY_ENV}


def interpreter_for(version: str | None) -> Path:
    """An interpreter of the wanted major.minor version: this one, or pythonX.Y on PATH."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    wanted = ".".join((version or running).split(".")[:2])
    if wanted == running:
        return Path(sys.executable)
    found = shutil.which(f"python{wanted}")
    if found is not None:  # a version manager's shim may be on PATH for a version not installed
        probe = subprocess.run(
            [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, env=_clean_environ(), check=False,
        )  # fmt: skip
        if probe.returncode != 0 or probe.stdout.strip() != wanted:
            found = None
    if found is None:
        raise InvalidState(
            f"The environment needs Python {version} and no python{wanted} is on PATH here "
            f"(runstone runs on Python {running}); install it or use --env-manager local."
        )
    return Path(found)


def _run(argv: list[str], what: str, cwd: Path | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=_clean_environ(), cwd=cwd, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise InvalidState(f"{what} failed (exit {done.returncode}):\n{tail}")


_runstone_digest_cache: list[str] = []


def runstone_digest() -> str:
    """A digest of the running runstone's code: an environment holding another runstone is stale."""
    if not _runstone_digest_cache:
        package = Path(__file__).resolve().parents[1]
        digest = hashlib.sha256()
        for file in sorted(package.rglob("*")):
            if file.is_dir() or "__pycache__" in file.parts or file.suffix in (".pyc", ".pyo"):
                continue
            digest.update(file.relative_to(package).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
        _runstone_digest_cache.append(digest.hexdigest())
    return _runstone_digest_cache[0]


def _uv() -> str:
    found = shutil.which("uv")
    if found is None:
        raise InvalidState(
            "--env-manager uv needs the uv command, and uv is not on PATH here; install it "
            "(pip install uv) or use --env-manager virtualenv."
        )
    return found


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """One builder of an environment at a time, across processes (a sweep's trials race here)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class EnvironmentCache:
    """Environments under ``root``, one folder per key, each complete once its READY file is written."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _load(self, folder: Path, manager: str) -> ResolvedEnvironment | None:
        ready = folder / READY
        if not ready.is_file():
            return None
        info = json.loads(ready.read_text())
        python = Path(info["python"])
        if not python.exists() or info.get("manager") != manager:
            return None
        return ResolvedEnvironment(manager, python, info["python_version"], info["lock"], folder, reused=True)

    def find_by_lock(self, lock_digest: str, manager: str) -> ResolvedEnvironment | None:
        direct = self._load(self.root / f"{manager}-{lock_digest[:24]}", manager)
        if direct is not None:
            return direct
        alias = self.root / "by-lock" / f"{manager}-{lock_digest[:24]}"
        if alias.is_file():
            return self._load(self.root / alias.read_text().strip(), manager)
        return None

    def ensure(
        self,
        manager: str,
        python: str | None,
        requirements: list[str],
        needs_runstone: bool,
        *,
        cwd: Path | None = None,
        say: Say = _quiet,
    ) -> ResolvedEnvironment:
        """The environment for these requirements, built unless a complete one is cached."""
        interpreter = interpreter_for(python)
        minor = ".".join((python or platform.python_version()).split(".")[:2])
        spec = {
            "python": minor,
            "requirements": requirements,
            "runstone": runstone_digest() if needs_runstone else None,
        }
        if is_pinned(requirements):
            lines = [*requirements, *([f"runstone=={_runstone_version()}"] if needs_runstone else [])]
            key = f"{manager}-{lock_hash(minor, lines)[:24]}"
            if needs_runstone:  # the same pins with another runstone inside is another environment
                key += "-" + runstone_digest()[:8]
        else:
            key = f"{manager}-spec-{hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]}"
        folder = self.root / key
        found = self._load(folder, manager)
        if found is not None:
            return found
        with _exclusive(self.root / f"{key}.lock"):
            found = self._load(folder, manager)
            if found is not None:
                return found
            if folder.exists():
                shutil.rmtree(folder)  # a build that was interrupted
            started = time.monotonic()
            say(f"Building a {manager} environment in {folder} (Python {minor}, {len(requirements)} requirement(s))")
            self._build(manager, interpreter, folder, requirements, needs_runstone, cwd)
            env_python = _env_python(folder)
            version = subprocess.run(
                [str(env_python), "-c", "import platform; print(platform.python_version())"],
                capture_output=True, text=True, check=True, env=_clean_environ(),
            ).stdout.strip()  # fmt: skip
            lock = installed_lock(env_python)
            info = {"manager": manager, "python": str(env_python), "python_version": version, "lock": lock}
            (folder / READY).write_text(json.dumps(info, indent=1))
            alias = self.root / "by-lock" / f"{manager}-{lock_hash(version, lock)[:24]}"
            alias.parent.mkdir(parents=True, exist_ok=True)
            alias.write_text(key)
            say(f"Environment ready in {time.monotonic() - started:.0f} s")
            return ResolvedEnvironment(manager, env_python, version, lock, folder)

    def _build(
        self,
        manager: str,
        interpreter: Path,
        folder: Path,
        requirements: list[str],
        needs_runstone: bool,
        cwd: Path | None,
    ) -> None:
        from runstone.models.reproduce import build_runstone_wheel

        folder.parent.mkdir(parents=True, exist_ok=True)
        if manager == "uv":
            uv = _uv()
            _run(
                [uv, "venv", "--quiet", "--seed", "--python", str(interpreter), str(folder)], "Creating the environment"
            )
            install = [uv, "pip", "install", "--quiet", "--python", str(_env_python(folder))]
        else:
            _run([str(interpreter), "-m", "venv", str(folder)], "Creating the virtualenv")
            install = [str(_env_python(folder)), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
        with tempfile.TemporaryDirectory(prefix="runstone-env-") as tmp:
            req_file = Path(tmp) / "requirements.txt"
            req_file.write_text("".join(f"{line}\n" for line in requirements))
            wheel = build_runstone_wheel(Path(tmp)) if needs_runstone else None
            pinned = is_pinned(requirements)
            if wheel is not None and not pinned:
                _run([*install, "-r", str(req_file), str(wheel)], "Installing the requirements", cwd)
                return
            if requirements:
                _run([*install, "-r", str(req_file)], "Installing the requirements", cwd)
            if wheel is not None:  # every dependency is pinned in the lock already
                _run([*install, "--no-deps", str(wheel)], "Installing runstone", cwd)


def _runstone_version() -> str:
    from runstone.version import VERSION

    return VERSION


def _env_python(folder: Path) -> Path:
    from runstone.models.reproduce import env_python

    return env_python(folder)


def local_environment(cache: EnvironmentCache | None = None) -> ResolvedEnvironment:
    """The running interpreter's environment. Listing hundreds of installed distributions takes
    a while, so the lock is kept in the cache until a folder on sys.path changes."""
    folders = [p for p in sys.path if p and os.path.isdir(p)]
    stamp = hashlib.sha256(
        json.dumps([sys.executable, [(p, os.stat(p).st_mtime_ns) for p in folders]]).encode()
    ).hexdigest()
    saved = cache.root / "local" / f"{stamp[:24]}.json" if cache is not None else None
    if saved is not None and saved.is_file():
        with contextlib.suppress(ValueError, OSError):
            return ResolvedEnvironment(
                LOCAL, Path(sys.executable), platform.python_version(), json.loads(saved.read_text())
            )
    lock = installed_lock()
    if saved is not None:
        with contextlib.suppress(OSError):
            saved.parent.mkdir(parents=True, exist_ok=True)
            tmp = saved.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(lock))
            os.replace(tmp, saved)
    return ResolvedEnvironment(LOCAL, Path(sys.executable), platform.python_version(), lock)


def check_manager(manager: str) -> None:
    if manager not in MANAGERS:
        raise InvalidInput(f"Unknown environment manager {manager!r}; use one of {', '.join(MANAGERS)}.")
    if manager == "uv":
        _uv()


def resolve(project: Project, manager: str | None, cache: EnvironmentCache, say: Say = _quiet) -> ResolvedEnvironment:
    """The environment to run the project in (built now if needed)."""
    chosen = manager or default_manager(project)
    check_manager(chosen)
    if chosen == LOCAL:
        return local_environment(cache)
    decl = declaration(project)
    for note in decl.notes:
        say(note)
    return cache.ensure(chosen, decl.python, decl.requirements, decl.needs_runstone, cwd=project.path, say=say)


def from_lock(
    python_version: str, lock: list[str], manager: str, cache: EnvironmentCache, say: Say = _quiet
) -> ResolvedEnvironment:
    """Rebuild (or find) the environment of a recorded lock."""
    check_manager(manager)
    if manager == LOCAL:
        return local_environment(cache)
    found = cache.find_by_lock(lock_hash(python_version, lock), manager)
    if found is not None:
        return found
    requirements, runstone = _split_runstone(list(lock))
    return cache.ensure(manager, python_version, requirements, runstone, say=say)


def default_manager(project: Project) -> str:
    return LOCAL if project.environment.kind == LOCAL else "virtualenv"
