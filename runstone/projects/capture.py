"""What a run started with the SDK (not by ``runstone run``) records so that it can be reproduced.

``runstone.projects.log_environment()`` inside a run records the exact package versions and
Python version of the interpreter, the machine, the script's arguments and working folder. With
the source file and git commit that every SDK run records, that is enough for ``runstone
reproduce``.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from runstone.tracking import tags as T


def environment_record() -> dict[str, Any]:
    from runstone.projects.runner import machine

    return {
        "python_version": platform.python_version(),
        "executable": sys.executable,
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "machine": machine(),
    }


def log_environment(run_id: str | None = None) -> None:
    """Record the environment of this process on a run (the active one by default): package
    versions, Python version, machine, the script's arguments and working folder."""
    import runstone
    from runstone.projects.environment import installed_lock, lock_hash
    from runstone.sdk import fluent

    run_id = run_id or fluent._run_id()
    record = environment_record()
    lock = installed_lock()
    host = record["machine"]
    tags = {
        T.ENV_LOCK_HASH: lock_hash(record["python_version"], lock),
        T.PROJECT_ENV_MANAGER: "local",
        T.MACHINE_CPU: str(host["cpu"]),
        T.MACHINE_CORES: str(host["cores"]),
        T.MACHINE_OS: str(host["os"]),
    }
    if host["memory_bytes"]:
        tags[T.MACHINE_MEMORY] = str(host["memory_bytes"])
    runstone.set_tags(tags, run_id=run_id)
    runstone.log_text("".join(f"{line}\n" for line in lock), T.ENV_LOCK_ARTIFACT, run_id=run_id)
    runstone.log_dict(record, T.ENV_INFO_ARTIFACT, run_id=run_id)
