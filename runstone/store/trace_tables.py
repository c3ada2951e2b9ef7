"""Trace tables: one row per trace, its tags and request metadata as key/value rows (searchable),
and its spans as zlib-compressed JSON chunks (one per upload), read back whole.

Imported at the end of tables.py so that ``Base.metadata`` always holds them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from runstone.store.tables import Base


class TraceRow(Base):
    """One trace: where it was logged, when, how long it took, and how it ended."""

    __tablename__ = "traces"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trace_id: Mapped[str] = mapped_column(String(64), unique=True)  # "tr-<32 hex>", MLflow's form
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    request_time: Mapped[int] = mapped_column(BigInteger)  # ms since the epoch
    execution_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # ms
    state: Mapped[str] = mapped_column(String(20))  # OK, ERROR, IN_PROGRESS, STATE_UNSPECIFIED
    run_uuid: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    logged_model: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    client_request_id: Mapped[str | None] = mapped_column(String(250), nullable=True)
    request_preview: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_preview: Mapped[str | None] = mapped_column(Text, nullable=True)
    span_count: Mapped[int] = mapped_column(Integer, default=0)
    span_bytes: Mapped[int] = mapped_column(BigInteger, default=0)  # compressed, as stored

    __table_args__ = (Index("ix_traces_experiment_time", "experiment_id", "request_time"),)


class TraceTagRow(Base):
    __tablename__ = "trace_tags"
    trace_pk: Mapped[int] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class TraceMetadataRow(Base):
    __tablename__ = "trace_metadata"
    trace_pk: Mapped[int] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class TraceSpanChunkRow(Base):
    """Spans of one trace received in one upload: a zlib-compressed JSON list."""

    __tablename__ = "trace_span_chunks"
    trace_pk: Mapped[int] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    span_count: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
