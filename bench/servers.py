"""The servers under test: start one on a free loopback port, measure it, stop it.

Each server runs in its own process group (its own session), so stopping it by the id of the
process we started also stops the worker processes it forked, and nothing else.
"""

from __future__ import annotations

import compileall
import functools
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

HOST = "127.0.0.1"


class BenchError(Exception):
    """A server failed to start or answered a request with an error."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environment(*prefixes: str, **extra: str) -> dict[str, str]:
    """This process's environment without variables that would configure the server under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


@functools.cache
def compile_runstone() -> None:
    """Compile runstone's modules to bytecode once, before any server starts.

    pip compiles the modules of a package it installs, which is how MLflow is installed here and
    how a user installs runstone; a checkout installed in editable mode is compiled on first
    import instead, and not at all when PYTHONDONTWRITEBYTECODE is set, so every start would
    compile the server's source again (about 0.2 s of a 1 s start)."""
    import runstone

    compileall.compile_dir(Path(runstone.__file__).parent, quiet=1)


class Server:
    """A server subprocess and how long it took to answer its first /health."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.name = name
        self.process = process
        self.url = f"http://{HOST}:{port}"
        self.log_path = log_path
        self.startup_seconds = float("nan")

    @classmethod
    def start(
        cls, name: str, argv: list[str], *, port: int, log_path: Path, env: dict[str, str], timeout: float = 300
    ) -> Server:
        compile_runstone()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            started = time.perf_counter()
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        server = cls(name, process, port, log_path)
        try:
            server._wait_healthy(started, timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_healthy(self, started: float, timeout: float) -> None:
        with httpx.Client(timeout=5) as client:
            while True:
                if self.process.poll() is not None:
                    raise BenchError(f"{self.name} exited with status {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        self.startup_seconds = time.perf_counter() - started
                        return
                except httpx.TransportError:
                    pass
                if time.perf_counter() - started > timeout:
                    raise BenchError(f"{self.name} did not answer /health within {timeout:.0f} s:\n{self.log_tail()}")
                time.sleep(0.005)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def pids(self) -> list[int]:
        """The server process and all its descendants."""
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            # Fields after the command name, which is in parentheses and may contain spaces.
            parent = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
        found: list[int] = []
        todo = [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def rss_bytes(self) -> int:
        """Resident memory of the server and its child processes, summed."""
        total = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        group = self.process.pid  # start_new_session made the server the leader of its own group
        try:
            os.killpg(group, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(timeout=20)
        except ProcessLookupError:
            pass
        # Workers may outlive their parent by a moment; leave none behind.
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
