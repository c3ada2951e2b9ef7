"""Importing runstone changes nothing in the process; starting a run installs the exit hooks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
before = sys.excepthook
import runstone
print(sys.excepthook is before)
run = runstone.start_run()
print(sys.excepthook is before)
raise SystemExit(0)
"""


def test_import_leaves_the_excepthook_and_the_first_run_installs_it(tmp_path: Path):
    env = {**os.environ, "RUNSTONE_HOME": str(tmp_path / "home"), "GIT_DIR": str(tmp_path / "no-git")}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]


def test_a_script_that_crashes_leaves_its_run_failed(tmp_path: Path):
    env = {**os.environ, "RUNSTONE_HOME": str(tmp_path / "home"), "GIT_DIR": str(tmp_path / "no-git")}
    crash = "import runstone\nrun = runstone.start_run(run_name='crash')\nprint(run.info.run_id, flush=True)\n1 / 0\n"
    out = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1 and "ZeroDivisionError" in out.stderr
    from runstone.sdk.client import RunstoneClient

    with RunstoneClient(str(tmp_path / "home")) as client:
        assert client.get_run(out.stdout.split()[0]).info.status == "FAILED"
