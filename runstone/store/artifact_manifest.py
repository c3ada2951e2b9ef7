"""The artifact manifest: every stored artifact file of a run with its size and SHA-256."""

from __future__ import annotations

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from runstone.entities import FileInfo
from runstone.store.engine import rowcount
from runstone.store.tables import ArtifactRow
from runstone.store.upsert import upsert


def record(session: Session, run_id: int, path: str, size: int, sha256: str, now: int) -> None:
    upsert(
        session,
        ArtifactRow.__table__,
        [{"run_id": run_id, "path": path, "size": size, "sha256": sha256, "updated_time": now}],
        keys=["run_id", "path"],
        update=["size", "sha256", "updated_time"],
    )


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


def existing(session: Session, run_id: int, paths: list[str]) -> list[str]:
    """Which of ``paths`` are recorded files."""
    if not paths:
        return []
    stmt = select(ArtifactRow.path).where(ArtifactRow.run_id == run_id, ArtifactRow.path.in_(paths))
    return sorted(session.scalars(stmt))


def has_files_below(session: Session, run_id: int, prefix: str) -> bool:
    """Whether ``prefix`` is a folder: some recorded file lies below it."""
    stmt = select(ArtifactRow.path).where(
        ArtifactRow.run_id == run_id, ArtifactRow.path.like(_escape_like(prefix) + "/%", escape="\\")
    )
    return session.execute(stmt.limit(1)).first() is not None


def get(session: Session, run_id: int, path: str) -> FileInfo | None:
    row = session.execute(
        select(ArtifactRow.size, ArtifactRow.sha256).where(ArtifactRow.run_id == run_id, ArtifactRow.path == path)
    ).first()
    return None if row is None else FileInfo(path, False, row[0], row[1])


def delete_under(session: Session, run_id: int, prefix: str) -> int:
    stmt = delete(ArtifactRow).where(ArtifactRow.run_id == run_id)
    if prefix:
        stmt = stmt.where(
            or_(ArtifactRow.path == prefix, ArtifactRow.path.like(_escape_like(prefix) + "/%", escape="\\"))
        )
    return int(rowcount(session.execute(stmt)) or 0)


def total_size(session: Session, run_id: int) -> int:
    """The bytes of all the run's recorded files."""
    stmt = select(func.coalesce(func.sum(ArtifactRow.size), 0)).where(ArtifactRow.run_id == run_id)
    return int(session.scalar(stmt) or 0)
