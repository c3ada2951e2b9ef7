"""runstone server"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runstone.config import Settings

if TYPE_CHECKING:
    from runstone.backend import Backend
from runstone.errors import RunstoneError, Unavailable


@click.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 5000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 1).")
@click.option("--backend-store-uri", default=None, help="Metadata database URL (default: SQLite in the home folder).")
@click.option("--artifacts-destination", default=None, help="Artifact root: a folder or s3://bucket/prefix.")
@click.option("--home", type=click.Path(path_type=Path), default=None, help="Home folder of the embedded default.")
@click.option(
    "--allowed-hosts",
    default=None,
    help="Comma-separated names this server answers to in the Host header (default: the loopback names when "
    "listening on loopback, any otherwise); '*' allows any.",
)
@click.option(
    "--allowed-origins",
    default=None,
    help="Comma-separated origins (https://name:port) besides the server's own whose pages may change data.",
)
@click.option(
    "--auth/--no-auth",
    default=None,
    help="Require a credential on every route (default: off, or the setting auth). The first start with auth "
    "creates an admin and prints its password once (or takes RUNSTONE_ADMIN_PASSWORD).",
)
def server(
    host: str | None,
    port: int | None,
    workers: int | None,
    backend_store_uri: str | None,
    artifacts_destination: str | None,
    home: Path | None,
    allowed_hosts: str | None,
    allowed_origins: str | None,
    auth: bool | None,
) -> None:
    """Start the tracking server (REST API, UI and OpenAPI docs at /docs)."""
    from runstone.extras import require

    require("server", "runstone server")
    # Starting up builds hundreds of thousands of objects that live as long as the server
    # (routes, schemas, table metadata); collecting garbage among them only slows the start.
    # serve() turns the collector back on once the app is built.
    gc.disable()
    try:
        from runstone.backend import open_backend
        from runstone.server.origin import LOOPBACK_HOSTS
        from runstone.server.run import serve

        overrides = {
            "host": host,
            "port": port,
            "workers": workers,
            "backend_store_uri": backend_store_uri,
            "artifacts_destination": artifacts_destination,
            "home": home,
            "allowed_hosts": allowed_hosts,
            "allowed_origins": allowed_origins,
            "auth": auth,
        }
        settings = Settings.model_validate({k: v for k, v in overrides.items() if v is not None})
        if settings.allowed_hosts is None and _loopback(settings.host):
            # A server on loopback answers only to loopback names: a page whose name an attacker's
            # DNS points at 127.0.0.1 (DNS rebinding) gets 400, not the API.
            settings.allowed_hosts = ",".join(LOOPBACK_HOSTS)
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
        if settings.auth:
            _first_admin(backend, settings)
        if settings.workers > 1:
            backend.close()
        click.echo(f"runstone server on http://{settings.host}:{settings.port} (store: {settings.database_uri})")
        if not settings.auth and not _loopback(settings.host):
            click.echo(
                f"Warning: listening on {settings.host} without authentication: anyone who reaches this address can "
                "read, change and delete everything in this store.",
                err=True,
            )
        serve(settings, backend if settings.workers <= 1 else None)
    finally:
        gc.enable()


def _first_admin(backend: Backend, settings: Settings) -> None:
    from runstone.governance.identity import IdentityService

    made_up = IdentityService(backend.context()).ensure_admin(password=settings.admin_password)
    if made_up is not None:
        # Printed this once and stored only as a hash: whoever starts the server first holds it.
        click.echo(f"Auth is on. Created the admin user 'admin' with the password: {made_up}")
        click.echo("Change it with `runstone users set-password admin`; it is not shown again.")


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
