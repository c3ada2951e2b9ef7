"""runstone server"""

from __future__ import annotations

import gc
from pathlib import Path

import click

from runstone.config import Settings
from runstone.errors import RunstoneError, Unavailable


@click.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 5000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 1).")
@click.option("--backend-store-uri", default=None, help="Metadata database URL (default: SQLite in the home folder).")
@click.option("--artifacts-destination", default=None, help="Artifact root: a folder or s3://bucket/prefix.")
@click.option("--home", type=click.Path(path_type=Path), default=None, help="Home folder of the embedded default.")
def server(
    host: str | None,
    port: int | None,
    workers: int | None,
    backend_store_uri: str | None,
    artifacts_destination: str | None,
    home: Path | None,
) -> None:
    """Start the tracking server (REST API, UI and OpenAPI docs at /docs)."""
    # Starting up builds hundreds of thousands of objects that live as long as the server
    # (routes, schemas, table metadata); collecting garbage among them only slows the start.
    # serve() turns the collector back on once the app is built.
    gc.disable()
    try:
        from runstone.backend import open_backend
        from runstone.server.run import serve

        overrides = {
            "host": host,
            "port": port,
            "workers": workers,
            "backend_store_uri": backend_store_uri,
            "artifacts_destination": artifacts_destination,
            "home": home,
        }
        settings = Settings.model_validate({k: v for k, v in overrides.items() if v is not None})
        # Create or check the schema once, before any worker starts; a single worker serves
        # with this very backend.
        backend = open_backend(settings)
        try:
            backend.store.check_writable()
        except RunstoneError as exc:
            backend.close()
            raise Unavailable(
                f"The artifact destination {settings.artifact_root} cannot take files: {exc.message}"
            ) from None
        if settings.workers > 1:
            backend.close()
        click.echo(f"runstone server on http://{settings.host}:{settings.port} (store: {settings.database_uri})")
        if not _loopback(settings.host):
            click.echo(
                f"Warning: listening on {settings.host} without authentication: anyone who reaches this address can "
                "read, change and delete everything in this store.",
                err=True,
            )
        serve(settings, backend if settings.workers <= 1 else None)
    finally:
        gc.enable()


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
