"""runstone experiments"""

from __future__ import annotations

from typing import Any

import click

from runstone.cli.common import as_json, client, resolve_experiment, tracking_uri
from runstone.cli.output import emit_json, group, table, when


@group()
def experiments() -> None:
    """List, search, create, rename, delete and restore experiments."""


def _public(e: object) -> dict[str, object]:
    return dict(e.__dict__)


def _list_options(f: Any) -> Any:
    for decorator in reversed(
        [
            tracking_uri,
            click.option(
                "--view", type=click.Choice(["active", "deleted", "all"]), default="active", show_default=True
            ),
            click.option(
                "--filter", "filter_string", default=None, help="e.g. \"name LIKE 'iris%' and tags.team = 'cv'\""
            ),
            as_json,
        ]
    ):
        f = decorator(f)
    return f


@experiments.command("list")
@_list_options
def list_experiments(tracking_uri: str | None, view: str, filter_string: str | None, as_json: bool) -> None:
    """List experiments."""
    _list(tracking_uri, view, filter_string, as_json)


@experiments.command("search")
@_list_options
def search_experiments(tracking_uri: str | None, view: str, filter_string: str | None, as_json: bool) -> None:
    """Search experiments with the filter grammar (same as `list --filter`)."""
    if not filter_string:
        raise click.UsageError("search needs --filter; use `runstone experiments list` to list everything.")
    _list(tracking_uri, view, filter_string, as_json)


def _list(tracking_uri: str | None, view: str, filter_string: str | None, as_json: bool) -> None:
    c = client(tracking_uri)
    found = []
    token = None
    while True:
        page = c.search_experiments(view_type=view, filter_string=filter_string, page_token=token, max_results=1000)
        found.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    counts = c._tracking.experiment_run_counts([e.experiment_id for e in found]) if found else {}
    if as_json:
        emit_json([{**_public(e), "run_count": counts.get(e.experiment_id, 0)} for e in found])
        return
    table(
        None,
        ["id", "name", "runs", "stage", "last update"],
        [
            [e.experiment_id, e.name, counts.get(e.experiment_id, 0), e.lifecycle_stage, when(e.last_update_time)]
            for e in found
        ],
    )


@experiments.command()
@tracking_uri
@click.argument("name")
@as_json
def create(tracking_uri: str | None, name: str, as_json: bool) -> None:
    """Create an experiment."""
    experiment_id = client(tracking_uri).create_experiment(name)
    if as_json:
        emit_json({"experiment_id": experiment_id})
    else:
        click.echo(f"Created experiment {name!r} with id {experiment_id}")


@experiments.command()
@tracking_uri
@click.argument("experiment")
@as_json
def show(tracking_uri: str | None, experiment: str, as_json: bool) -> None:
    """Show an experiment (by id or name)."""
    c = client(tracking_uri)
    e = c.get_experiment(resolve_experiment(c, experiment))
    if as_json:
        emit_json(_public(e))
        return
    table(e.name, ["field", "value"], [[k, v] for k, v in _public(e).items()])


@experiments.command()
@tracking_uri
@click.argument("experiment")
@click.argument("new_name")
def rename(tracking_uri: str | None, experiment: str, new_name: str) -> None:
    """Rename an experiment."""
    c = client(tracking_uri)
    c.rename_experiment(resolve_experiment(c, experiment), new_name)
    click.echo(f"Renamed to {new_name!r}")


@experiments.command()
@tracking_uri
@click.argument("experiment")
def delete(tracking_uri: str | None, experiment: str) -> None:
    """Delete an experiment and its runs (restorable until `runstone gc`)."""
    c = client(tracking_uri)
    experiment_id = resolve_experiment(c, experiment)
    c.delete_experiment(experiment_id)
    click.echo(f"Deleted experiment {experiment_id}")


@experiments.command()
@tracking_uri
@click.argument("experiment")
def restore(tracking_uri: str | None, experiment: str) -> None:
    """Restore a deleted experiment and the runs deleted with it."""
    c = client(tracking_uri)
    experiment_id = resolve_experiment(c, experiment)
    c.restore_experiment(experiment_id)
    click.echo(f"Restored experiment {experiment_id}")
