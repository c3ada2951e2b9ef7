"""``runstone run``: start an entry point of a project as a tracked run.

Everything is checked before anything starts (the project file, the entry point, each
parameter against its type, the environment, which is built or found in the cache). Then a run
is created with the code version, parameters, environment lock, Python version and machine
recorded, and the entry point's command starts as an argument list (never through a shell)
with that run active: ``RUNSTONE_RUN_ID`` / ``MLFLOW_RUN_ID`` and the tracking URIs point the
child's SDK (runstone's or the stock mlflow client) at it. Its stdout and stderr are echoed,
and uploaded as artifacts while it runs; its exit status and duration end the run (FAILED
with the exit code when the command fails).
"""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from runstone.config import Settings
from runstone.entities import RunStatus
from runstone.errors import InvalidInput
from runstone.extras import require
from runstone.projects import environment as envs
from runstone.projects.source import CodeVersion, code_version, open_project, split_uri
from runstone.projects.spec import EntryPoint, Project, load_project
from runstone.sdk.client import RunstoneClient, is_remote
from runstone.tracking import tags as T

Say = Callable[[str], None]
LOG_INTERVAL = 5.0  # seconds between uploads of a running command's stdout and stderr
STOP_POLL = 0.5  # seconds between checks of the stop request (a sweep pruning a trial)
_TERMINATE_GRACE = 5.0


def _quiet(_: str) -> None:
    return None


@dataclass
class ProjectRun:
    """How a project run ended."""

    run_id: str
    experiment_id: str
    status: str
    exit_code: int
    seconds: float
    stopped: str | None = None  # why it was stopped (a sweep's pruning), when it was

    @property
    def succeeded(self) -> bool:
        return self.status == RunStatus.FINISHED.value


@dataclass
class Prepared:
    """A project run checked and ready to start: nothing has been recorded yet."""

    project: Project
    uri: str
    entry: EntryPoint
    parameters: dict[str, str]
    argv: list[str]
    env: envs.ResolvedEnvironment
    code: CodeVersion
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)


def machine() -> dict[str, object]:
    """CPU, cores, memory and operating system of this machine."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": memory, "os": platform.platform()}


def settings_for(tracking_uri: str | None, settings: Settings | None = None) -> Settings:
    """Settings of the embedded store a (non-HTTP) tracking URI names."""
    settings = settings or Settings()
    uri = tracking_uri or settings.tracking_uri
    if uri and "://" in uri and not uri.startswith("file://"):
        return settings.model_copy(update={"backend_store_uri": uri})
    if uri:
        home = Path(uri.removeprefix("file://")).expanduser()
        return settings.model_copy(update={"home": home, "backend_store_uri": None, "artifacts_destination": None})
    return settings


@contextlib.contextmanager
def tracking_server(
    tracking_uri: str | None, settings: Settings | None = None, *, serve: bool = True
) -> Iterator[str | None]:
    """The tracking URI a child logs to: the configured server, or (``serve``) a loopback server
    over the embedded store, or else the embedded store itself (None: the child's settings,
    inherited, name it)."""
    uri = tracking_uri or (settings or Settings()).tracking_uri
    if is_remote(uri):
        assert uri is not None
        yield uri
        return
    if not serve:
        yield tracking_uri
        return
    from runstone.projects.loopback import serve_embedded

    with serve_embedded(settings_for(uri, settings)) as url:
        yield url


def environment_cache(settings: Settings | None = None) -> envs.EnvironmentCache:
    settings = settings or Settings()
    return envs.EnvironmentCache(settings.env_cache or settings.home / "envs")


def prepare(
    project_dir: Path,
    uri: str,
    entry_point: str,
    parameters: Mapping[str, object],
    *,
    env_manager: str | None = None,
    seed: int | None = None,
    cache: envs.EnvironmentCache | None = None,
    given_base: Path | None = None,
    say: Say = _quiet,
) -> Prepared:
    """Check everything and build (or find) the environment; raises before anything is recorded."""
    project = load_project(project_dir)
    entry = project.entry_point(entry_point)
    values = entry.resolve(parameters, project.path, given_base)
    argv = entry.argv(values)
    if not argv:
        raise InvalidInput(f"Entry point {entry.name!r} has an empty command.")
    if seed is not None and not 0 <= seed < 2**32:
        raise InvalidInput(f"The seed must be between 0 and 2**32 - 1, got {seed}.")
    env = envs.resolve(project, env_manager, cache or environment_cache(), say)
    return Prepared(project, uri, entry, values, argv, env, code_version(project.path), seed or _new_seed())


def _new_seed() -> int:
    return secrets.randbelow(2**31)


def experiment_id_for(client: RunstoneClient, name: str | None, experiment_id: str | None) -> str:
    if experiment_id is not None:
        return client.get_experiment(str(experiment_id)).experiment_id
    if name is None:
        settings = client.settings
        if settings.experiment_name:
            name = settings.experiment_name
        else:
            return settings.experiment_id or "0"
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name)
        except Exception:
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    return found.experiment_id


def describe(p: Prepared) -> tuple[dict[str, str], dict[str, Any]]:
    """The tags and the run.json record of a prepared run."""
    host = machine()
    repo = p.code.repo
    base, _, _ = split_uri(p.uri)
    if repo is not None and not Path(base).expanduser().exists():
        repo = p.code.remote or base  # cloned from a URL: the URL is where the commit lives
    tags = {
        T.PROJECT_NAME: p.project.name,
        T.PROJECT_URI: p.uri,
        T.PROJECT_ENTRY_POINT: p.entry.name,
        T.PROJECT_ENV_MANAGER: p.env.manager,
        T.PROJECT_SEED: str(p.seed),
        T.ENV_LOCK_HASH: p.env.lock_hash,
        T.SOURCE_NAME: p.uri,
        T.SOURCE_TYPE: "PROJECT",
        T.PYTHON_VERSION: p.env.python_version,
        T.HOST: platform.node(),
        T.MACHINE_CPU: str(host["cpu"]),
        T.MACHINE_CORES: str(host["cores"]),
        T.MACHINE_OS: str(host["os"]),
    }
    if host["memory_bytes"]:
        tags[T.MACHINE_MEMORY] = str(host["memory_bytes"])
    if p.code.commit:
        tags[T.GIT_COMMIT] = p.code.commit
        tags[T.GIT_DIRTY] = "true" if p.code.dirty else "false"
        if p.code.branch:
            tags[T.GIT_BRANCH] = p.code.branch
        if p.code.remote:
            tags[T.GIT_REPO_URL] = p.code.remote
    record = {
        "project": p.project.name,
        "uri": p.uri,
        "format": p.project.format,
        "repo": repo,
        "commit": p.code.commit,
        "subdirectory": p.code.subdirectory,
        "dirty": p.code.dirty,
        "entry_point": p.entry.name,
        "parameters": p.parameters,
        "command": p.argv,
        "env_manager": p.env.manager,
        "python_version": p.env.python_version,
        "lock_hash": p.env.lock_hash,
        "seed": p.seed,
        "machine": host,
        **p.extra,
    }
    return tags, record


class _Tee(threading.Thread):
    """Copies a child's pipe to a file and, optionally, to our own stream, as it comes."""

    def __init__(self, pipe: IO[bytes], file: Path, echo: IO[bytes] | None) -> None:
        super().__init__(daemon=True)
        self.pipe, self.file, self.echo = pipe, file, echo
        self.size = 0

    def run(self) -> None:
        fd = self.pipe.fileno()
        with open(self.file, "ab") as out:
            while chunk := os.read(fd, 65536):
                out.write(chunk)
                out.flush()
                self.size += len(chunk)
                if self.echo is not None:
                    with contextlib.suppress(OSError, ValueError):
                        self.echo.write(chunk)
                        self.echo.flush()


def _terminate(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=_TERMINATE_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _drain(process: subprocess.Popen[bytes], tees: list[_Tee]) -> None:
    for tee in tees:
        tee.join(timeout=10)
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


def needs_http(p: Prepared) -> bool:
    """Whether the command logs with a client that speaks only HTTP (an MLflow project's mlflow)."""
    return p.project.format == "mlproject"


def check_servable(p: Prepared, tracking_uri: str | None, settings: Settings | None) -> None:
    """Before a run is created: an MLflow project's command on the embedded store is served that
    store on loopback (``tracking_server``), which needs the server extra."""
    if needs_http(p) and not is_remote(tracking_uri or (settings or Settings()).tracking_uri):
        require("server", "An MLflow project's run on the embedded store (served to its mlflow client on loopback)")


def child_environment(p: Prepared, client_uri: str | None, run_id: str, experiment_id: str) -> dict[str, str]:
    base = dict(os.environ)
    for name in ("RUNSTONE_RUN_ID", "MLFLOW_RUN_ID", "RUNSTONE_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME"):
        base.pop(name, None)
    env = p.env.child_environ(base)
    if client_uri is not None:
        env["RUNSTONE_TRACKING_URI"] = client_uri
    if is_remote(client_uri):
        assert client_uri is not None
        env["MLFLOW_TRACKING_URI"] = client_uri
    env.update(
        RUNSTONE_RUN_ID=run_id,
        RUNSTONE_EXPERIMENT_ID=experiment_id,
        MLFLOW_RUN_ID=run_id,
        MLFLOW_EXPERIMENT_ID=experiment_id,
        RUNSTONE_SEED=str(p.seed),
        PYTHONHASHSEED=str(p.seed),
        PYTHONUNBUFFERED="1",
    )
    return env


def _argv(p: Prepared) -> list[str]:
    argv = list(p.argv)
    if argv[0] in ("python", "python3", f"python{sys.version_info.major}.{sys.version_info.minor}"):
        argv[0] = str(p.env.python)
    return argv


def execute(
    p: Prepared,
    client: RunstoneClient,
    run_id: str,
    experiment_id: str,
    *,
    echo: bool = True,
    log_interval: float = LOG_INTERVAL,
    should_stop: Callable[[], str | None] | None = None,
    child_uri: str | None = None,
    say: Say = _quiet,
) -> ProjectRun:
    """Run the prepared command for ``run_id`` (already created and recorded) and end the run.
    The command logs to ``child_uri`` (default: where ``client`` logs)."""
    started = time.monotonic()
    stopped: str | None = None
    with tempfile.TemporaryDirectory(prefix="runstone-logs-") as tmp:
        out_file, err_file = Path(tmp) / "stdout.txt", Path(tmp) / "stderr.txt"
        out_file.touch()
        err_file.touch()
        say(f"Run {run_id}: {' '.join(p.argv)}")
        try:
            process = subprocess.Popen(
                _argv(p),
                cwd=p.project.path,
                env=child_environment(p, child_uri or client_uri_of(client), run_id, experiment_id),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            client.log_batch(run_id, tags={T.PROJECT_EXIT_CODE: "127"})
            client.set_terminated(run_id, RunStatus.FAILED.value)
            raise InvalidInput(f"Cannot start {p.argv[0]!r}: {exc.strerror or exc}") from None
        assert process.stdout is not None and process.stderr is not None
        tees = [
            _Tee(process.stdout, out_file, sys.stdout.buffer if echo else None),
            _Tee(process.stderr, err_file, sys.stderr.buffer if echo else None),
        ]
        for tee in tees:
            tee.start()
        uploaded = [-1, -1]

        def upload(final: bool = False) -> None:
            for i, (tee, name) in enumerate(zip(tees, (T.STDOUT_ARTIFACT, T.STDERR_ARTIFACT), strict=True)):
                if tee.size != uploaded[i] or final:
                    size = tee.size
                    with contextlib.suppress(Exception):  # a missed upload is retried at the next one
                        client.log_artifact(run_id, tee.file, name.rsplit("/", 1)[0])
                        uploaded[i] = size

        last_upload = time.monotonic()
        status = RunStatus.FAILED
        try:
            while True:
                try:
                    code = process.wait(timeout=STOP_POLL if should_stop else min(log_interval, 1.0))
                    break
                except subprocess.TimeoutExpired:
                    pass
                if should_stop is not None and stopped is None:
                    stopped = should_stop()
                    if stopped is not None:
                        say(f"Run {run_id}: stopping ({stopped})")
                        _terminate(process)
                        continue
                if time.monotonic() - last_upload >= log_interval:
                    upload()
                    last_upload = time.monotonic()
        except BaseException:
            _terminate(process)
            _drain(process, tees)
            upload(final=True)
            client.set_terminated(run_id, RunStatus.KILLED.value)
            raise
        _drain(process, tees)
        seconds = time.monotonic() - started
        upload(final=True)
        if stopped is not None:
            status = RunStatus.KILLED
        elif code == 0:
            status = RunStatus.FINISHED
        client.log_batch(run_id, tags={T.PROJECT_EXIT_CODE: str(code), T.PROJECT_DURATION: f"{seconds:.3f}"})
        client.set_terminated(run_id, status.value)
    return ProjectRun(run_id, experiment_id, status.value, code, seconds, stopped)


def client_uri_of(client: RunstoneClient) -> str | None:
    """The URI a child process should use to reach the store ``client`` logs to (None: the
    embedded store the child's inherited settings name)."""
    return client.tracking_uri if client.is_remote else None


def record(p: Prepared, client: RunstoneClient, run_id: str) -> None:
    """Record the code version, parameters, environment and machine of a prepared run."""
    tags, spec = describe(p)
    client.log_batch(run_id, params=p.parameters, tags=tags)
    client.log_dict(run_id, spec, T.PROJECT_SPEC_ARTIFACT)
    client.log_text(run_id, "".join(f"{line}\n" for line in p.env.lock), T.ENV_LOCK_ARTIFACT)
    if p.code.diff:
        client.log_text(run_id, p.code.diff, T.GIT_DIFF_ARTIFACT)


def run(
    uri: str | os.PathLike[str],
    entry_point: str = "main",
    parameters: Mapping[str, object] | None = None,
    *,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    tracking_uri: str | None = None,
    seed: int | None = None,
    tags: Mapping[str, object] | None = None,
    echo: bool = True,
    say: Say = _quiet,
) -> ProjectRun:
    """Run an entry point of a project (a folder or a git repository) as a new run."""
    settings = Settings()
    with open_project(str(uri)) as (folder, recorded_uri):
        prepared = prepare(
            folder, recorded_uri, entry_point, parameters or {}, env_manager=env_manager, seed=seed,
            cache=environment_cache(settings), given_base=Path.cwd(), say=say,
        )  # fmt: skip
        return start(
            prepared, tracking_uri=tracking_uri, experiment_name=experiment_name, experiment_id=experiment_id,
            run_name=run_name, tags=tags, echo=echo, say=say, settings=settings,
        )  # fmt: skip


def start(
    p: Prepared,
    *,
    tracking_uri: str | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, object] | None = None,
    echo: bool = True,
    say: Say = _quiet,
    settings: Settings | None = None,
) -> ProjectRun:
    """Create the run of a prepared project run, record it and execute it."""
    check_servable(p, tracking_uri, settings)
    with RunstoneClient(tracking_uri, settings=settings) as client:
        exp = experiment_id_for(client, experiment_name, experiment_id)
        created = client.create_run(exp, tags={k: str(v) for k, v in (tags or {}).items()}, run_name=run_name)
        run_id = created.info.run_id
        try:
            record(p, client, run_id)
        except BaseException:
            client.set_terminated(run_id, RunStatus.FAILED.value)
            raise
        with tracking_server(tracking_uri, settings, serve=needs_http(p)) as child_uri:
            return execute(p, client, run_id, exp, echo=echo, say=say, child_uri=child_uri)
