"""monitoring labels per scored row, and windows re-evaluated when late data reaches them

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 15:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_labels",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("label_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["registered_models.id"], name=op.f("fk_monitoring_labels_model_id_registered_models"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("model_id", "request_id", "row", name=op.f("pk_monitoring_labels")),
    )
    op.create_index("ix_monitoring_labels_window", "monitoring_labels", ["model_id", "version", "time"])
    # The labels given so far were for each request's first row.
    op.execute(
        "INSERT INTO monitoring_labels (model_id, request_id, row, version, time, label, label_time) "
        "SELECT model_id, request_id, 0, version, time, label, COALESCE(label_time, time) FROM monitoring_requests "
        "WHERE label IS NOT NULL"
    )
    with op.batch_alter_table("monitoring_requests") as batch:
        batch.drop_column("label_time")
        batch.drop_column("label")
    op.add_column("monitoring_requests", sa.Column("rows", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("monitoring_windows") as batch:
        batch.add_column(sa.Column("started_time", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("changed_time", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("monitoring_windows") as batch:
        batch.drop_column("changed_time")
        batch.drop_column("started_time")
    with op.batch_alter_table("monitoring_requests") as batch:
        batch.add_column(sa.Column("label", sa.Text(), nullable=True))
        batch.add_column(sa.Column("label_time", sa.BigInteger(), nullable=True))
        batch.drop_column("rows")
    op.execute(
        "UPDATE monitoring_requests SET label = (SELECT l.label FROM monitoring_labels l WHERE "
        "l.model_id = monitoring_requests.model_id AND l.request_id = monitoring_requests.request_id AND l.row = 0), "
        "label_time = (SELECT l.label_time FROM monitoring_labels l WHERE l.model_id = monitoring_requests.model_id "
        "AND l.request_id = monitoring_requests.request_id AND l.row = 0)"
    )
    op.drop_index("ix_monitoring_labels_window", table_name="monitoring_labels")
    op.drop_table("monitoring_labels")
