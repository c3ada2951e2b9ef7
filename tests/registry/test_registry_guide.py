"""docs/registry.md, followed by a new user: every block runs in order in one fresh home, each
``$ command`` shown with its output gives that output, and the registry ends up where the
guide says: an approved Production promotion, a rollback, and the champion loaded by URI.

(tests/test_docs.py runs the python and bash blocks of every guide; this test also runs the
console blocks, which show refusals, and checks what the guide promises.)
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from runstone.backend import open_backend
from runstone.config import Settings
from runstone.governance.context import Principal
from runstone.registry.approvals import GovernedRegistry
from runstone.registry.webhooks import WebhookService

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "registry.md"
BLOCK = re.compile(r"```(python|bash|console)\n(.*?)```", re.S)


def run_command(line: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(line)
    assignments = {}
    while argv and "=" in argv[0] and argv[0].split("=", 1)[0].isidentifier():
        name, value = argv.pop(0).split("=", 1)
        assignments[name] = value
    assert argv[0] == "runstone", f"the guide's shell lines are runstone commands: {line}"
    return subprocess.run(
        [sys.executable, "-m", "runstone", *argv[1:]],
        cwd=cwd,
        env={**env, **assignments},
        capture_output=True,
        text=True,
        timeout=120,
    )


def console_steps(block: str) -> list[tuple[str, list[str]]]:
    """``$ command`` lines with the output lines shown under each."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.strip().splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"console blocks start with a command: {line}"
            steps[-1][1].append(line)
    return steps


def check_shown_output(command: str, shown: list[str], done: subprocess.CompletedProcess[str]) -> None:
    output = [line.strip() for line in (done.stdout + done.stderr).splitlines()]
    refused = any(line.startswith("Error: ") for line in shown)
    assert done.returncode == (1 if refused else 0), f"{command}:\n{done.stdout}\n{done.stderr}"
    for expected in shown:
        assert expected.strip() in output, (
            f"{command} did not print {expected!r}; it printed:\n{done.stdout}\n{done.stderr}"
        )
    assert "Traceback" not in done.stderr


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "RUNSTONE_HOME": str(tmp_path / "home"), "RUNSTONE_USER": "carol"}
    for name in ("RUNSTONE_TRACKING_URI", "RUNSTONE_BACKEND_STORE_URI", "RUNSTONE_ARTIFACTS_DESTINATION"):
        env.pop(name, None)
    return env


def test_the_registry_guide_from_training_to_rollback(env, tmp_path):
    blocks = BLOCK.findall(GUIDE.read_text())
    assert [kind for kind, _ in blocks].count("console") >= 4, "the guide shows its refusals"
    for kind, code in blocks:
        if kind == "python":
            done = subprocess.run(
                [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
            )
            assert done.returncode == 0, f"python block failed:\n{code}\n{done.stderr}"
        elif kind == "bash":
            for line in code.strip().splitlines():
                done = run_command(line, env, tmp_path)
                assert done.returncode == 0, f"{line} failed:\n{done.stdout}\n{done.stderr}"
        else:
            for command, shown in console_steps(code):
                check_shown_output(command, shown, run_command(command, env, tmp_path))

    # What the guide promises, read back from the store it wrote.
    backend = open_backend(Settings(home=Path(env["RUNSTONE_HOME"])))
    try:
        check_the_registry(
            backend.registry(backend.context(Principal("dave"))), backend.webhooks(backend.context(Principal("dave")))
        )
    finally:
        backend.close()


def check_the_registry(registry: GovernedRegistry, webhooks: WebhookService) -> None:
    assert registry.get_model_version_by_alias("fraud", "champion").version == "1"
    assert [v.version for v in registry.get_latest_versions("fraud", ["Production"])] == ["1"]
    policy = registry.policy("fraud")
    assert (policy.protected_stages, policy.protected_aliases) == (["Production"], ["champion"])

    requests = {r.id: r for r in registry.search_requests("fraud")}
    assert [requests[i].status for i in sorted(requests)] == ["approved"] * 4 + ["cancelled"]
    assert {r.requested_by for r in requests.values()} == {"alice"}
    assert {a.approver for r in requests.values() for a in r.approvals} == {"bob"}
    promotion = requests[3]
    assert (promotion.kind, promotion.target, promotion.version) == ("stage", "Production", "2")
    assert promotion.evidence["current"]["version"] == "1"
    assert [g["passed"] for g in promotion.evidence["gates"]] == [True]

    production = registry.get_model_history("fraud", kind="stage", target="Production")
    assert [(a.version, a.actor, a.request_id, a.rollback) for a in production] == [
        ("1", "bob", 1, False),
        ("2", "bob", 3, False),
        ("1", "carol", None, True),
    ]
    assert production[-1].reason == "rollback from version 2: latency regression in version 2"
    champion = registry.get_model_history("fraud", kind="alias", target="champion")
    assert [(a.version, a.rollback) for a in champion] == [("1", False), ("2", False), ("1", True)]

    version = registry.get_model_version("fraud", "2")
    assert version.current_stage == "Staging" and version.aliases == ["challenger"]
    assert version.tags == {"validated": "yes"}
    model = registry.get_registered_model("fraud")
    assert model.description == "Flags **fraudulent** card payments." and model.tags == {"team": "risk"}
    assert [h.url for h in webhooks.list_webhooks()] == ["http://127.0.0.1:8080/hook"]
