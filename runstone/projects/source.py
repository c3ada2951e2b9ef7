"""Where a project's code comes from, which version it is, and getting that version back.

A project is a local folder or a git repository (a local path or a URL, with ``#subfolder``
for a project inside a repository, and ``@commit`` to run a given version). The code version
recorded on a run is the commit plus, when the working tree is dirty, ``git diff HEAD`` as an
artifact; reproducing checks the commit out into a temporary clone and applies that diff.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runstone.errors import InvalidInput, InvalidState

_GIT_TIMEOUT = 120.0
_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")


def git(args: list[str], cwd: Path, *, check: bool = True, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=_GIT_TIMEOUT, input=stdin, check=False
        )
    except FileNotFoundError:
        raise InvalidState("git is not installed here; it is needed to record and check out code versions.") from None
    except subprocess.TimeoutExpired:
        raise InvalidState(f"git {args[0]} did not finish within {_GIT_TIMEOUT:.0f} s.") from None
    if check and done.returncode != 0:
        raise InvalidState(f"git {' '.join(args[:2])} failed: {done.stderr.strip()[-500:]}")
    return done.stdout if done.returncode == 0 else ""


@dataclass
class CodeVersion:
    commit: str | None = None
    repo: str | None = None  # the repository's top folder, or its URL
    subdirectory: str = ""  # the project's folder inside the repository
    branch: str | None = None
    remote: str | None = None
    diff: str | None = None  # uncommitted changes to tracked files

    @property
    def dirty(self) -> bool:
        return bool(self.diff)


def code_version(folder: Path) -> CodeVersion:
    """The git state of a project folder (no commit when it is not in a git repository)."""
    top = git(["rev-parse", "--show-toplevel"], folder, check=False).strip()
    if not top:
        return CodeVersion()
    commit = git(["rev-parse", "HEAD"], folder, check=False).strip() or None
    if commit is None:  # a repository with no commit yet
        return CodeVersion()
    sub = folder.resolve().relative_to(Path(top).resolve()).as_posix()
    branch = git(["rev-parse", "--abbrev-ref", "HEAD"], folder, check=False).strip() or None
    remote = git(["config", "--get", "remote.origin.url"], folder, check=False).strip() or None
    diff = git(["diff", "HEAD", "--binary"], Path(top), check=False) or None
    return CodeVersion(commit, top, "" if sub == "." else sub, branch, remote, diff)


def _is_git_url(uri: str) -> bool:
    return uri.startswith(("https://", "http://", "ssh://", "git://", "git@", "file://"))


def split_uri(uri: str) -> tuple[str, str, str | None]:
    """(repository or folder, subfolder, version) of ``repo#sub@version``-style project URIs."""
    version = None
    base, sub = uri, ""
    if "#" in base:
        base, sub = base.split("#", 1)
    if "@" in sub:
        sub, version = sub.rsplit("@", 1)
    elif _is_git_url(base) and "@" in base.rsplit("/", 1)[-1]:
        base, version = base.rsplit("@", 1)
    if Path(sub).is_absolute() or ".." in Path(sub).parts:
        raise InvalidInput(f"The project subfolder {sub!r} must be a relative path inside the repository.")
    return base, sub.strip("/"), version


@contextlib.contextmanager
def checkout(repo: str, commit: str | None, subdirectory: str = "", diff: str | None = None) -> Iterator[Path]:
    """A temporary clone of ``repo`` at ``commit`` (default: its HEAD) with ``diff`` applied;
    yields the project folder inside it and removes the clone afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="runstone-code-"))
    try:
        target = tmp / "code"
        local = Path(repo).expanduser()
        source = str(local.resolve()) if local.exists() else repo
        if not local.exists() and not _is_git_url(repo):
            raise InvalidInput(f"The repository {repo!r} is neither a folder here nor a git URL.")
        # "--" ends the options: a recorded repository is data, never an option to git.
        git(
            ["clone", "--quiet", "--no-checkout", *(["--shared"] if local.exists() else []), "--", source, str(target)],
            tmp,
        )
        if commit is not None:
            if not _COMMIT.match(commit):  # a branch or tag named in the project URI
                if commit.startswith("-"):
                    raise InvalidInput(f"{commit!r} is not a git revision.")
                resolved = [git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], target, check=False).strip()
                            for ref in (commit, f"origin/{commit}")]  # fmt: skip
                commit = next((r for r in resolved if r), commit)
            if not git(["cat-file", "-t", commit], target, check=False).strip():
                raise InvalidState(
                    f"The commit {commit} is not in the repository {repo}; fetch it (or push it) and try again."
                )
            git(["checkout", "--quiet", "--detach", commit], target)
        else:
            git(["checkout", "--quiet"], target)
        if diff:
            git(["apply", "--whitespace=nowarn", "-"], target, stdin=diff)
        folder = target / subdirectory if subdirectory else target
        if not folder.is_dir():
            raise InvalidInput(f"The repository {repo} has no folder {subdirectory!r} at {commit or 'HEAD'}.")
        yield folder
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def open_project(uri: str) -> Iterator[tuple[Path, str]]:
    """The local folder of a project URI (a clone for git URLs or ``@version``), and the URI to record."""
    base, sub, version = split_uri(uri)
    local = Path(base).expanduser()
    if local.exists() and version is None:
        folder = (local / sub) if sub else local
        if not folder.is_dir():
            raise InvalidInput(f"{folder} is not a folder.")
        yield folder.resolve(), str(folder.resolve())
        return
    if not local.exists() and not _is_git_url(base):
        raise InvalidInput(f"No project at {uri!r}: not a folder here, and not a git URL.")
    with checkout(base, version, sub) as folder:
        yield folder, uri
