"""The artifact manifest: every stored artifact file of a run with its size and SHA-256."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from runstone.entities import FileInfo
from runstone.store import raw
from runstone.store.engine import rowcount
from runstone.store.tables import ArtifactPendingRow, ArtifactRow, RunRow

_pending = ArtifactPendingRow.__table__


_RECORD = """
    INSERT INTO artifacts (run_id, path, size, sha256, updated_time) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (run_id, path) DO UPDATE SET
        size = excluded.size, sha256 = excluded.sha256, updated_time = excluded.updated_time
"""
_KEEP = """
    INSERT INTO artifact_pending (run_id, path, sha256, data) VALUES (?, ?, ?, ?)
    ON CONFLICT (run_id, path) DO UPDATE SET sha256 = excluded.sha256, data = excluded.data
"""


def record(
    session: Session, run_id: int, path: str, size: int, sha256: str, now: int, *, pending: bytes | None = None
) -> None:
    """Record a stored file. ``pending`` is the file's bytes when the file itself is not yet
    known to be on disk: they are kept in this commit until it is (see ``pending_files``)."""
    raw.execute(session, _RECORD, (run_id, path, size, sha256, now))
    if pending is not None:
        raw.execute(session, _KEEP, (run_id, path, sha256, pending))
    else:
        raw.execute(session, "DELETE FROM artifact_pending WHERE run_id = ? AND path = ?", (run_id, path))


def pending_files(session: Session, limit: int) -> list[tuple[int, str, str, str, bytes]]:
    """Files whose bytes are still kept in the database: (run id, path, artifact key of the run,
    SHA-256, bytes), for those whose manifest row still records these bytes."""
    stmt = (
        select(_pending.c.run_id, _pending.c.path, RunRow.artifact_key, _pending.c.sha256, _pending.c.data)
        .join(RunRow, RunRow.id == _pending.c.run_id)
        .order_by(_pending.c.run_id, _pending.c.path)
        .limit(limit)
    )
    return [(r, p, k, h, bytes(d)) for r, p, k, h, d in session.execute(stmt)]


def settle(session: Session, files: list[tuple[int, str, str]]) -> None:
    """Forget the kept bytes of (run id, path, SHA-256) files now on disk; a file rewritten since
    (another SHA-256) keeps its newer bytes."""
    raw.execute_many(session, "DELETE FROM artifact_pending WHERE run_id = ? AND path = ? AND sha256 = ?", files)


def has_pending(session: Session) -> bool:
    return session.execute(select(_pending.c.run_id).limit(1)).first() is not None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def files_under(session: Session, run_id: int, prefix: str) -> list[FileInfo]:
    """Every file at or below ``prefix`` ('' = the whole run), as recorded."""
    stmt = select(ArtifactRow.path, ArtifactRow.size, ArtifactRow.sha256).where(ArtifactRow.run_id == run_id)
    if prefix:
        stmt = stmt.where(
            or_(ArtifactRow.path == prefix, ArtifactRow.path.like(_escape_like(prefix) + "/%", escape="\\"))
        )
    return [FileInfo(p, False, size, sha) for p, size, sha in session.execute(stmt.order_by(ArtifactRow.path))]


def files_under_runs(session: Session, run_ids: list[int], prefix: str) -> dict[int, list[FileInfo]]:
    """:func:`files_under` for many runs in one query (a run without any file has an empty list)."""
    out: dict[int, list[FileInfo]] = {r: [] for r in run_ids}
    if not run_ids:
        return out
    stmt = select(ArtifactRow.run_id, ArtifactRow.path, ArtifactRow.size, ArtifactRow.sha256).where(
        ArtifactRow.run_id.in_(run_ids)
    )
    if prefix:
        stmt = stmt.where(
            or_(ArtifactRow.path == prefix, ArtifactRow.path.like(_escape_like(prefix) + "/%", escape="\\"))
        )
    for run, path, size, sha in session.execute(stmt.order_by(ArtifactRow.run_id, ArtifactRow.path)):
        out[run].append(FileInfo(path, False, size, sha))
    return out


@dataclass(frozen=True)
class Placement:
    """What the manifest holds around a path a file is about to be stored at."""

    below: bool  # some recorded file lies below the path: it is a folder
    clash: str | None  # the first of the path's parent folders that is a recorded file
    replaced: int | None  # the size of the file recorded at the path, if any
    total: int  # the bytes of all the run's recorded files


def placement(session: Session, run_id: int, path: str, parents: list[str]) -> Placement:
    """Whether ``path`` is a folder (some file lies below it), which of its ``parents`` is a
    file, the size of the file at it and the run's total, in one statement: every upload asks."""
    marks = ", ".join("?" * len(parents))
    clash = f"(SELECT MIN(path) FROM artifacts WHERE run_id = ? AND path IN ({marks}))" if parents else "NULL"
    params: list[object] = [run_id]
    if raw.dialect_name(session) == "sqlite":
        # The paths below ``path`` are those from "path/" up to "path0" ('0' follows '/') in
        # SQLite's byte order. A LIKE with a bound pattern would do, but SQLite prepares such a
        # statement again for every new pattern (case-sensitive LIKE can use the index only once
        # it knows the pattern's fixed start): 20 µs or more per upload instead of 4.
        below = "path >= ? AND path < ?"
        params += [path + "/", path + "0"]
    else:
        below = "path LIKE ? ESCAPE '\\'"  # PostgreSQL's collation may not order by bytes
        params.append(_escape_like(path) + "/%")
    sql = (
        f"SELECT (SELECT 1 FROM artifacts WHERE run_id = ? AND {below} LIMIT 1), "
        f"{clash}, "
        "(SELECT size FROM artifacts WHERE run_id = ? AND path = ?), "
        "(SELECT bytes FROM artifact_totals WHERE run_id = ?)"
    )
    if parents:
        params += [run_id, *parents]
    params += [run_id, path, run_id]
    row = raw.first(session, sql, params)
    assert row is not None
    below, clashed, replaced, total = row
    return Placement(below is not None, clashed, None if replaced is None else int(replaced), int(total or 0))


def get(session: Session, run_id: int, path: str) -> FileInfo | None:
    row = raw.first(session, "SELECT size, sha256 FROM artifacts WHERE run_id = ? AND path = ?", (run_id, path))
    return None if row is None else FileInfo(path, False, row[0], row[1])


def delete_under(session: Session, run_id: int, prefix: str) -> int:
    stmt = delete(ArtifactRow).where(ArtifactRow.run_id == run_id)
    if prefix:
        stmt = stmt.where(
            or_(ArtifactRow.path == prefix, ArtifactRow.path.like(_escape_like(prefix) + "/%", escape="\\"))
        )
    return int(rowcount(session.execute(stmt)) or 0)
