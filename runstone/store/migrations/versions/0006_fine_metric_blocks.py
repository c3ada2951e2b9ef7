"""fine metric blocks: summaries of 32-step blocks, backfilled from the stored points

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 06:00:00.000000

Charts of histories of a few thousand to a few hundred thousand steps are downsampled from
these; the 256-step blocks of revision 0005 serve longer ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE = "metric_fine_blocks"
BLOCK = 32  # must match runstone.store.metric_blocks.FINE.size when this revision was written
COLUMNS = ("run_id", "key_id", "block", "count", "first_step", "last_step", "min_step", "min_ts", "min_value",
           "max_step", "max_ts", "max_value")  # fmt: skip


def upgrade() -> None:
    op.create_table(
        TABLE,
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
        sa.ForeignKeyConstraint(["key_id"], ["metric_keys.id"], name=op.f("fk_metric_fine_blocks_key_id_metric_keys")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_metric_fine_blocks_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "key_id", "block", name=op.f("pk_metric_fine_blocks")),
    )
    _backfill()


def _backfill() -> None:
    """Summarize the points already stored, one (run, key) at a time, in step order. Ties keep
    the earlier step for a minimum and the later one for a maximum; NaN (NULL) wins neither
    unless a block holds nothing else."""
    bind = op.get_bind()
    blocks = sa.table(TABLE, *(sa.column(c) for c in COLUMNS))
    pending: dict[tuple[int, int, int], dict[str, object]] = {}
    # Streamed (a server-side cursor on PostgreSQL): the points may not fit in memory.
    query = sa.text(
        "SELECT run_id, key_id, step, timestamp, value FROM metrics ORDER BY run_id, key_id, step, timestamp"
    ).execution_options(stream_results=True, yield_per=10_000)
    for run_id, key_id, step, ts, value in bind.execute(query):
        key = (run_id, key_id, step // BLOCK)
        row = pending.get(key)
        if row is None:
            if len(pending) >= 5000:
                op.bulk_insert(blocks, list(pending.values()))
                pending.clear()
            pending[key] = dict(zip(COLUMNS, (run_id, key_id, step // BLOCK, 1, step, step, step, ts, value, step, ts,
                                              value), strict=True))  # fmt: skip
            continue
        row["count"] = int(row["count"]) + 1  # type: ignore[call-overload]
        row["last_step"] = step
        if value is None:
            if row["max_value"] is None:  # only NaN so far: the latest one stands for the maximum
                row.update(max_step=step, max_ts=ts)
            continue
        if row["min_value"] is None or value < row["min_value"]:  # type: ignore[operator]
            row.update(min_step=step, min_ts=ts, min_value=value)
        if row["max_value"] is None or value >= row["max_value"]:  # type: ignore[operator]
            row.update(max_step=step, max_ts=ts, max_value=value)
    if pending:
        op.bulk_insert(blocks, list(pending.values()))


def downgrade() -> None:
    op.drop_table(TABLE)
