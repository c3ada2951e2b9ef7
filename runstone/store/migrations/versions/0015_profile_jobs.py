"""monitoring profiles computed at registration: one job row per model version

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 15:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_BEFORE = (
    "Registered before runstone profiled versions at registration; compute its reference with "
    "runstone monitor profile."
)


def upgrade() -> None:
    op.create_table(
        "monitoring_profile_jobs",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(length=256), nullable=False),
        sa.Column("lease_until", sa.BigInteger(), nullable=False),
        sa.Column("updated_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name=op.f("fk_monitoring_profile_jobs_version_id_model_versions"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_monitoring_profile_jobs")),
    )
    # Versions registered before this revision are not profiled in a burst after the upgrade.
    op.execute(
        sa.text(
            "INSERT INTO monitoring_profile_jobs (version_id, status, note, claimed_by, lease_until, updated_time) "
            "SELECT v.id, 'skipped', :note, '', 0, v.creation_time FROM model_versions v "
            "WHERE NOT EXISTS (SELECT 1 FROM monitoring_profiles p WHERE p.model_id = v.model_id "
            "AND p.version = v.version)"
        ).bindparams(note=_BEFORE)
    )


def downgrade() -> None:
    op.drop_table("monitoring_profile_jobs")
