"""monitoring: reference profiles, logged requests and labels, log files, windows, rules, alerts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 09:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _model_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["model_id"], ["registered_models.id"], name=op.f(f"fk_{table}_model_id_registered_models"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "monitoring_profiles",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("dataset_digest", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=2000), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        _model_fk("monitoring_profiles"),
        sa.PrimaryKeyConstraint("model_id", "version", name=op.f("pk_monitoring_profiles")),
    )
    op.create_table(
        "monitoring_requests",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("prediction", sa.Text(), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("label_time", sa.BigInteger(), nullable=True),
        _model_fk("monitoring_requests"),
        sa.PrimaryKeyConstraint("model_id", "request_id", name=op.f("pk_monitoring_requests")),
    )
    op.create_index("ix_monitoring_requests_window", "monitoring_requests", ["model_id", "version", "time"])
    op.create_index("ix_monitoring_requests_request_id", "monitoring_requests", ["request_id"])
    op.create_table(
        "monitoring_log_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=1000), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("min_time", sa.BigInteger(), nullable=False),
        sa.Column("max_time", sa.BigInteger(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        _model_fk("monitoring_log_files"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_log_files")),
    )
    op.create_index("ix_monitoring_log_files_span", "monitoring_log_files", ["model_id", "version", "min_time"])
    op.create_table(
        "monitoring_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("claimed_by", sa.String(length=256), nullable=False),
        sa.Column("lease_until", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("computed_time", sa.BigInteger(), nullable=True),
        _model_fk("monitoring_windows"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_windows")),
        sa.UniqueConstraint(
            "model_id", "version", "start_time", "end_time",
            name=op.f("uq_monitoring_windows_model_id_version_start_time_end_time"),
        ),  # fmt: skip
    )
    op.create_table(
        "monitoring_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        _model_fk("monitoring_rules"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_rules")),
        sa.UniqueConstraint("model_id", "name", name=op.f("uq_monitoring_rules_model_id_name")),
    )
    op.create_table(
        "monitoring_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("action_status", sa.String(length=20), nullable=False),
        sa.Column("lease_until", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("new_version", sa.Integer(), nullable=True),
        sa.Column("approval_request_id", sa.Integer(), nullable=True),
        sa.Column("action_note", sa.Text(), nullable=True),
        _model_fk("monitoring_alerts"),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["monitoring_rules.id"], name=op.f("fk_monitoring_alerts_rule_id_monitoring_rules"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["window_id"], ["monitoring_windows.id"], name=op.f("fk_monitoring_alerts_window_id_monitoring_windows"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_alerts")),
    )
    op.create_index("ix_monitoring_alerts_model", "monitoring_alerts", ["model_id", "time"])


def downgrade() -> None:
    op.drop_index("ix_monitoring_alerts_model", table_name="monitoring_alerts")
    op.drop_table("monitoring_alerts")
    op.drop_table("monitoring_rules")
    op.drop_table("monitoring_windows")
    op.drop_index("ix_monitoring_log_files_span", table_name="monitoring_log_files")
    op.drop_table("monitoring_log_files")
    op.drop_index("ix_monitoring_requests_request_id", table_name="monitoring_requests")
    op.drop_index("ix_monitoring_requests_window", table_name="monitoring_requests")
    op.drop_table("monitoring_requests")
    op.drop_table("monitoring_profiles")
