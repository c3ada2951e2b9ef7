"""The rows every new database starts with: the "Default" experiment with id 0, as MLflow users
expect. Both ways a schema is made write it through here: the first migration
(``0001_initial_schema``) and a new database created at the head from the table definitions
(``schema._create_at_head``)."""

from __future__ import annotations

import time

import sqlalchemy as sa

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"

# The experiments table as the first migration creates it: later migrations may add columns, and
# this insert must run at that first revision as well as at the head.
_experiments = sa.table(
    "experiments",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("artifact_key", sa.String),
    sa.column("lifecycle_stage", sa.String),
    sa.column("creation_time", sa.BigInteger),
    sa.column("last_update_time", sa.BigInteger),
)


def seed_default_experiment(conn: sa.Connection, now: int | None = None) -> None:
    """Insert the Default experiment (id 0, artifacts under ``0``) in ``conn``'s transaction."""
    now = int(time.time() * 1000) if now is None else now
    conn.execute(
        sa.insert(_experiments).values(
            id=DEFAULT_EXPERIMENT_ID,
            name=DEFAULT_EXPERIMENT_NAME,
            artifact_key=str(DEFAULT_EXPERIMENT_ID),
            lifecycle_stage="active",
            creation_time=now,
            last_update_time=now,
        )
    )
