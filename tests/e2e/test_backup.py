"""``runstone db backup`` while a server takes writes, and ``runstone db restore`` of it elsewhere."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import Server, Servers, run_cli
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.e2e

HEADERS = {"X-Runstone-User": "operator"}
BATCH = 100


class Writer:
    """Logs batches of BATCH points (and now and then an artifact) until stopped; counts the
    acknowledged ones."""

    def __init__(self, server: Server) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=60.0, headers=HEADERS)
        self.run_id = self.http.post("/api/v1/runs", json={}).json()["run"]["info"]["run_id"]
        r = self.http.post(f"/api/v1/runs/{self.run_id}/batch", json={"params": [{"key": "lr", "value": "0.1"}]})
        assert r.status_code == 200, r.text
        self.acked = 0
        self.files: dict[str, bytes] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._write)

    def _write(self) -> None:
        while not self.stop.is_set():
            step0 = self.acked * BATCH
            points = [{"key": "loss", "value": 1.0, "timestamp": 1, "step": step0 + i} for i in range(BATCH)]
            r = self.http.post(f"/api/v1/runs/{self.run_id}/batch", json={"metrics": points})
            assert r.status_code == 200, r.text
            self.acked += 1
            if self.acked % 10 == 0:
                data = os.urandom(20_000)
                name = f"ckpt-{self.acked}.bin"
                assert self.http.put(f"/api/v1/runs/{self.run_id}/artifacts/{name}", content=data).status_code == 200
                self.files[name] = data

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)
        self.http.close()


def _round_trip(
    servers: Servers, tmp_path: Path, source_args: list[str], restore_args: list[str], env: dict[str, str]
) -> None:
    artifacts = tmp_path / "artifacts"
    server = servers.start(*source_args, "--artifacts-destination", str(artifacts))
    backup_file = tmp_path / "backup.tar"
    with Writer(server) as writer:
        while writer.acked < 30:  # a populated store: points, params, artifacts
            threading.Event().wait(0.05)
        before = writer.acked
        files_before = dict(writer.files)
        made = run_cli("db", "backup", str(backup_file), *source_args[:2], env=env)
        after = writer.acked
    assert made.returncode == 0, made.stderr
    assert "Backed up" in made.stdout
    assert after > before, "the writer kept writing during the backup"

    restored = run_cli("db", "restore", str(backup_file), *restore_args, "--artifacts-destination", str(artifacts))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "recorded files present" in restored.stdout

    copy = servers.start(*restore_args, "--artifacts-destination", str(artifacts))
    with httpx.Client(base_url=copy.url, timeout=60.0, headers=HEADERS) as http:
        run = http.get(f"/api/v1/runs/{writer.run_id}").json()["run"]
        assert run["data"]["params"] == {"lr": "0.1"}
        steps = http.get(f"/api/v1/runs/{writer.run_id}/metric-history", params={"key": "loss"}).json()["steps"]
        # One consistent state: whole batches, every one acknowledged before the backup began,
        # none that was never acknowledged.
        assert len(steps) % BATCH == 0
        assert before * BATCH <= len(steps) <= after * BATCH
        assert steps == list(range(len(steps)))
        listed = {f["path"]: f for f in http.get(f"/api/v1/runs/{writer.run_id}/artifacts").json()["files"]}
        for name, data in files_before.items():
            assert listed[name]["sha256"] == hashlib.sha256(data).hexdigest()
            assert http.get(f"/api/v1/runs/{writer.run_id}/artifacts/{name}").content == data


def test_backup_during_writes_restores_a_consistent_sqlite_store(servers: Servers, tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source' / 'runstone.db'}"
    target = f"sqlite:///{tmp_path / 'target' / 'runstone.db'}"
    _round_trip(servers, tmp_path, ["--backend-store-uri", source], ["--backend-store-uri", target], {})


@pytest.fixture
def other_pg_database(pg_server_url: str) -> Iterator[str]:
    name = f"runstone_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_backup_during_writes_restores_a_consistent_postgres_store(
    servers: Servers, tmp_path: Path, pg_schema_url: str, other_pg_database: str
) -> None:
    # The source lives in one schema (search_path); the dump holds that schema, restored into
    # another database under the same name.
    options = pg_schema_url.split("?", 1)[1]
    target = f"{other_pg_database}?{options}"
    _round_trip(servers, tmp_path, ["--backend-store-uri", pg_schema_url], ["--backend-store-uri", target], {})


def test_restore_refuses_to_overwrite_a_store_with_runs_unless_forced(servers: Servers, tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = servers.start(home=home)
    with httpx.Client(base_url=server.url, timeout=60.0, headers=HEADERS) as http:
        assert http.post("/api/v1/runs", json={}).status_code == 201
    uri = f"sqlite:///{home / 'runstone.db'}"
    assert run_cli("db", "backup", str(tmp_path / "b.tar"), "--backend-store-uri", uri).returncode == 0
    refused = run_cli("db", "restore", str(tmp_path / "b.tar"), "--backend-store-uri", uri)
    assert refused.returncode != 0
    assert "--force" in refused.stderr
    again = run_cli("db", "backup", str(tmp_path / "b.tar"), "--backend-store-uri", uri)
    assert again.returncode != 0 and "already exists" in again.stderr
    not_a_backup = tmp_path / "junk.tar"
    not_a_backup.write_bytes(b"junk")
    bad = run_cli("db", "restore", str(not_a_backup), "--backend-store-uri", uri, "--force")
    assert bad.returncode != 0 and "is not a runstone backup" in bad.stderr
    assert "Traceback" not in bad.stderr
