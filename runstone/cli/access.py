"""runstone groups, runstone permissions: who may do what on a server with auth on.

They talk to the server named by --tracking-uri (RUNSTONE_TRACKING_URI) as the signed-in user
(RUNSTONE_TRACKING_TOKEN): groups and team prefix grants are an admin's, a grant on one
experiment or model is given by its MANAGE holders.
"""

from __future__ import annotations

import click

from runstone.cli.common import as_json, client, resolve_experiment, tracking_uri
from runstone.cli.output import emit_json, group, table

RESOURCE = click.Choice(["experiment", "model"])


@group()
def groups() -> None:
    """Groups of users (admin)."""


@groups.command("create")
@tracking_uri
@click.argument("name")
def create_group(tracking_uri: str | None, name: str) -> None:
    """Create group NAME."""
    client(tracking_uri).access().create_group(name)
    click.echo(f"Created group {name}.")


@groups.command("delete")
@tracking_uri
@click.argument("name")
def delete_group(tracking_uri: str | None, name: str) -> None:
    """Delete group NAME with its grants."""
    client(tracking_uri).access().delete_group(name)
    click.echo(f"Deleted group {name}.")


@groups.command("add")
@tracking_uri
@click.argument("name")
@click.argument("users", nargs=-1, required=True)
def add_members(tracking_uri: str | None, name: str, users: tuple[str, ...]) -> None:
    """Add USERS to group NAME."""
    access = client(tracking_uri).access()
    for user in users:
        access.add_member(name, user)
    click.echo(f"Added {', '.join(users)} to {name}.")


@groups.command("remove")
@tracking_uri
@click.argument("name")
@click.argument("users", nargs=-1, required=True)
def remove_members(tracking_uri: str | None, name: str, users: tuple[str, ...]) -> None:
    """Remove USERS from group NAME."""
    access = client(tracking_uri).access()
    for user in users:
        access.remove_member(name, user)
    click.echo(f"Removed {', '.join(users)} from {name}.")


@groups.command("list")
@tracking_uri
@as_json
def list_groups(tracking_uri: str | None, as_json: bool) -> None:
    """List groups and their members."""
    found = client(tracking_uri).access().groups()
    if as_json:
        emit_json([{"name": g, "members": m} for g, m in found.items()])
        return
    table("groups", ["group", "members"], [[g, ", ".join(m)] for g, m in found.items()])


@group()
def permissions() -> None:
    """Grants of READ, EDIT, MANAGE and APPROVE on experiments and registered models."""


def _principal(user: str | None, group_name: str | None) -> tuple[str, str]:
    if (user is None) == (group_name is None):
        raise click.UsageError("Name exactly one of --user and --group.")
    return ("user", user) if user is not None else ("group", group_name)  # type: ignore[return-value]


@permissions.command("grant")
@tracking_uri
@click.argument("resource_type", type=RESOURCE)
@click.argument("resource")
@click.argument("permission", type=click.Choice(["READ", "EDIT", "MANAGE", "APPROVE"], case_sensitive=False))
@click.option("--user", default=None, help="The user (or service account) to grant to.")
@click.option("--group", "group_name", default=None, help="The group to grant to.")
def grant(
    tracking_uri: str | None,
    resource_type: str,
    resource: str,
    permission: str,
    user: str | None,
    group_name: str | None,
) -> None:
    """Grant PERMISSION on an experiment (by id or name) or a registered model (by name).

    A level (READ, EDIT, MANAGE) replaces the principal's previous level there; APPROVE (models
    only) comes in addition."""
    kind, name = _principal(user, group_name)
    c = client(tracking_uri)
    resource = resolve_experiment(c, resource) if resource_type == "experiment" else resource
    c.access().grant(resource_type, resource, kind, name, permission.upper())
    click.echo(f"Granted {permission.upper()} on {resource_type} {resource} to {kind} {name}.")


@permissions.command("revoke")
@tracking_uri
@click.argument("resource_type", type=RESOURCE)
@click.argument("resource")
@click.argument("permission", required=False, default=None)
@click.option("--user", default=None)
@click.option("--group", "group_name", default=None)
def revoke(
    tracking_uri: str | None,
    resource_type: str,
    resource: str,
    permission: str | None,
    user: str | None,
    group_name: str | None,
) -> None:
    """Revoke PERMISSION (every one when omitted) on a resource from a user or group."""
    kind, name = _principal(user, group_name)
    c = client(tracking_uri)
    resource = resolve_experiment(c, resource) if resource_type == "experiment" else resource
    gone = c.access().revoke(resource_type, resource, kind, name, permission)
    click.echo(f"Revoked {gone} grant(s) on {resource_type} {resource} from {kind} {name}.")


@permissions.command("list")
@tracking_uri
@click.option("--resource-type", type=RESOURCE, default=None)
@click.option("--resource", default=None, help="An experiment id or a model name.")
@click.option("--user", default=None)
@click.option("--group", "group_name", default=None)
@as_json
def list_grants(
    tracking_uri: str | None,
    resource_type: str | None,
    resource: str | None,
    user: str | None,
    group_name: str | None,
    as_json: bool,
) -> None:
    """List grants (a non-admin sees those of what it may read)."""
    principal_type = "user" if user else "group" if group_name else None
    found = (
        client(tracking_uri)
        .access()
        .grants(
            resource_type=resource_type,
            resource_id=resource,
            principal_type=principal_type,
            principal_name=user or group_name,
        )
    )
    keys = ["resource_type", "resource", "principal_type", "principal", "permission"]
    if as_json:
        emit_json([dict(zip(keys, g, strict=True)) for g in found])
        return
    table("permissions", keys, [list(g) for g in found])


@permissions.command("prefix")
@tracking_uri
@click.argument("resource_type", type=RESOURCE)
@click.argument("prefix")
@click.argument("group_name")
@click.argument("permission", type=click.Choice(["READ", "EDIT", "MANAGE", "APPROVE"], case_sensitive=False))
@click.option("--delete", is_flag=True, help="Remove the team prefix grant instead.")
def prefix(
    tracking_uri: str | None, resource_type: str, prefix: str, group_name: str, permission: str, delete: bool
) -> None:
    """Give GROUP_NAME PERMISSION on every experiment or model created later under a name PREFIX (admin)."""
    access = client(tracking_uri).access()
    if delete:
        access.delete_prefix_grant(resource_type, prefix, group_name)
        click.echo(f"Removed the {resource_type} prefix grant {prefix!r} of {group_name}.")
        return
    access.set_prefix_grant(resource_type, prefix, group_name, permission.upper())
    click.echo(f"{group_name} gets {permission.upper()} on every {resource_type} created under {prefix!r}.")
