"""params, tags and latest metrics stored in their primary key's order on SQLite

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 14:40:00.000000

On SQLite a table with a composite primary key is two b-trees: the rows in rowid order and an
index of the key pointing into them, so every lookup by (run, key) reads both. As WITHOUT ROWID
tables the rows live in the key's own b-tree: a search's per-run checks ("params.optimizer =
'adam'", "metrics.m0 > 0.5") and the load of a page of runs read one b-tree instead of two.
PostgreSQL is unchanged.
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLES = ("params", "tags", "latest_metrics")


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        # Copies the rows into a table made from the reflected one (names of constraints and
        # indexes kept), then swaps it in: all in the migration's transaction.
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}):
            pass


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
