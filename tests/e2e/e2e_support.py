"""Helpers of the end-to-end tests: real ``runstone`` processes on free loopback ports.

Each server gets its own home folder and log file, is polled on /health until it answers (with
a deadline), and is stopped with its whole process group (uvicorn workers included).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from runstone.sdk.client import RunstoneClient

START_DEADLINE = 30.0  # generous: a loaded CI machine; the start-time test asserts its own bound


def runstone_command() -> list[str]:
    """The ``runstone`` console script of the environment running the tests."""
    script = Path(sys.executable).parent / "runstone"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from runstone.cli.main import main; main()"]


@contextmanager
def remote(url: str) -> Iterator[RunstoneClient]:
    """A RunstoneClient of a server, on an HTTP connection pool that is closed afterwards."""
    with httpx.Client(base_url=url, timeout=30.0) as http:
        yield RunstoneClient(url, http_client=http)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: no runstone settings but the home and ``extra``."""
    keep = {"RUNSTONE_HOME", "RUNSTONE_TEST_DATABASE_URL"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTONE_") or k in keep}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``runstone`` command in a subprocess."""
    return subprocess.run(
        [*runstone_command(), *args], capture_output=True, text=True, env=child_env(env), timeout=timeout, check=False
    )


def run_python(
    script: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env=child_env(env),
        timeout=timeout,
        check=False,
    )


def wait_flushed(home: Path, timeout: float = 60) -> None:
    """Wait until the server on the embedded database at ``home`` has flushed every small file.

    Until then it keeps a small file's bytes in its database and writes them again over whatever
    else it finds on disk (a file torn by a power cut): a test that alters stored files, as an
    intruder would, waits for this first, or the server may undo the alteration."""
    import sqlite3
    from contextlib import closing

    deadline = time.monotonic() + timeout
    with closing(sqlite3.connect(home / "runstone.db")) as db:
        while db.execute("SELECT count(*) FROM artifact_pending").fetchone()[0]:
            assert time.monotonic() < deadline, f"the server did not flush its small files within {timeout} s"
            time.sleep(0.1)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it."""

    def signal_group(sig: int) -> None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass

    def group_alive() -> bool:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    signal_group(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 5
    while group_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    signal_group(signal.SIGKILL)
    process.wait(timeout=10)


@dataclass
class Server:
    url: str
    port: int
    home: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    seconds_to_ready: float = 0.0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def env(self) -> dict[str, str]:
        """Environment of a client process that logs to this server."""
        return {"RUNSTONE_TRACKING_URI": self.url}

    def stop(self) -> None:
        stop_group(self.process)


@dataclass
class Servers:
    """Starts ``runstone server`` processes and cleans up after them."""

    root: Path
    started: list[Server] = field(default_factory=list)

    def launch(
        self,
        *args: str,
        home: Path | None = None,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        wrapper: Sequence[str] = (),
    ) -> Server:
        """Start a server process without waiting for it (under ``wrapper``, e.g. prlimit, if given)."""
        index = len(self.started)
        home = home or self.root / f"server{index}-home"
        port = port or free_port()
        log_path = self.root / f"server{index}-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [
                    *wrapper,
                    *runstone_command(),
                    "server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--home",
                    str(home),
                    *args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env(env),
                start_new_session=True,  # its own process group, so teardown reaches the workers
            )
        server = Server(f"http://127.0.0.1:{port}", port, home, log_path, process)
        self.started.append(server)
        return server

    def wait_ready(self, server: Server, started_at: float, deadline: float = START_DEADLINE) -> None:
        with httpx.Client(timeout=2.0) as http:
            while True:
                if server.process.poll() is not None:
                    raise ServerExited(server)
                try:
                    if http.get(f"{server.url}/health").status_code == 200:
                        server.seconds_to_ready = time.monotonic() - started_at
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() - started_at > deadline:
                    pytest.fail(f"{server.url} did not answer /health within {deadline:.0f}s:\n{server.log()[-5000:]}")
                time.sleep(0.01)

    def start(
        self,
        *args: str,
        home: Path | None = None,
        env: Mapping[str, str] | None = None,
        wrapper: Sequence[str] = (),
        port: int | None = None,
    ) -> Server:
        """Start a server and return once it answers /health."""
        for _ in range(3):
            started_at = time.monotonic()
            server = self.launch(*args, home=home, env=env, wrapper=wrapper, port=port)
            try:
                self.wait_ready(server, started_at)
                return server
            except ServerExited:
                # Another process may have taken the free port between our probe and the bind.
                if "address already in use" not in server.log().lower():
                    pytest.fail(f"runstone server exited with {server.process.returncode}:\n{server.log()[-5000:]}")
        pytest.fail("could not find a free port for runstone server")

    def start_many(self, count: int, *args: str) -> list[Server]:
        """Start servers at the same moment (replicas coming up together) and wait for all."""
        started_at = time.monotonic()
        servers = [self.launch(*args) for _ in range(count)]
        for server in servers:
            try:
                self.wait_ready(server, started_at)
            except ServerExited:
                pytest.fail(f"runstone server exited with {server.process.returncode}:\n{server.log()[-5000:]}")
        return servers

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


class ServerExited(Exception):
    def __init__(self, server: Server) -> None:
        super().__init__(server.url)
        self.server = server
