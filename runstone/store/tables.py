"""Database tables. ``*Row`` classes never leave ``store/``.

Internal keys are integers: metric rows carry (run id, metric key id, step, timestamp, value)
and never repeat long string ids. A NaN metric value is stored as NULL, the one value SQL
cannot order or compare; infinities are stored as they are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runstone.store import artifact_totals

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ExperimentRow(Base):
    __tablename__ = "experiments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(500), unique=True)
    artifact_key: Mapped[str] = mapped_column(String(1000))
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default="active")
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)
    deleted_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ExperimentTagRow(Base):
    __tablename__ = "experiment_tags"
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    user_id: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(20))
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default="active")
    artifact_key: Mapped[str] = mapped_column(String(1000))
    deleted_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (Index("ix_runs_experiment_stage_start", "experiment_id", "lifecycle_stage", "start_time"),)


# Looked up by (run, key) in every search and run load: on SQLite these tables are stored in
# their primary key's order (WITHOUT ROWID), one b-tree where a rowid table needs two.
_CLUSTERED = {"sqlite_with_rowid": False}


class ParamRow(Base):
    __tablename__ = "params"
    __table_args__ = _CLUSTERED
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class TagRow(Base):
    __tablename__ = "tags"
    __table_args__ = _CLUSTERED
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MetricKeyRow(Base):
    __tablename__ = "metric_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(250), unique=True)


# Metric points: the largest table by far, kept narrow and without a surrogate key.
metrics_table = Table(
    "metrics",
    Base.metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key_id", Integer, ForeignKey("metric_keys.id"), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float(precision=53), nullable=True),
    Index("ix_metrics_run_key_step", "run_id", "key_id", "step"),
)


class LatestMetricRow(Base):
    __tablename__ = "latest_metrics"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("metric_keys.id"), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float | None] = mapped_column(Float(precision=53), nullable=True)

    __table_args__ = (Index("ix_latest_metrics_key_value", "key_id", "value"), _CLUSTERED)


class _BlockSummary:
    """A summary of a metric's points in one block of steps (see store/metric_blocks.py)."""

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("metric_keys.id"), primary_key=True)
    block: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    first_step: Mapped[int] = mapped_column(BigInteger)
    last_step: Mapped[int] = mapped_column(BigInteger)
    min_step: Mapped[int] = mapped_column(BigInteger)
    min_ts: Mapped[int] = mapped_column(BigInteger)
    min_value: Mapped[float | None] = mapped_column(Float(precision=53), nullable=True)
    max_step: Mapped[int] = mapped_column(BigInteger)
    max_ts: Mapped[int] = mapped_column(BigInteger)
    max_value: Mapped[float | None] = mapped_column(Float(precision=53), nullable=True)


class MetricBlockRow(_BlockSummary, Base):
    """Blocks of 256 steps: long histories are downsampled from these."""

    __tablename__ = "metric_blocks"


class MetricFineBlockRow(_BlockSummary, Base):
    """Blocks of 32 steps: histories of tens of thousands of steps are downsampled from these."""

    __tablename__ = "metric_fine_blocks"


class DatasetRow(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    digest: Mapped[str] = mapped_column(String(64))
    source_type: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    schema: Mapped[str | None] = mapped_column(Text, nullable=True)
    profile: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (UniqueConstraint("experiment_id", "name", "digest"),)


class InputRow(Base):
    __tablename__ = "inputs"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    context: Mapped[str | None] = mapped_column(String(100), nullable=True)
    tags: Mapped[str] = mapped_column(Text, default="{}")


class ArtifactRow(Base):
    """The manifest of a run's artifacts: what was stored, its size and its SHA-256."""

    __tablename__ = "artifacts"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    updated_time: Mapped[int] = mapped_column(BigInteger)


class ArtifactTotalRow(Base):
    """The bytes of a run's recorded artifact files, kept by triggers on ``artifacts``
    (runstone.store.artifact_totals)."""

    __tablename__ = "artifact_totals"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    bytes: Mapped[int] = mapped_column(BigInteger)


def _add_total_triggers(target: Any, connection: Any, **_: Any) -> None:
    for statement in artifact_totals.create(connection.dialect.name):
        connection.exec_driver_sql(statement)


# The triggers are created with the table they watch (create_all orders tables by their keys,
# and artifact_totals does not refer to artifacts); their bodies find artifact_totals when they run.
event.listen(ArtifactRow.__table__, "after_create", _add_total_triggers)


class ArtifactPendingRow(Base):
    """A small artifact file's bytes, kept in the commit of its manifest row until the file itself
    is known to be on disk (runstone.tracking.artifact_sync): what makes the upload's 2xx durable
    with one flush instead of three."""

    __tablename__ = "artifact_pending"
    __table_args__ = (
        ForeignKeyConstraint(["run_id", "path"], ["artifacts.run_id", "artifacts.path"], ondelete="CASCADE"),
    )
    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEventRow(Base):
    """Append-only, hash-chained: each row's hash covers its content and the previous hash."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    time: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str] = mapped_column(String(500))
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # With auth on: the API token used (its public id, never the secret) and the client's address.
    token_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_audit_events_target", "target_type", "target_id"),)


class RequestRow(Base):
    """Request ids already applied, so that a retried batch is not applied twice."""

    __tablename__ = "applied_requests"
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    time: Mapped[int] = mapped_column(BigInteger)


# ------------------------------------------------------------------ model registry
class RegisteredModelRow(Base):
    __tablename__ = "registered_models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(256))
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)
    # Approval policy (JSON): which stages and aliases are protected, approvals needed, gates.
    policy: Mapped[str | None] = mapped_column(Text, nullable=True)


class RegisteredModelTagRow(Base):
    __tablename__ = "registered_model_tags"
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(1000))
    run_uuid: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(32), default="READY")
    stage: Mapped[str] = mapped_column(String(20), default="None")
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(256))
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)
    # The package's files at registration: JSON [[path, size, sha256], ...], and its digest.
    manifest: Mapped[str | None] = mapped_column(Text, nullable=True)
    manifest_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (UniqueConstraint("model_id", "version"),)


class ModelVersionTagRow(Base):
    __tablename__ = "model_version_tags"
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelAliasRow(Base):
    __tablename__ = "model_aliases"
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class AssignmentRow(Base):
    """Every stage and alias assignment ever made: who moved what where, when and why."""

    __tablename__ = "model_assignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # "stage" or "alias"
    target: Mapped[str] = mapped_column(String(255))  # the stage name or the alias
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: removed
    previous_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_rollback: Mapped[bool] = mapped_column(default=False)
    time: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_model_assignments_lookup", "model_id", "kind", "target", "time"),)


class ApprovalRequestRow(Base):
    __tablename__ = "approval_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(255))
    archive_existing: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20))  # open, approved, rejected, cancelled
    requested_by: Mapped[str] = mapped_column(String(256))
    comment: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[str] = mapped_column(Text, default="{}")
    creation_time: Mapped[int] = mapped_column(BigInteger)
    decided_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (Index("ix_approval_requests_status", "status", "model_id"),)


class ApprovalRow(Base):
    __tablename__ = "approvals"
    request_id: Mapped[int] = mapped_column(ForeignKey("approval_requests.id", ondelete="CASCADE"), primary_key=True)
    approver: Mapped[str] = mapped_column(String(256), primary_key=True)
    decision: Mapped[str] = mapped_column(String(10))  # approve, reject
    comment: Mapped[str] = mapped_column(Text, default="")
    time: Mapped[int] = mapped_column(BigInteger)


class WebhookRow(Base):
    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(Text)  # JSON list of event names ("*" for all)
    secret: Mapped[str] = mapped_column(String(256))
    model_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(256))
    creation_time: Mapped[int] = mapped_column(BigInteger)


class WebhookDeliveryRow(Base):
    """The outbox: a delivery is written with the event, in its transaction, and sent after."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_time: Mapped[int] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    creation_time: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_time"),)


class DeploymentRow(Base):
    """Where a model version is (or was) served, from when, recorded by whom."""

    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256))
    target: Mapped[str] = mapped_column(String(2000))
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(256))
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    manifest_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the version's, then

    __table_args__ = (
        Index("ix_deployments_model", "model_id", "version"),
        Index("ix_deployments_name", "name", "end_time"),
    )


# ------------------------------------------------------------------ logged models
class LoggedModelRow(Base):
    """A model logged from a run or on its own (MLflow 3's LoggedModel), with its own artifacts."""

    __tablename__ = "logged_models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(String(64), unique=True)  # the external id, "m-<32 hex>"
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    model_type: Mapped[str | None] = mapped_column(String(500), nullable=True)
    source_run: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)  # run uuid
    status: Mapped[str] = mapped_column(String(20))  # PENDING, READY, FAILED
    status_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default="active")
    artifact_key: Mapped[str] = mapped_column(String(1000))
    user_id: Mapped[str] = mapped_column(String(256))
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_logged_models_experiment_created", "experiment_id", "creation_time"),)


class LoggedModelTagRow(Base):
    __tablename__ = "logged_model_tags"
    model_pk: Mapped[int] = mapped_column(ForeignKey("logged_models.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LoggedModelParamRow(Base):
    __tablename__ = "logged_model_params"
    model_pk: Mapped[int] = mapped_column(ForeignKey("logged_models.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# Metrics reported for a logged model (logged with its model id), NaN stored as NULL.
logged_model_metrics_table = Table(
    "logged_model_metrics",
    Base.metadata,
    Column("model_pk", Integer, ForeignKey("logged_models.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float(precision=53), nullable=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("run_uuid", String(32), nullable=True),
    Column("dataset_name", String(500), nullable=True),
    Column("dataset_digest", String(64), nullable=True),
    Index("ix_logged_model_metrics_model_key", "model_pk", "key"),
)


class LoggedModelArtifactRow(Base):
    """The manifest of a logged model's artifacts, as the runs' manifest."""

    __tablename__ = "logged_model_artifacts"
    model_pk: Mapped[int] = mapped_column(ForeignKey("logged_models.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    updated_time: Mapped[int] = mapped_column(BigInteger)


class RunModelLinkRow(Base):
    """A logged model used by a run (direction "input") or produced by it ("output", at a step)."""

    __tablename__ = "run_model_links"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    model_pk: Mapped[int] = mapped_column(ForeignKey("logged_models.id", ondelete="CASCADE"), primary_key=True)
    direction: Mapped[str] = mapped_column(String(10), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_run_model_links_model", "model_pk"),)


# Identity, permission, monitoring, trace and view tables register themselves on Base.metadata (kept in their own modules).
from runstone.store import (  # noqa: E402, F401
    identity_tables,
    monitoring_tables,
    permission_tables,
    report_tables,
    trace_tables,
    view_tables,
)
