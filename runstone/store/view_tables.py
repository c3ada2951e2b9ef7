"""Saved views of an experiment's page: a name and the page's state (the runs table's query and
the workspace's settings) as JSON.

Imported at the end of tables.py so that ``Base.metadata`` always holds them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from runstone.store.tables import Base


class SavedViewRow(Base):
    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("experiment_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(Text)  # JSON object
    created_by: Mapped[str] = mapped_column(String(256))
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)
