"""``runstone reproduce``: re-run a past run and say whether it still reproduces.

The recorded code version is checked out into a temporary clone (the recorded uncommitted diff
applied), the recorded environment rebuilt from its lock (or found in the environment cache),
and the same entry point re-run with the same parameters and seed as a new run. The two runs
are compared (see ``runstone.projects.verdict``) and the verdict is stored on both: tags that
link each run to the other, and the table of differences as a JSON artifact.

Runs started with the SDK can be reproduced when they recorded their source file, git commit
and environment (``runstone.projects.log_environment()``); whatever is missing is named.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from runstone.config import Settings
from runstone.entities import Run
from runstone.errors import InvalidInput, InvalidState, NotFound
from runstone.projects import environment as envs
from runstone.projects import runner
from runstone.projects.source import CodeVersion, checkout, git
from runstone.projects.spec import LOCAL, EntryPoint, Environment, Project, load_project
from runstone.projects.verdict import Difference, Tolerance, Verdict, compare
from runstone.sdk.client import RunstoneClient
from runstone.tracking import tags as T

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class Plan:
    """What is needed to re-run a run, read from what it recorded."""

    kind: str  # "project" or "script"
    repo: str
    commit: str
    subdirectory: str
    diff: str | None
    python_version: str
    lock: list[str]
    env_manager: str
    seed: int | None
    entry_point: str = ""
    parameters: dict[str, str] | None = None
    script: str = ""  # a script run: its path in the repository
    argv: list[str] | None = None  # a script run: its arguments
    cwd: str = ""  # a script run: its working folder in the repository


def read_artifact_text(client: RunstoneClient, run_id: str, path: str) -> str | None:
    with tempfile.TemporaryDirectory(prefix="runstone-read-") as tmp:
        try:
            local = client.download_artifacts(run_id, path, tmp)
        except NotFound:
            return None
        return Path(local).read_text()


def files_of(client: RunstoneClient, run_id: str, path: str = "") -> dict[str, str]:
    """Every artifact file of a run with its SHA-256."""
    out: dict[str, str] = {}
    for entry in client.list_artifacts(run_id, path):
        if entry.is_dir:
            out.update(files_of(client, run_id, entry.path))
        else:
            out[entry.path] = entry.sha256 or ""
    return out


def plan(client: RunstoneClient, run: Run) -> Plan:
    """How to re-run ``run``; raises InvalidState naming everything it did not record."""
    run_id = run.info.run_id
    tags = run.data.tags
    spec_text = read_artifact_text(client, run_id, T.PROJECT_SPEC_ARTIFACT)
    lock_text = read_artifact_text(client, run_id, T.ENV_LOCK_ARTIFACT)
    diff = read_artifact_text(client, run_id, T.GIT_DIFF_ARTIFACT) if tags.get(T.GIT_DIRTY) == "true" else None
    lock = [ln.strip() for ln in (lock_text or "").splitlines() if ln.strip()]
    missing: list[str] = []
    if spec_text is not None:
        spec = json.loads(spec_text)
        if not spec.get("commit"):
            missing.append(
                "its code version: the project was not in a git repository when it ran (commit it to git and "
                "start it again with runstone run)"
            )
        if lock_text is None:
            missing.append(f"its environment (no {T.ENV_LOCK_ARTIFACT} artifact)")
        if missing:
            raise InvalidState(f"Run {run_id} cannot be reproduced: it did not record " + "; nor ".join(missing) + ".")
        return Plan(
            "project", spec["repo"], spec["commit"], spec.get("subdirectory") or "", diff,
            spec["python_version"], lock, spec["env_manager"], spec.get("seed"),
            entry_point=spec["entry_point"], parameters=dict(spec["parameters"]),
        )  # fmt: skip
    # A run started by the SDK: its source file, commit and (logged by log_environment) environment.
    source = tags.get(T.SOURCE_NAME)
    commit = tags.get(T.GIT_COMMIT)
    info_text = read_artifact_text(client, run_id, T.ENV_INFO_ARTIFACT)
    if not source or tags.get(T.SOURCE_TYPE) not in (None, "LOCAL") or source.startswith("<"):
        missing.append(f"a source file (its source is {source or 'not recorded'})")
    if not commit:
        missing.append("a git commit (the source file was not in a git repository)")
    if lock_text is None or info_text is None:
        missing.append(
            "its environment (call runstone.projects.log_environment() in the run, or start it with runstone run)"
        )
    if missing:
        raise InvalidState(f"Run {run_id} cannot be reproduced: it did not record " + "; nor ".join(missing) + ".")
    assert source is not None and commit is not None and info_text is not None
    info = json.loads(info_text)
    script = Path(source)
    repo, relative = _repository_of(script, tags.get(T.GIT_REPO_URL))
    cwd = Path(info.get("cwd") or script.parent)
    top = Path(repo).resolve()
    cwd_in_repo = cwd.resolve().relative_to(top).as_posix() if cwd.resolve().is_relative_to(top) else ""
    return Plan(
        "script", repo, commit, "", diff, info["python_version"], lock, LOCAL, None,
        script=relative, argv=list(info.get("argv") or [])[1:], cwd="" if cwd_in_repo == "." else cwd_in_repo,
    )  # fmt: skip


def _repository_of(script: Path, remote: str | None) -> tuple[str, str]:
    """The repository holding a script (its folder here, else the recorded remote) and the
    script's path inside it."""
    if script.parent.is_dir():
        top = git(["rev-parse", "--show-toplevel"], script.parent, check=False).strip()
        if top:
            return top, script.resolve().relative_to(Path(top).resolve()).as_posix()
    if remote:
        raise InvalidState(f"The script {script} is no longer here; clone {remote} at the same path and try again.")
    raise InvalidState(f"The script {script} is no longer here and no repository URL was recorded.")


def _at(p: Plan, ref: str) -> Plan:
    """The plan on another code version (without the recorded uncommitted diff)."""
    if ref.startswith("-"):
        raise InvalidInput(f"{ref!r} is not a git revision.")
    local = Path(p.repo).expanduser()
    if not local.is_dir():
        raise InvalidState(f"--at needs the repository {p.repo} here, as a folder.")
    commit = git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], local, check=False).strip()
    if not commit:
        raise InvalidInput(f"{ref!r} is not a commit, branch or tag of {p.repo}.")
    return replace(p, commit=commit, diff=None)


def _prepared(p: Plan, folder: Path, env: envs.ResolvedEnvironment) -> runner.Prepared:
    code = CodeVersion(p.commit, p.repo, p.subdirectory, None, None, p.diff)
    if p.kind == "project":
        project = load_project(folder)
        entry = project.entry_point(p.entry_point)
        values = entry.resolve(p.parameters or {}, project.path)
        argv = entry.argv(values)
        return runner.Prepared(project, str(folder), entry, values, argv, env, code, p.seed or 0)
    workdir = folder / p.cwd if p.cwd else folder
    script = (folder / p.script).resolve()
    argv = ["python", str(script), *(p.argv or [])]
    entry = EntryPoint(p.script, shlex.join(argv), {}, loose=True)
    project = Project(Path(p.script).stem, workdir, Environment(LOCAL), {}, "script")
    return runner.Prepared(project, str(folder), entry, {}, argv, env, code, p.seed or 0)


@contextlib.contextmanager
def _code(p: Plan, say: Say) -> Iterator[Path]:
    say(f"Checking out {p.commit[:12]} of {p.repo}" + (" and applying the recorded diff" if p.diff else ""))
    with checkout(p.repo, p.commit, p.subdirectory, p.diff) as folder:
        yield folder


def _mlmodel_equal(client: RunstoneClient, a: str, b: str, path: str) -> bool:
    """Two MLmodel manifests equal but for what names the run and the moment it was saved."""
    import yaml

    volatile = {"run_id", "utc_time_created", "model_uuid", "model_id", "artifact_path"}
    texts = (read_artifact_text(client, a, path), read_artifact_text(client, b, path))
    if texts[0] is None or texts[1] is None:
        return False
    docs = [yaml.safe_load(t) for t in texts]
    if not all(isinstance(d, dict) for d in docs):
        return False
    stripped = [{k: v for k, v in d.items() if k not in volatile} for d in docs]
    return stripped[0] == stripped[1]


def verdict_of(
    client: RunstoneClient,
    original: Run,
    reproduction: Run,
    *,
    tolerances: Mapping[str, Tolerance] | None = None,
    recorded_lock: list[str] | None = None,
    current_lock: list[str] | None = None,
) -> Verdict:
    a_files = files_of(client, original.info.run_id)
    b_files = files_of(client, reproduction.info.run_id)
    equal = [
        path
        for path in a_files
        if path.rsplit("/", 1)[-1] == "MLmodel"
        and path in b_files
        and a_files[path] != b_files[path]
        and _mlmodel_equal(client, original.info.run_id, reproduction.info.run_id, path)
    ]
    env_diff = envs.lock_differences(recorded_lock, current_lock) if recorded_lock and current_lock else []
    return compare(
        original, reproduction, a_files, b_files, tolerances=tolerances, equal_content=equal,
        original_exit=original.data.tags.get(T.PROJECT_EXIT_CODE, "0"),
        reproduction_exit=reproduction.data.tags.get(T.PROJECT_EXIT_CODE),
        environment=env_diff,
    )  # fmt: skip


def store(client: RunstoneClient, verdict: Verdict) -> None:
    """The verdict on both runs: tags linking each to the other, and the table as JSON."""
    a, b = verdict.original_run_id, verdict.reproduction_run_id
    data = verdict.to_dict()
    client.log_dict(b, data, T.VERDICT_ARTIFACT)
    client.log_batch(b, tags={T.REPRODUCTION_OF: a, T.REPRODUCTION_VERDICT: verdict.verdict})
    client.log_dict(a, data, f"{T.VERDICTS_FOLDER}/{b}.json")
    client.log_batch(a, tags={T.REPRODUCTION_LATEST: b, T.REPRODUCTION_VERDICT: verdict.verdict})


def reproduce(
    run_id: str,
    *,
    tolerances: Mapping[str, Tolerance] | None = None,
    env_manager: str | None = None,
    tracking_uri: str | None = None,
    experiment_name: str | None = None,
    at: str | None = None,
    echo: bool = True,
    say: Say = _quiet,
) -> Verdict:
    """Re-run ``run_id`` from its recorded code, environment, parameters and seed; compare;
    store the verdict on both runs and return it. ``at`` (a commit, branch or tag of the run's
    repository) re-runs another code version instead: does the new code still reproduce it?"""
    settings = Settings()
    with RunstoneClient(tracking_uri, settings=settings) as client:
        original = client.get_run(run_id)
        p = plan(client, original)
        if at is not None:
            p = _at(p, at)
        manager = env_manager or p.env_manager
        cache = runner.environment_cache(settings)
        if manager != LOCAL:
            say(f"Rebuilding the recorded environment ({len(p.lock)} packages, Python {p.python_version})")
        env = envs.from_lock(p.python_version, p.lock, manager, cache, say)
        with _code(p, say) as folder:
            prepared = _prepared(p, folder, env)
            experiment = (
                runner.experiment_id_for(client, experiment_name, None)
                if experiment_name
                else original.info.experiment_id
            )
            name = f"{original.info.run_name} (reproduction)"[:250]
            runner.check_servable(prepared, tracking_uri, settings)
            created = client.create_run(experiment, tags={T.REPRODUCTION_OF: run_id}, run_name=name)
            new_id = created.info.run_id
            try:
                runner.record(prepared, client, new_id)
            except BaseException:
                client.set_terminated(new_id, "FAILED")
                raise
            with runner.tracking_server(tracking_uri, settings, serve=runner.needs_http(prepared)) as child_uri:
                runner.execute(prepared, client, new_id, experiment, echo=echo, say=say, child_uri=child_uri)
        verdict = verdict_of(
            client, client.get_run(run_id), client.get_run(new_id), tolerances=tolerances,
            recorded_lock=p.lock, current_lock=env.lock,
        )  # fmt: skip
        recorded = original.data.tags.get(T.GIT_COMMIT)
        if recorded and recorded != p.commit:
            verdict.differences.insert(0, Difference("code", "commit", recorded, p.commit, note=f"re-run at {at}"))
        store(client, verdict)
        return verdict


def describe(verdict: Verdict) -> dict[str, object]:
    return verdict.to_dict() | {"summary": verdict.summary()}
