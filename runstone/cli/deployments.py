"""runstone deployments"""

from __future__ import annotations

import click

from runstone.cli.common import as_json, client, tracking_uri
from runstone.cli.output import emit_json, group, table, when
from runstone.entities import Deployment


@group()
def deployments() -> None:
    """Where each model version is served: record, list and end deployments.

    Recording a name again (a new version on the same endpoint) ends its previous record, so
    the records of a name are its history. Every change is an audit event. The acting user is
    RUNSTONE_USER (or the login name).
    """


def _public(d: Deployment) -> dict[str, object]:
    return {**d.__dict__, "active": d.active}


def _show(found: list[Deployment]) -> None:
    table(
        None,
        ["id", "name", "model", "version", "target", "since", "by", "until"],
        [
            [d.id, d.name, d.model_name, d.version, d.target, when(d.start_time), d.created_by, when(d.end_time)]
            for d in found
        ],
    )


@deployments.command()
@tracking_uri
@click.argument("name")
@click.option("--model", "model_name", required=True, help="Registered model name.")
@click.option("--version", required=True, help="The model version now served there.")
@click.option("--target", default="", help="Where: a URL, a cluster/namespace, a batch job ...")
@click.option("--description", default="", help="Free text.")
@as_json
def record(
    tracking_uri: str | None, name: str, model_name: str, version: str, target: str, description: str, as_json: bool
) -> None:
    """Record that NAME now serves a model version (ending NAME's previous record)."""
    d = client(tracking_uri).record_deployment(name, model_name, version, target=target, description=description)
    if as_json:
        emit_json(_public(d))
    else:
        click.echo(f"Deployment {d.id}: {d.name} serves {d.model_name} version {d.version} ({d.target or '-'}).")


@deployments.command("list")
@tracking_uri
@click.option("--model", "model_name", default=None, help="Only deployments of this registered model.")
@click.option("--version", default=None, help="Only deployments of this version (with --model).")
@click.option("--name", default=None, help="Only records of this deployment name (its history).")
@click.option("--all", "include_ended", is_flag=True, help="Include ended deployments.")
@as_json
def list_deployments(
    tracking_uri: str | None,
    model_name: str | None,
    version: str | None,
    name: str | None,
    include_ended: bool,
    as_json: bool,
) -> None:
    """List deployments, newest first (only active ones unless --all)."""
    found = client(tracking_uri).list_deployments(model_name, version, name, active_only=not include_ended)
    if as_json:
        emit_json([_public(d) for d in found])
    else:
        _show(found)


@deployments.command()
@tracking_uri
@click.argument("deployment_id", type=int)
@as_json
def end(tracking_uri: str | None, deployment_id: int, as_json: bool) -> None:
    """Record that deployment DEPLOYMENT_ID stopped serving."""
    d = client(tracking_uri).end_deployment(deployment_id)
    if as_json:
        emit_json(_public(d))
    else:
        click.echo(f"Deployment {d.id} ({d.name}, {d.model_name} version {d.version}) ended.")
