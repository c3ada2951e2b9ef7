"""A server whose database or disk fails tells the truth: liveness, readiness and clear errors.

Faults are real: a PostgreSQL database switched to read-only, an artifact folder remounted
read-only (chmod when the tests do not run as root), a full tmpfs (a file size limit set with
prlimit where nothing can be mounted), and a partial upload left by a killed writer.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from e2e_support import Server, Servers, run_cli
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.e2e

HEADERS = {"X-Runstone-User": "operator"}


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` cannot be written until the block ends: a read-only bind mount (as root, who
    ignores permissions), else permissions."""
    if os.geteuid() == 0 and _mount("--bind", str(folder), str(folder)):
        try:
            assert _mount("-o", "remount,bind,ro", str(folder), str(folder)), "could not remount read-only"
            yield
        finally:
            subprocess.run(["umount", str(folder)], check=True)
        return
    folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
    for f in folders:
        f.chmod(0o555)
    try:
        yield
    finally:
        for f in folders:
            f.chmod(0o755)


@contextmanager
def small_disk(folder: Path, size_mb: int) -> Iterator[list[str]]:
    """A folder on a full-able disk: a tmpfs of ``size_mb`` where it can be mounted (the wrapper
    is empty), else an ordinary folder and a ``prlimit`` wrapper capping the size of any file the
    server writes (the kernel then refuses writes beyond it, as a full disk does)."""
    folder.mkdir(parents=True, exist_ok=True)
    if _mount("-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)):
        try:
            yield []
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=True)
        return
    yield ["prlimit", f"--fsize={size_mb * 1024 * 1024}"]


def client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60.0, headers=HEADERS)


def new_run(http: httpx.Client) -> str:
    created = http.post("/api/v1/runs", json={})
    assert created.status_code == 201, created.text
    return str(created.json()["run"]["info"]["run_id"])


def assert_no_path(response: httpx.Response, *folders: Path) -> None:
    for folder in folders:
        assert str(folder) not in response.text
    assert "/tmp" not in response.text


@pytest.fixture
def own_pg_database(pg_server_url: str) -> Iterator[str]:
    name = f"runstone_ro_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _set_read_only(pg_server_url: str, database: str, on: bool) -> None:
    """Switch the database's default to read-only and drop its sessions, so new ones obey."""
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{database}" SET default_transaction_read_only = {"on" if on else "off"}'))
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"))
    admin.dispose()


def test_readiness_fails_while_the_database_refuses_writes_and_liveness_stays(
    servers: Servers, own_pg_database: str, pg_server_url: str, tmp_path: Path
) -> None:
    url = make_url(pg_server_url).set(database=own_pg_database).render_as_string(hide_password=False)
    server = servers.start("--backend-store-uri", url, "--artifacts-destination", str(tmp_path / "artifacts"))
    with client(server) as http:
        assert http.get("/health/ready").json()["status"] == "ready"
        _set_read_only(pg_server_url, own_pg_database, True)
        try:
            assert http.get("/health").status_code == 200  # alive: do not restart it
            ready = http.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["error"]["details"]["checks"]["artifacts"] == "ok"
            assert "read-only" in ready.json()["error"]["details"]["checks"]["database"]
            refused = http.post("/api/v1/experiments", json={"name": "during"})
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "unavailable"
            assert http.get("/api/v1/experiments").status_code == 200  # reads go on
        finally:
            _set_read_only(pg_server_url, own_pg_database, False)
        assert http.get("/health/ready").status_code == 200
        assert http.post("/api/v1/experiments", json={"name": "after"}).status_code == 201


def test_a_read_only_artifact_folder_answers_503_with_the_cause_and_the_server_stays_up(
    servers: Servers, tmp_path: Path
) -> None:
    artifacts = tmp_path / "artifacts"
    server = servers.start("--artifacts-destination", str(artifacts))
    with client(server) as http:
        run_id = new_run(http)
        assert http.put(f"/api/v1/runs/{run_id}/artifacts/before.txt", content=b"ok").status_code == 200
        with read_only(artifacts):
            refused = http.put(f"/api/v1/runs/{run_id}/artifacts/model.bin", content=os.urandom(200_000))
            assert refused.status_code == 503, refused.text
            error = refused.json()["error"]
            assert error["code"] == "unavailable"
            assert "cannot be written" in error["message"]
            assert error["details"]["reason"] in {"EROFS", "EACCES"}
            assert_no_path(refused, artifacts, server.home)
            assert http.get("/health").status_code == 200
            ready = http.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["error"]["details"]["checks"]["database"] == "ok"
            # Reads go on, and nothing half-written became visible.
            assert http.get(f"/api/v1/runs/{run_id}/artifacts/before.txt").content == b"ok"
            assert [f["path"] for f in http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"]] == ["before.txt"]
        assert http.get("/health/ready").status_code == 200
        assert http.put(f"/api/v1/runs/{run_id}/artifacts/model.bin", content=b"m").status_code == 200
    assert server.process.poll() is None


def test_a_full_disk_answers_507_and_a_too_large_artifact_413_and_the_server_stays_up(
    servers: Servers, tmp_path: Path
) -> None:
    artifacts = tmp_path / "small-disk"
    with small_disk(artifacts, 8) as wrapper:
        server = servers.start(
            "--artifacts-destination", str(artifacts), env={"RUNSTONE_MAX_ARTIFACT_BYTES": str(30 * 1024 * 1024)},
            wrapper=wrapper,
        )  # fmt: skip
        with client(server) as http:
            run_id = new_run(http)
            full = http.put(f"/api/v1/runs/{run_id}/artifacts/big.bin", content=os.urandom(12 * 1024 * 1024))
            assert full.status_code == 507, full.text
            error = full.json()["error"]
            assert error["code"] == "insufficient_storage"
            assert error["details"]["reason"] in {"ENOSPC", "EFBIG"}
            assert_no_path(full, artifacts, server.home)
            # Over the configured limit: 413 before anything is stored.
            over = http.put(f"/api/v1/runs/{run_id}/artifacts/huge.bin", content=b"x" * (31 * 1024 * 1024))
            assert over.status_code == 413, over.text
            assert over.json()["error"]["code"] == "payload_too_large"
            # The partial file was removed: what fits still goes in, and the server is up.
            small = http.put(f"/api/v1/runs/{run_id}/artifacts/small.bin", content=os.urandom(1024 * 1024))
            assert small.status_code == 200, small.text
            assert http.get("/health").status_code == 200
            assert [f["path"] for f in http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"]] == ["small.bin"]
        server.stop()


def test_an_unwritable_artifact_destination_at_start_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    result = run_cli("server", "--home", str(tmp_path / "home"), "--artifacts-destination", str(blocker / "artifacts"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: The artifact destination")
    assert "Not a directory" in lines[0]


def test_partial_uploads_left_by_a_crash_are_swept_at_start_but_not_those_in_flight(
    servers: Servers, tmp_path: Path
) -> None:
    artifacts = tmp_path / "artifacts"
    spool = artifacts / ".tmp"
    spool.mkdir(parents=True)
    crashed = spool / uuid.uuid4().hex
    crashed.write_bytes(os.urandom(5 * 1024 * 1024))  # new: the old 24-hour rule kept it
    in_flight = spool / uuid.uuid4().hex
    with open(in_flight, "wb") as writer:
        # Another replica (here: this process) is writing this one and holds its lock.
        fcntl.flock(writer.fileno(), fcntl.LOCK_EX)
        writer.write(b"partial")
        writer.flush()
        servers.start("--artifacts-destination", str(artifacts))
        assert not crashed.exists()
        assert in_flight.exists()
