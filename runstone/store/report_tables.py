"""Reports: a Markdown page with embedded live panels and tables, kept with every revision.

Imported at the end of tables.py so that ``Base.metadata`` always holds them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from runstone.store.tables import Base


class ReportRow(Base):
    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(256))
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)
    revision: Mapped[int] = mapped_column(Integer)  # the current one


class ReportRevisionRow(Base):
    __tablename__ = "report_revisions"
    __table_args__ = (UniqueConstraint("report_id", "revision"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(256))
    time: Mapped[int] = mapped_column(BigInteger)
