"""each run's artifact bytes kept by triggers on the manifest

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 01:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from runstone.store import artifact_totals

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact_totals",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_artifact_totals_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_artifact_totals")),
    )
    # The sums as they stand, then kept by the triggers: both in this migration's transaction.
    bind = op.get_bind()
    bind.exec_driver_sql(artifact_totals.BACKFILL)
    for statement in artifact_totals.create(bind.dialect.name):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in artifact_totals.DROP[bind.dialect.name]:
        bind.exec_driver_sql(statement)
    op.drop_table("artifact_totals")
