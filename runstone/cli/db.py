"""runstone db"""

from __future__ import annotations

from pathlib import Path

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


@db.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--backend-store-uri", default=None, help="Database URL (default: the configured one).")
def backup(file: Path, backend_store_uri: str | None) -> None:
    """Write a consistent online backup of the metadata database to FILE, with the artifact manifest.

    Servers and training jobs may keep writing meanwhile: the backup is one consistent state
    (SQLite's backup API; pg_dump on PostgreSQL). Artifact files stay in the artifact store.
    """
    from runstone.store import backup as backups

    info = backups.backup(_database(backend_store_uri), file)
    click.echo(f"Backed up {info.runs} runs and a manifest of {info.artifacts} artifact files to {file}")


@db.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--backend-store-uri", default=None, help="Database URL (default: the configured one).")
@click.option("--artifacts-destination", default=None, help="Artifact folder to check against the manifest.")
@click.option("--force", is_flag=True, help="Replace a database that already holds runs.")
def restore(file: Path, backend_store_uri: str | None, artifacts_destination: str | None, force: bool) -> None:
    """Replace the metadata database with the backup FILE (stop the servers first).

    Then checks that every artifact file the backup records is in the artifact folder.
    """
    from runstone.store import backup as backups

    settings = Settings()
    database = _database(backend_store_uri)
    info = backups.restore(file, database, force=force)
    click.echo(f"Restored {info.runs} runs (schema {info.revision}) from {file}")
    root = artifacts_destination or settings.artifact_root
    local = None if "://" in root and not root.startswith("file://") else Path(root.removeprefix("file://"))
    report = backups.check_artifacts(file, local)
    if local is None:
        click.echo("Artifacts: not checked (not a local folder)")
        return
    problems = report.missing + report.wrong_size
    click.echo(f"Artifacts: {report.checked - len(problems)} of {report.checked} recorded files present")
    for key in report.missing:
        click.echo(f"  missing: {key}", err=True)
    for key in report.wrong_size:
        click.echo(f"  wrong size: {key}", err=True)
    if problems:
        raise SystemExit(1)
