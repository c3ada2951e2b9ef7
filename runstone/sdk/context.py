"""System tags gathered when a run starts: source, user, host, Python and git state."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from runstone.tracking import tags as T

_GIT_TIMEOUT = 5.0


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=_GIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def source() -> tuple[str, str, Path]:
    """(source name, source type, folder to look for git in)."""
    main = sys.modules.get("__main__")
    if "ipykernel" in sys.modules or ("IPython" in sys.modules and main is not None and not hasattr(main, "__file__")):
        return "<notebook>", "NOTEBOOK", Path.cwd()
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    if not path or path in ("-c", "-m"):
        return "<interactive>", "LOCAL", Path.cwd()
    resolved = Path(path).resolve()
    return str(resolved), "LOCAL", resolved.parent


def git_state(folder: Path) -> tuple[dict[str, str], str | None]:
    """Tags describing the git checkout around ``folder``, and its diff when the tree is dirty."""
    commit = _git(["rev-parse", "HEAD"], folder)
    if commit is None:
        return {}, None
    found = {T.GIT_COMMIT: commit}
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], folder)
    if branch:
        found[T.GIT_BRANCH] = branch
    remote = _git(["config", "--get", "remote.origin.url"], folder)
    if remote:
        found[T.GIT_REPO_URL] = remote
    status = _git(["status", "--porcelain", "--untracked-files=no"], folder)
    dirty = bool(status)
    found[T.GIT_DIRTY] = "true" if dirty else "false"
    diff = _git(["diff", "HEAD"], folder) if dirty else None
    return found, diff or None


def system_tags(user: str | None = None) -> tuple[dict[str, str], str | None]:
    name, kind, folder = source()
    try:
        login = user or getpass.getuser()
    except Exception:
        login = "unknown"
    found = {
        T.SOURCE_NAME: name,
        T.SOURCE_TYPE: kind,
        T.USER: login,
        T.HOST: socket.gethostname(),
        T.PYTHON_VERSION: platform.python_version(),
    }
    git_tags, diff = git_state(folder if folder.exists() else Path(os.getcwd()))
    found.update(git_tags)
    return found, diff
