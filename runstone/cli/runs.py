"""runstone runs"""

from __future__ import annotations

from typing import Any

import click

from runstone.cli.common import as_json, client, resolve_experiment, tracking_uri
from runstone.cli.output import duration, emit_json, group, table, when
from runstone.entities import Run
from runstone.errors import InvalidState
from runstone.sdk.client import RunstoneClient

_AUTO_COLUMNS = 6


@group()
def runs() -> None:
    """List, search, show, delete, restore and move runs."""


def _search(
    tracking_uri: str | None,
    experiment: tuple[str, ...],
    filter_string: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    view: str,
) -> list[Run]:
    c = client(tracking_uri)
    ids = [resolve_experiment(c, e) for e in experiment] or ["0"]
    found: list[Run] = []
    token = None
    while len(found) < max_results:
        page = c.search_runs(
            ids, filter_string or "", view, min(max_results - len(found), 50_000), list(order_by), token
        )
        found.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    return found


def _run_json(r: Run) -> dict[str, object]:
    return r.to_dict()


def _show_table(found: list[Run], columns: tuple[str, ...]) -> None:
    chosen = list(columns)
    if not chosen:
        keys = sorted({f"metrics.{k}" for r in found for k in r.data.metrics})
        keys += sorted({f"params.{k}" for r in found for k in r.data.params})
        chosen = keys[:_AUTO_COLUMNS]

    def cell(r: Run, column: str) -> Any:
        kind, _, key = column.partition(".")
        sources: dict[str, dict[str, Any]] = {"metrics": r.data.metrics, "params": r.data.params, "tags": r.data.tags}
        source = sources.get(kind, {})
        value = source.get(key)
        return f"{value:.6g}" if isinstance(value, float) else value

    table(
        None,
        ["run id", "name", "status", "start", "duration", "user", *chosen],
        [
            [
                r.info.run_id,
                r.info.run_name,
                r.info.status,
                when(r.info.start_time),
                duration(r.info.start_time, r.info.end_time),
                r.info.user_id,
                *[cell(r, c) for c in chosen],
            ]
            for r in found
        ],
    )
    click.echo(f"{len(found)} run(s)")


def _list_options(f: Any) -> Any:
    for decorator in reversed(
        [
            tracking_uri,
            click.option("--experiment", "-e", multiple=True, help="Experiment id or name (repeatable)."),
            click.option(
                "--filter", "filter_string", default=None, help="e.g. \"metrics.loss < 0.1 and params.C = '1.0'\""
            ),
            click.option("--order-by", multiple=True, help="e.g. 'metrics.loss ASC' (repeatable)."),
            click.option("--max-results", type=int, default=1000, show_default=True),
            click.option(
                "--view", type=click.Choice(["active", "deleted", "all"]), default="active", show_default=True
            ),
            click.option(
                "--column",
                "-c",
                "columns",
                multiple=True,
                help="Column to show, such as metrics.loss or params.C (repeatable; replaces the automatic ones).",
            ),
            as_json,
        ]
    ):
        f = decorator(f)
    return f


@runs.command("list")
@_list_options
def list_runs(
    tracking_uri: str | None,
    experiment: tuple[str, ...],
    filter_string: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    view: str,
    columns: tuple[str, ...],
    as_json: bool,
) -> None:
    """List the runs of experiments (newest first)."""
    found = _search(tracking_uri, experiment, filter_string, order_by, max_results, view)
    if as_json:
        emit_json([_run_json(r) for r in found])
    else:
        _show_table(found, columns)


@runs.command("search")
@_list_options
def search_runs(
    tracking_uri: str | None,
    experiment: tuple[str, ...],
    filter_string: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    view: str,
    columns: tuple[str, ...],
    as_json: bool,
) -> None:
    """Search runs with the filter grammar (same as `list --filter`)."""
    if not filter_string:
        raise click.UsageError("search needs --filter; use `runstone runs list` to list everything.")
    found = _search(tracking_uri, experiment, filter_string, order_by, max_results, view)
    if as_json:
        emit_json([_run_json(r) for r in found])
    else:
        _show_table(found, columns)


@runs.command()
@tracking_uri
@click.argument("run_id")
@as_json
def show(tracking_uri: str | None, run_id: str, as_json: bool) -> None:
    """Show a run: info, params, metrics, tags and inputs."""
    r = client(tracking_uri).get_run(run_id)
    if as_json:
        emit_json(_run_json(r))
        return
    info = r.info
    table(
        f"run {info.run_id}",
        ["field", "value"],
        [
            ["name", info.run_name],
            ["experiment", info.experiment_id],
            ["status", info.status],
            ["user", info.user_id],
            ["start", when(info.start_time)],
            ["end", when(info.end_time)],
            ["duration", duration(info.start_time, info.end_time)],
            ["lifecycle", info.lifecycle_stage],
            ["artifacts", info.artifact_uri],
        ],
    )
    if r.data.params:
        table("params", ["key", "value"], sorted(r.data.params.items()))
    if r.data.metrics:
        table("metrics (latest)", ["key", "value"], [[k, f"{v:.6g}"] for k, v in sorted(r.data.metrics.items())])
    if r.data.tags:
        table("tags", ["key", "value"], sorted(r.data.tags.items()))
    if r.inputs.dataset_inputs:
        table(
            "inputs",
            ["dataset", "digest", "context"],
            [[d.dataset.name, d.dataset.digest[:16], d.context] for d in r.inputs.dataset_inputs],
        )


def _check_all(c: RunstoneClient, run_ids: tuple[str, ...], stage: str, otherwise: str) -> None:
    """Refuse the whole command, before changing any run, when one of the runs cannot take part."""
    for run_id in run_ids:
        if c.get_run(run_id).info.lifecycle_stage != stage:
            raise InvalidState(f"Run {run_id} is {otherwise}")


@runs.command()
@tracking_uri
@click.argument("run_ids", nargs=-1, required=True)
def delete(tracking_uri: str | None, run_ids: tuple[str, ...]) -> None:
    """Delete runs (restorable until `runstone gc`)."""
    c = client(tracking_uri)
    _check_all(c, run_ids, "active", "already deleted.")
    for run_id in run_ids:
        c.delete_run(run_id)
        click.echo(f"Deleted run {run_id}")


@runs.command()
@tracking_uri
@click.argument("run_ids", nargs=-1, required=True)
def restore(tracking_uri: str | None, run_ids: tuple[str, ...]) -> None:
    """Restore deleted runs."""
    c = client(tracking_uri)
    _check_all(c, run_ids, "deleted", "not deleted.")
    for run_id in run_ids:
        c.restore_run(run_id)
        click.echo(f"Restored run {run_id}")


@runs.command()
@tracking_uri
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--to", "target", required=True, help="Target experiment id or name.")
def move(tracking_uri: str | None, run_ids: tuple[str, ...], target: str) -> None:
    """Move runs, with everything they logged, to another experiment."""
    c = client(tracking_uri)
    experiment_id = resolve_experiment(c, target)
    _check_all(c, run_ids, "active", "deleted; restore it before changing it.")
    for run_id in run_ids:
        c.move_run(run_id, experiment_id)
        click.echo(f"Moved run {run_id} to experiment {experiment_id}")
