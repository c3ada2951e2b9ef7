"""logged models: MLflow 3 LoggedModels, their tags, params, metrics, artifacts and run links

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 06:47:58.822682
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("logged_models",
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("model_id", sa.String(length=64), nullable=False),
    sa.Column("experiment_id", sa.Integer(), nullable=False),
    sa.Column("name", sa.String(length=250), nullable=False),
    sa.Column("model_type", sa.String(length=500), nullable=True),
    sa.Column("source_run", sa.String(length=32), nullable=True),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("status_message", sa.Text(), nullable=True),
    sa.Column("lifecycle_stage", sa.String(length=20), nullable=False),
    sa.Column("artifact_key", sa.String(length=1000), nullable=False),
    sa.Column("user_id", sa.String(length=256), nullable=False),
    sa.Column("creation_time", sa.BigInteger(), nullable=False),
    sa.Column("last_update_time", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], name=op.f("fk_logged_models_experiment_id_experiments"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_logged_models")),
    sa.UniqueConstraint("model_id", name=op.f("uq_logged_models_model_id"))
    )
    with op.batch_alter_table("logged_models", schema=None) as batch_op:
        batch_op.create_index("ix_logged_models_experiment_created", ["experiment_id", "creation_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_logged_models_source_run"), ["source_run"], unique=False)

    op.create_table("logged_model_artifacts",
    sa.Column("model_pk", sa.Integer(), nullable=False),
    sa.Column("path", sa.String(length=1000), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("updated_time", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(["model_pk"], ["logged_models.id"], name=op.f("fk_logged_model_artifacts_model_pk_logged_models"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("model_pk", "path", name=op.f("pk_logged_model_artifacts"))
    )
    op.create_table("logged_model_metrics",
    sa.Column("model_pk", sa.Integer(), nullable=False),
    sa.Column("key", sa.String(length=250), nullable=False),
    sa.Column("value", sa.Float(precision=53), nullable=True),
    sa.Column("timestamp", sa.BigInteger(), nullable=False),
    sa.Column("step", sa.BigInteger(), nullable=False),
    sa.Column("run_uuid", sa.String(length=32), nullable=True),
    sa.Column("dataset_name", sa.String(length=500), nullable=True),
    sa.Column("dataset_digest", sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(["model_pk"], ["logged_models.id"], name=op.f("fk_logged_model_metrics_model_pk_logged_models"), ondelete="CASCADE")
    )
    with op.batch_alter_table("logged_model_metrics", schema=None) as batch_op:
        batch_op.create_index("ix_logged_model_metrics_model_key", ["model_pk", "key"], unique=False)

    op.create_table("logged_model_params",
    sa.Column("model_pk", sa.Integer(), nullable=False),
    sa.Column("key", sa.String(length=250), nullable=False),
    sa.Column("value", sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(["model_pk"], ["logged_models.id"], name=op.f("fk_logged_model_params_model_pk_logged_models"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("model_pk", "key", name=op.f("pk_logged_model_params"))
    )
    op.create_table("logged_model_tags",
    sa.Column("model_pk", sa.Integer(), nullable=False),
    sa.Column("key", sa.String(length=250), nullable=False),
    sa.Column("value", sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(["model_pk"], ["logged_models.id"], name=op.f("fk_logged_model_tags_model_pk_logged_models"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("model_pk", "key", name=op.f("pk_logged_model_tags"))
    )
    op.create_table("run_model_links",
    sa.Column("run_id", sa.Integer(), nullable=False),
    sa.Column("model_pk", sa.Integer(), nullable=False),
    sa.Column("direction", sa.String(length=10), nullable=False),
    sa.Column("step", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(["model_pk"], ["logged_models.id"], name=op.f("fk_run_model_links_model_pk_logged_models"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_model_links_run_id_runs"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("run_id", "model_pk", "direction", name=op.f("pk_run_model_links"))
    )
    with op.batch_alter_table("run_model_links", schema=None) as batch_op:
        batch_op.create_index("ix_run_model_links_model", ["model_pk"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("run_model_links", schema=None) as batch_op:
        batch_op.drop_index("ix_run_model_links_model")

    op.drop_table("run_model_links")
    op.drop_table("logged_model_tags")
    op.drop_table("logged_model_params")
    with op.batch_alter_table("logged_model_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_logged_model_metrics_model_key")

    op.drop_table("logged_model_metrics")
    op.drop_table("logged_model_artifacts")
    with op.batch_alter_table("logged_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_logged_models_source_run"))
        batch_op.drop_index("ix_logged_models_experiment_created")

    op.drop_table("logged_models")
