"""Scoring servers as subprocesses (``runstone models serve``), on free loopback ports, stopped
with their whole process group."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from e2e_support import child_env, free_port, runstone_command, stop_group


@dataclass
class ScoringServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        stop_group(self.process)


def start_scoring(
    argv: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None, deadline: float = 120.0
) -> ScoringServer:
    """Start a scoring server command (``{port}`` in argv is replaced by a free port) and wait
    until it answers /ping. Another process may take the free port between the probe and the
    server's bind: the server is then started again on another one."""
    for _ in range(3):
        server = _launch(argv, log_path, env)
        if _answers(server, deadline):
            return server
        if "address already in use" not in server.log().lower():
            pytest.fail(f"the scoring server exited with {server.process.returncode}:\n{server.log()[-5000:]}")
    pytest.fail("could not find a free port for the scoring server")


def _launch(argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None) -> ScoringServer:
    port = free_port()
    command = [a.replace("{port}", str(port)) for a in argv]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(env),
            start_new_session=True,
        )  # fmt: skip
    return ScoringServer(f"http://127.0.0.1:{port}", process, log_path)


def _answers(server: ScoringServer, deadline: float) -> bool:
    """True once the server answers /ping; False when it exited first."""
    started = time.monotonic()
    with httpx.Client(timeout=2.0) as http:
        while True:
            if server.process.poll() is not None:
                return False
            try:
                if http.get(f"{server.url}/ping").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            if time.monotonic() - started > deadline:
                server.stop()
                pytest.fail(f"the scoring server did not answer /ping within {deadline:.0f}s:\n{server.log()[-5000:]}")
            time.sleep(0.05)


def serve_command(*args: str) -> list[str]:
    return [*runstone_command(), "models", "serve", "--host", "127.0.0.1", "--port", "{port}", *args]
