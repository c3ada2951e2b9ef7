"""Alembic environment: runs against the connection the caller hands over."""

from __future__ import annotations

from alembic import context

from runstone.store.tables import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("runstone migrations run through runstone.store.schema, with a connection.")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
