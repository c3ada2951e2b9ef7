"""Monitoring tables: reference profiles, logged requests and their late labels, Parquet log
files, evaluated windows (one claim row each), alert rules and alerts.

Imported at the end of tables.py so that ``Base.metadata`` always holds them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from runstone.store.tables import Base

_MODEL_FK = "registered_models.id"


class MonitoringProfileRow(Base):
    """The reference profile of one model version (a few kilobytes of JSON)."""

    __tablename__ = "monitoring_profiles"
    model_id: Mapped[int] = mapped_column(ForeignKey(_MODEL_FK, ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    dataset_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str] = mapped_column(String(2000))
    profile: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(256))
    creation_time: Mapped[int] = mapped_column(BigInteger)


class MonitoringRequestRow(Base):
    """One logged scoring request: what it predicted and, once known, its true label."""

    __tablename__ = "monitoring_requests"
    model_id: Mapped[int] = mapped_column(ForeignKey(_MODEL_FK, ondelete="CASCADE"), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    time: Mapped[int] = mapped_column(BigInteger)
    prediction: Mapped[str | None] = mapped_column(Text, nullable=True)
    rows: Mapped[int] = mapped_column(Integer, server_default="1")

    __table_args__ = (
        Index("ix_monitoring_requests_window", "model_id", "version", "time"),
        Index("ix_monitoring_requests_request_id", "request_id"),
    )


class MonitoringLabelRow(Base):
    """The true label of one scored row (``row`` is its position in its request), arrived late;
    ``version`` and ``time`` are its request's, so a window finds its labels."""

    __tablename__ = "monitoring_labels"
    model_id: Mapped[int] = mapped_column(ForeignKey(_MODEL_FK, ondelete="CASCADE"), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    time: Mapped[int] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(Text)
    label_time: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_monitoring_labels_window", "model_id", "version", "time"),)


class MonitoringLogFileRow(Base):
    """A Parquet file of logged predictions under the artifact root."""

    __tablename__ = "monitoring_log_files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey(_MODEL_FK, ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(1000))
    rows: Mapped[int] = mapped_column(Integer)
    min_time: Mapped[int] = mapped_column(BigInteger)
    max_time: Mapped[int] = mapped_column(BigInteger)
    creation_time: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_monitoring_log_files_span", "model_id", "version", "min_time"),)


class MonitoringWindowRow(Base):
    """One window of one model version. The row is the claim: the process that inserts it
    computes the window and evaluates the rules on it, so replicas never do it twice."""

    __tablename__ = "monitoring_windows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey(_MODEL_FK, ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    claimed_by: Mapped[str] = mapped_column(String(256))
    lease_until: Mapped[int] = mapped_column(BigInteger)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    computed_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # When the computation that made ``result`` started, and when logs or labels last arrived
    # for the window: a done window with changed_time >= started_time is computed again.
    started_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    changed_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (UniqueConstraint("model_id", "version", "start_time", "end_time"),)


class MonitoringRuleRow(Base):
    __tablename__ = "monitoring_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey(_MODEL_FK, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))
    spec: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(256))
    creation_time: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("model_id", "name"),)


class MonitoringAlertRow(Base):
    """A rule that fired on a window, and what its action did: alert → run → version → request."""

    __tablename__ = "monitoring_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("monitoring_rules.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey(_MODEL_FK, ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    window_id: Mapped[int] = mapped_column(ForeignKey("monitoring_windows.id", ondelete="CASCADE"))
    time: Mapped[int] = mapped_column(BigInteger)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)
    # Retraining: "none" for rules without it, then pending → running → done | failed.
    action_status: Mapped[str] = mapped_column(String(20))
    lease_until: Mapped[int] = mapped_column(BigInteger, default=0)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    new_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    approval_request_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action_note: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_monitoring_alerts_model", "model_id", "time"),)


class MonitoringProfileJobRow(Base):
    """What became of a version's profile at registration: computed in the background from the
    dataset its run recorded, or why not ("no_dataset", "unreadable", "failed"). The row is also
    the claim, so one server process profiles a version."""

    __tablename__ = "monitoring_profile_jobs"
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    claimed_by: Mapped[str] = mapped_column(String(256))
    lease_until: Mapped[int] = mapped_column(BigInteger)
    updated_time: Mapped[int] = mapped_column(BigInteger)
