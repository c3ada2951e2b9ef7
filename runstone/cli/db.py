"""runstone db"""

from __future__ import annotations

import click

from runstone.cli.output import group
from runstone.config import Settings


@group()
def db() -> None:
    """Manage the metadata database schema."""


def _database(uri: str | None):  # type: ignore[no-untyped-def]
    from runstone.store.engine import Database

    settings = Settings()
    return Database(uri or settings.database_uri)


@db.command()
@click.option("--backend-store-uri", default=None, help="Database URL (default: the configured one).")
def upgrade(backend_store_uri: str | None) -> None:
    """Upgrade the schema to this runstone's version (back up the database first)."""
    from runstone.errors import SchemaOutOfDate
    from runstone.store import schema

    database = _database(backend_store_uri)
    before = schema.current_revision(database)
    if before is not None and not schema.is_known(before):
        head = schema.head_revision()
        raise SchemaOutOfDate(schema.newer_schema_message(before, head), {"current": before, "head": head})
    schema.upgrade(database)
    after = schema.current_revision(database)
    click.echo(f"Schema at {after}" + (f" (was {before})" if before != after else " (already up to date)"))


@db.command()
@click.option("--backend-store-uri", default=None, help="Database URL (default: the configured one).")
def current(backend_store_uri: str | None) -> None:
    """Show the schema revision of the database and the one this runstone needs."""
    from runstone.store import schema

    database = _database(backend_store_uri)
    click.echo(f"database: {schema.current_revision(database) or 'empty'}\nrequired: {schema.head_revision()}")
