"""small artifact files' bytes kept with their manifest row until the file is flushed

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 15:25:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact_pending",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id", "path"],
            ["artifacts.run_id", "artifacts.path"],
            name=op.f("fk_artifact_pending_run_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "path", name=op.f("pk_artifact_pending")),
    )


def downgrade() -> None:
    # A server flushes every pending file when it starts and when it stops; a downgrade run on a
    # stopped server's database finds none to lose.
    op.drop_table("artifact_pending")
