"""Online backups of the metadata database, with the manifest of the artifacts it refers to.

A backup is one tar file:

- ``backup.json``: what it holds (dialect, schema revision, time, row counts);
- ``metadata.sqlite`` (SQLite's online backup API: a consistent copy taken while writers go on)
  or ``metadata.pgdump`` (``pg_dump --format=custom``, one consistent snapshot);
- ``artifacts.jsonl``: every artifact file the copied database records (run, path, size,
  SHA-256), read from the copy itself, so it matches the metadata exactly.

Artifact files are not copied: they stay in the artifact store (which is where S3 versioning or
a file-system snapshot protects them); ``restore`` checks that every recorded file is there.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from runstone.errors import InvalidInput, InvalidState, Unavailable
from runstone.store.engine import Database
from runstone.store.tables import ArtifactRow, RunRow

FORMAT = 1
_PARTS = {"sqlite": "metadata.sqlite", "postgresql": "metadata.pgdump"}


@dataclass
class BackupInfo:
    dialect: str
    revision: str | None
    created: int
    runs: int
    artifacts: int
    format: int = FORMAT


@dataclass
class ArtifactCheck:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    wrong_size: list[str] = field(default_factory=list)


def backup(db: Database, target: Path) -> BackupInfo:
    """Write a consistent backup of ``db`` to ``target`` (a new file), while writes continue."""
    if target.exists():
        raise InvalidInput(f"{target} already exists; choose a new file for the backup.")
    if db.dialect not in _PARTS:
        raise InvalidInput(f"Backups of {db.dialect} databases are not supported.")
    with tempfile.TemporaryDirectory(prefix="runstone-backup-") as work:
        folder = Path(work)
        manifest = folder / "artifacts.jsonl"
        if db.dialect == "sqlite":
            copy = folder / _PARTS["sqlite"]
            _sqlite_copy(_sqlite_path(db.url), copy)
            snapshot = Database(f"sqlite:///{copy}")
            try:
                with snapshot.engine.connect() as conn:
                    info = _describe(conn, "sqlite", manifest)
            finally:
                snapshot.dispose()
        else:
            # One snapshot for the dump and the manifest: pg_dump joins the snapshot this
            # repeatable-read transaction exported, and the manifest is read inside it.
            with db.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
                snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                _pg_dump(db.url, folder / _PARTS["postgresql"], snapshot_id)
                info = _describe(conn, "postgresql", manifest)
        (folder / "backup.json").write_text(json.dumps(info.__dict__, indent=2))
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w") as tar:
            for name in ("backup.json", _PARTS[info.dialect], "artifacts.jsonl"):
                tar.add(folder / name, arcname=name)
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(partial, target)
    return info


def read_info(source: Path) -> BackupInfo:
    with _opened(source) as (_folder, info):
        return info


def restore(source: Path, db: Database, *, force: bool = False) -> BackupInfo:
    """Replace the database ``db`` with the backup ``source``. Stop the servers first."""
    with _opened(source) as (folder, info):
        if info.dialect != db.dialect:
            raise InvalidInput(f"This backup is of a {info.dialect} database; it cannot be restored into {db.dialect}.")
        if not force and _has_runs(db):
            raise InvalidState(
                "The target database already holds runs; restoring replaces everything in it. "
                "Pass --force if that is what you want."
            )
        if db.dialect == "sqlite":
            path = _sqlite_path(db.url)
            db.dispose()
            _sqlite_copy(folder / _PARTS["sqlite"], path)
        else:
            db.dispose()
            _pg_restore(db.url, folder / _PARTS["postgresql"])
        return info


def check_artifacts(source: Path, store_root: Path | None) -> ArtifactCheck:
    """Compare the backup's artifact manifest with a local artifact folder (sizes; None: skip)."""
    report = ArtifactCheck()
    if store_root is None:
        return report
    with _opened(source) as (folder, _info):
        for line in (folder / "artifacts.jsonl").read_text().splitlines():
            entry = json.loads(line)
            report.checked += 1
            path = store_root / entry["key"]
            if not path.is_file():
                report.missing.append(entry["key"])
            elif path.stat().st_size != entry["size"]:
                report.wrong_size.append(entry["key"])
    return report


# ----------------------------------------------------------------------------- parts
def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise InvalidInput("The SQLite URL names no file.")
    return Path(database).expanduser()


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: pages are copied while other connections keep writing, and the
    copy is one consistent state (the API restarts when a writer changes copied pages)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source, timeout=60)
    dst = sqlite3.connect(target, timeout=60)
    try:
        with dst:
            src.backup(dst, pages=1024)
    finally:
        dst.close()
        src.close()


def _libpq(url: str) -> tuple[str, list[str]]:
    """A libpq connection URI for pg_dump/pg_restore, and the schemas a search_path option names."""
    parsed = make_url(url)
    raw = parsed.query.get("options")
    options = raw if isinstance(raw, str) else ""
    schemas = [s for s in options.removeprefix("-csearch_path=").split(",") if s] if "search_path" in options else []
    plain = URL.create("postgresql", parsed.username, parsed.password, parsed.host, parsed.port, parsed.database)
    return plain.render_as_string(hide_password=False), schemas


def _run(command: list[str], what: str) -> None:
    if shutil.which(command[0]) is None:
        raise Unavailable(f"{command[0]} is not installed; it is needed to {what} a PostgreSQL database.")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise Unavailable(f"{command[0]} failed: {result.stderr.strip()[-500:]}")


def _pg_dump(url: str, target: Path, snapshot: str) -> None:
    uri, schemas = _libpq(url)
    only = [f"--schema={s}" for s in schemas]
    _run(
        ["pg_dump", "--format=custom", "--no-owner", f"--snapshot={snapshot}", *only, "--file", str(target), uri],
        "back up",
    )


def _pg_restore(url: str, source: Path) -> None:
    uri, _schemas = _libpq(url)
    command = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", "--dbname", uri]
    _run([*command, str(source)], "restore")


def _describe(conn: Connection, dialect: str, manifest: Path) -> BackupInfo:
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    runs = conn.execute(select(func.count()).select_from(RunRow)).scalar() or 0
    count = 0
    stmt = select(RunRow.uuid, RunRow.artifact_key, ArtifactRow.path, ArtifactRow.size, ArtifactRow.sha256).join(
        RunRow, RunRow.id == ArtifactRow.run_id
    )
    with open(manifest, "w") as out:
        for uuid, key, path, size, sha in conn.execute(stmt.order_by(RunRow.id, ArtifactRow.path)):
            out.write(json.dumps({"run_id": uuid, "key": f"{key}/{path}", "size": size, "sha256": sha}) + "\n")
            count += 1
    return BackupInfo(dialect, revision, int(time.time() * 1000), runs, count)


def _has_runs(db: Database) -> bool:
    try:
        with db.engine.connect() as conn:
            return bool(conn.execute(select(func.count()).select_from(RunRow)).scalar())
    except DBAPIError:  # no schema yet: nothing to lose
        return False


@contextmanager
def _opened(source: Path) -> Iterator[tuple[Path, BackupInfo]]:
    if not source.is_file():
        raise InvalidInput(f"No backup file at {source}.")
    with tempfile.TemporaryDirectory(prefix="runstone-restore-") as work:
        folder = Path(work)
        try:
            with tarfile.open(source, "r") as tar:
                tar.extractall(folder, filter="data")
            info = BackupInfo(**json.loads((folder / "backup.json").read_text()))
        except (tarfile.TarError, OSError, ValueError, TypeError, KeyError) as exc:
            raise InvalidInput(f"{source} is not a runstone backup: {exc}") from None
        if info.format != FORMAT:
            raise InvalidInput(f"{source} is a backup of format {info.format}; this runstone reads format {FORMAT}.")
        yield folder, info
