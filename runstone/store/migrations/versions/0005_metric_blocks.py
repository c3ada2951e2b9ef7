"""metric blocks: per-block summaries of metric histories, backfilled from the stored points

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 08:21:24.945727
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_blocks",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_step", sa.BigInteger(), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("min_step", sa.BigInteger(), nullable=False),
        sa.Column("min_ts", sa.BigInteger(), nullable=False),
        sa.Column("min_value", sa.Float(precision=53), nullable=True),
        sa.Column("max_step", sa.BigInteger(), nullable=False),
        sa.Column("max_ts", sa.BigInteger(), nullable=False),
        sa.Column("max_value", sa.Float(precision=53), nullable=True),
        sa.ForeignKeyConstraint(["key_id"], ["metric_keys.id"], name=op.f("fk_metric_blocks_key_id_metric_keys")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_metric_blocks_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "key_id", "block", name=op.f("pk_metric_blocks")),
    )

    _backfill()


BLOCK = 256  # must match runstone.store.metric_blocks.BLOCK when this revision was written


def _backfill() -> None:
    """Summarize the points already stored, one (run, key) at a time, in step order."""
    bind = op.get_bind()
    blocks = sa.table(
        "metric_blocks",
        *(sa.column(c) for c in ("run_id", "key_id", "block", "count", "first_step", "last_step", "min_step",
                                  "min_ts", "min_value", "max_step", "max_ts", "max_value")),
    )  # fmt: skip
    pending: dict[tuple[int, int, int], dict[str, object]] = {}
    # Streamed (a server-side cursor on PostgreSQL): the points may not fit in memory.
    query = sa.text(
        "SELECT run_id, key_id, step, timestamp, value FROM metrics ORDER BY run_id, key_id, step, timestamp"
    ).execution_options(stream_results=True, yield_per=10_000)
    result = bind.execute(query)
    for run_id, key_id, step, ts, value in result:
        key = (run_id, key_id, step // BLOCK)
        row = pending.get(key)
        if row is None:
            if len(pending) >= 5000:
                op.bulk_insert(blocks, list(pending.values()))
                pending.clear()
            pending[key] = {
                "run_id": run_id, "key_id": key_id, "block": step // BLOCK, "count": 1, "first_step": step,
                "last_step": step, "min_step": step, "min_ts": ts, "min_value": value, "max_step": step,
                "max_ts": ts, "max_value": value,
            }  # fmt: skip
            continue
        row["count"] = int(row["count"]) + 1  # type: ignore[call-overload]
        row["last_step"] = step
        if value is not None and (row["min_value"] is None or value < row["min_value"]):  # type: ignore[operator]
            row.update(min_step=step, min_ts=ts, min_value=value)
        if value is not None and (row["max_value"] is None or value >= row["max_value"]):  # type: ignore[operator]
            row.update(max_step=step, max_ts=ts, max_value=value)
    if pending:
        op.bulk_insert(blocks, list(pending.values()))


def downgrade() -> None:
    op.drop_table("metric_blocks")
