"""Reports and their revisions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from runstone.entities import Report
from runstone.errors import InvalidInput, NotFound
from runstone.store.report_tables import ReportRevisionRow, ReportRow


def parse_id(report_id: str) -> int:
    if not report_id.isdigit() or len(report_id) > 18:
        raise InvalidInput(f"A report id is a number, not {report_id[:100]!r}.")
    return int(report_id)


def _row(session: Session, report_id: int, *, lock: bool = False) -> ReportRow:
    stmt = select(ReportRow).where(ReportRow.id == report_id)
    row = session.scalar(stmt.with_for_update() if lock else stmt)
    if row is None:
        raise NotFound(f"No report {report_id}.", {"report_id": str(report_id)})
    return row


def _entity(row: ReportRow, rev: ReportRevisionRow) -> Report:
    return Report(
        str(row.id), rev.title, rev.body, rev.revision, row.revision, row.created_by, row.creation_time,
        row.last_update_time, rev.author, rev.time,
    )  # fmt: skip


def get(session: Session, report_id: int, revision: int | None = None) -> Report:
    row = _row(session, report_id)
    wanted = row.revision if revision is None else revision
    rev = session.scalar(
        select(ReportRevisionRow).where(ReportRevisionRow.report_id == report_id, ReportRevisionRow.revision == wanted)
    )
    if rev is None:
        raise NotFound(f"Report {report_id} has no revision {wanted}.", {"report_id": str(report_id)})
    return _entity(row, rev)


def list_all(session: Session, limit: int) -> list[Report]:
    stmt = (
        select(ReportRow, ReportRevisionRow)
        .join(
            ReportRevisionRow,
            (ReportRevisionRow.report_id == ReportRow.id) & (ReportRevisionRow.revision == ReportRow.revision),
        )
        .order_by(ReportRow.last_update_time.desc(), ReportRow.id.desc())
        .limit(limit)
    )
    return [_entity(row, rev) for row, rev in session.execute(stmt)]


def revisions(session: Session, report_id: int) -> list[Report]:
    row = _row(session, report_id)
    stmt = select(ReportRevisionRow).where(ReportRevisionRow.report_id == report_id)
    return [_entity(row, rev) for rev in session.scalars(stmt.order_by(ReportRevisionRow.revision.desc()))]


def insert(session: Session, title: str, body: str, user: str, now: int) -> Report:
    row = ReportRow(title=title, created_by=user, creation_time=now, last_update_time=now, revision=1)
    session.add(row)
    session.flush()
    rev = ReportRevisionRow(report_id=row.id, revision=1, title=title, body=body, author=user, time=now)
    session.add(rev)
    session.flush()
    return _entity(row, rev)


def add_revision(session: Session, report_id: int, title: str, body: str, user: str, now: int) -> Report:
    row = _row(session, report_id, lock=True)
    row.revision += 1
    row.title = title
    row.last_update_time = now
    rev = ReportRevisionRow(report_id=row.id, revision=row.revision, title=title, body=body, author=user, time=now)
    session.add(rev)
    session.flush()
    return _entity(row, rev)
