"""runstone users, runstone tokens: the identities of a server with auth on.

These commands work on the metadata database itself (the configured one, or
--backend-store-uri), like `runstone db`: run them where the server's database is reachable.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from runstone.cli.common import as_json
from runstone.cli.output import emit_json, group, table, when
from runstone.config import Settings

if TYPE_CHECKING:
    from runstone.governance.identity import IdentityService

store_uri = click.option("--backend-store-uri", default=None, help="Database URL (default: the configured one).")


@contextmanager
def _identity(backend_store_uri: str | None) -> Iterator[IdentityService]:
    from runstone.backend import open_backend
    from runstone.governance.context import Principal
    from runstone.governance.identity import IdentityService
    from runstone.sdk.client import default_user

    settings = Settings()
    if backend_store_uri:
        settings = settings.model_copy(update={"backend_store_uri": backend_store_uri})
    backend = open_backend(settings)
    try:
        yield IdentityService(backend.context(Principal(default_user(settings))))
    finally:
        backend.close()


@group()
def users() -> None:
    """Users and service accounts of a server with auth on."""


@users.command("create")
@click.argument("name")
@click.option("--service", is_flag=True, help="A service account: no password, signs in with API tokens only.")
@click.option("--admin", is_flag=True, help="Make the user an admin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (default: one is made up).")
@store_uri
def create_user(name: str, service: bool, admin: bool, password_stdin: bool, backend_store_uri: str | None) -> None:
    """Create a user (with a password) or a service account."""
    from runstone.governance.identity import generate_password

    password: str | None = None
    made_up = False
    if not service:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password, made_up = generate_password(), True
    with _identity(backend_store_uri) as identity:
        identity.create_user(name, password=password, kind="service" if service else "user", admin=admin)
    click.echo(f"Created {'service account' if service else 'user'} {name}.")
    if made_up:
        click.echo(f"Password (shown once): {password}")


@users.command("list")
@store_uri
@as_json
def list_users(backend_store_uri: str | None, as_json: bool) -> None:
    """List users and service accounts."""
    with _identity(backend_store_uri) as identity:
        found = identity.users()
    if as_json:
        emit_json([asdict(item) for item in found])
        return
    rows = [[u.name, u.kind, "yes" if u.is_admin else "", when(u.creation_time), when(u.disabled_time)] for u in found]
    table(None, ["name", "kind", "admin", "created", "disabled"], rows)


@users.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (default: prompt).")
@store_uri
def set_password(name: str, password_stdin: bool, backend_store_uri: str | None) -> None:
    """Change a user's password."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with _identity(backend_store_uri) as identity:
        identity.set_password(name, password)
    click.echo(f"Changed the password of {name}.")


@users.command("disable")
@click.argument("name")
@store_uri
def disable(name: str, backend_store_uri: str | None) -> None:
    """Stop a user or service account from signing in (its tokens stop working too)."""
    with _identity(backend_store_uri) as identity:
        identity.set_disabled(name, True)
    click.echo(f"Disabled {name}.")


@users.command("enable")
@click.argument("name")
@store_uri
def enable(name: str, backend_store_uri: str | None) -> None:
    """Let a disabled user or service account sign in again."""
    with _identity(backend_store_uri) as identity:
        identity.set_disabled(name, False)
    click.echo(f"Enabled {name}.")


@group()
def tokens() -> None:
    """API tokens of a server with auth on (shown once, stored hashed)."""


@tokens.command("create")
@click.option("--user", "user", required=True, help="The user or service account the token acts as.")
@click.option("--name", required=True, help="What the token is for (shown in listings).")
@click.option("--read-only", is_flag=True, help="The token may only read.")
@click.option(
    "--expires-in-days", type=click.FloatRange(min=0, min_open=True), default=None, help="Expire after so many days."
)
@click.option(
    "--resource",
    "resources",
    multiple=True,
    help="Limit the token to experiment:<id> or model:<name> (repeatable; default: every resource).",
)
@store_uri
def create_token(
    user: str,
    name: str,
    read_only: bool,
    expires_in_days: float | None,
    resources: tuple[str, ...],
    backend_store_uri: str | None,
) -> None:
    """Create an API token and print it, this once."""
    from runstone.governance.context import now_ms

    expiry = now_ms() + int(expires_in_days * 86_400_000) if expires_in_days is not None else None
    with _identity(backend_store_uri) as identity:
        made = identity.create_token(
            user, name, read_only=read_only, resources=list(resources) or None, expiry_time=expiry
        )
    click.echo(f"Created token {made.token.token_id} for {user}. It is shown this once:")
    click.echo(made.secret)


@tokens.command("list")
@click.option("--user", "user", default=None, help="Only this user's tokens.")
@store_uri
@as_json
def list_tokens(user: str | None, backend_store_uri: str | None, as_json: bool) -> None:
    """List API tokens (never their secrets)."""
    with _identity(backend_store_uri) as identity:
        found = identity.tokens(user)
    if as_json:
        emit_json([asdict(item) for item in found])
        return
    rows = [
        [
            t.token_id,
            t.user,
            t.name,
            "read-only" if t.read_only else "read-write",
            ", ".join(t.resources or ["all"]),
            when(t.expiry_time),
            when(t.revoked_time),
            when(t.last_used_time),
        ]
        for t in found
    ]
    table(None, ["id", "user", "name", "access", "resources", "expires", "revoked", "last used"], rows)


@tokens.command("revoke")
@click.argument("token_id")
@store_uri
def revoke(token_id: str, backend_store_uri: str | None) -> None:
    """Revoke an API token: servers stop accepting it within auth_token_cache_seconds (5 s)."""
    with _identity(backend_store_uri) as identity:
        identity.revoke_token(token_id)
    click.echo(f"Revoked token {token_id}.")
