"""docs/access-control.md runs: every command of its walkthrough, in order, against a real
``runstone server --auth`` it starts (as the page's first block does)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from e2e_support import Servers, run_cli

pytestmark = pytest.mark.e2e

PAGE = Path(__file__).resolve().parents[2] / "docs" / "access-control.md"
DOC_URL = "http://127.0.0.1:5000"


def test_every_command_of_the_access_control_guide_runs(servers: Servers, tmp_path: Path) -> None:
    lines = [
        line
        for block in re.findall(r"```bash\n(.*?)```", PAGE.read_text(), re.S)
        for line in block.strip().splitlines()
    ]
    assert len(lines) > 15
    env: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for written in lines:
        line = re.sub(r"\$(\w+)", lambda m: env[m.group(1)], written.replace(DOC_URL, env.get("URL", DOC_URL)))
        capture = re.fullmatch(r"export (\w+)=\$\((.*)\)", line)
        assign = re.fullmatch(r"export (\w+)=(\S+)", line)
        if assign and not capture:
            env[assign.group(1)] = assign.group(2)
            continue
        argv = shlex.split(capture.group(2) if capture else line)
        local: dict[str, str] = {}
        while "=" in argv[0] and argv[0].split("=", 1)[0].isidentifier():
            name, value = argv.pop(0).split("=", 1)
            local[name] = value
        assert argv[0] == "runstone", line
        if argv[1] == "server":
            server = servers.start(*[a for a in argv[2:] if a not in ("--port", "5000")], env=local)
            env.update(URL=server.url, RUNSTONE_HOME=str(server.home))
            continue
        done = run_cli(*argv[1:], env={**env, **local})
        assert done.returncode == 0, f"{line} failed:\n{done.stdout}\n{done.stderr}"
        outputs[written] = done.stdout
        if capture:
            env[capture.group(1)] = done.stdout.strip().splitlines()[-1]
    # What the guide promises: bob sees the one experiment, the group holds APPROVE on the model.
    bobs_list = outputs["RUNSTONE_TRACKING_TOKEN=$BOB_TOKEN runstone experiments list"]
    assert "churn" in bobs_list and "Default" not in bobs_list
    assert "APPROVE" in outputs["runstone permissions list --resource-type model --resource fraud"]
    assert "permission.grant" in outputs["runstone audit list --action permission."]
