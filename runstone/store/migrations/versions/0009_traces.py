"""traces: trace info, tags and request metadata rows, spans as compressed chunks

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _trace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["trace_pk"], ["traces.id"], name=op.f(f"fk_{table}_trace_pk_traces"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "traces",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trace_id", sa.String(length=64), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("request_time", sa.BigInteger(), nullable=False),
        sa.Column("execution_time", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("run_uuid", sa.String(length=32), nullable=True),
        sa.Column("logged_model", sa.String(length=64), nullable=True),
        sa.Column("client_request_id", sa.String(length=250), nullable=True),
        sa.Column("request_preview", sa.Text(), nullable=True),
        sa.Column("response_preview", sa.Text(), nullable=True),
        sa.Column("span_count", sa.Integer(), nullable=False),
        sa.Column("span_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.id"], name=op.f("fk_traces_experiment_id_experiments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traces")),
        sa.UniqueConstraint("trace_id", name=op.f("uq_traces_trace_id")),
    )
    op.create_index("ix_traces_experiment_time", "traces", ["experiment_id", "request_time"])
    op.create_index(op.f("ix_traces_run_uuid"), "traces", ["run_uuid"])
    op.create_index(op.f("ix_traces_logged_model"), "traces", ["logged_model"])
    for table in ("trace_tags", "trace_metadata"):
        op.create_table(
            table,
            sa.Column("trace_pk", sa.Integer(), nullable=False),
            sa.Column("key", sa.String(length=250), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            _trace_fk(table),
            sa.PrimaryKeyConstraint("trace_pk", "key", name=op.f(f"pk_{table}")),
        )
    op.create_table(
        "trace_span_chunks",
        sa.Column("trace_pk", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("span_count", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        _trace_fk("trace_span_chunks"),
        sa.PrimaryKeyConstraint("trace_pk", "seq", name=op.f("pk_trace_span_chunks")),
    )


def downgrade() -> None:
    op.drop_table("trace_span_chunks")
    op.drop_table("trace_metadata")
    op.drop_table("trace_tags")
    op.drop_index(op.f("ix_traces_logged_model"), table_name="traces")
    op.drop_index(op.f("ix_traces_run_uuid"), table_name="traces")
    op.drop_index("ix_traces_experiment_time", table_name="traces")
    op.drop_table("traces")
