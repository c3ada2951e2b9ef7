"""runstone server"""

from __future__ import annotations

from pathlib import Path

import click

from runstone.config import Settings


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
    # Create or check the schema once, before any worker starts.
    open_backend(settings).close()
    click.echo(f"runstone server on http://{settings.host}:{settings.port} (store: {settings.database_uri})")
    serve(settings)
