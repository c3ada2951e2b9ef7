"""runstone traces"""

from __future__ import annotations

import click

from runstone.cli.admin import parse_duration
from runstone.cli.common import as_json, client, resolve_experiment, tracking_uri
from runstone.cli.output import emit_json, group


@group()
def traces() -> None:
    """Traces logged by MLflow's tracing and OpenTelemetry exporters: delete old ones."""


@traces.command()
@tracking_uri
@click.option(
    "--older-than",
    default=None,
    help="Delete the traces that started at least this long ago (e.g. 30d, 12h). Without it, those older than "
    "their experiment's retention (the tag runstone.traces.retentionDays).",
)
@click.option(
    "--experiment",
    "experiment_refs",
    multiple=True,
    help="Only in this experiment (id or name; repeat for several). Without it, in every experiment, which "
    "takes an admin on a server with access control.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@as_json
def prune(
    tracking_uri: str | None, older_than: str | None, experiment_refs: tuple[str, ...], dry_run: bool, as_json: bool
) -> None:
    """Delete old traces, with their spans, tags and metadata.

    The server also deletes each experiment's traces past its retention on its own, every
    RUNSTONE_TRACE_RETENTION_INTERVAL seconds, and as new traces arrive in the experiment.
    """
    ms = parse_duration(older_than) if older_than else None
    c = client(tracking_uri)
    experiment_ids = [resolve_experiment(c, ref) for ref in experiment_refs] or None
    deleted = c.prune_traces(older_than_ms=ms, experiment_ids=experiment_ids, dry_run=dry_run)
    if as_json:
        emit_json({"deleted": deleted, "dry_run": dry_run})
        return
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(f"{verb} {sum(deleted.values())} trace(s)")
    for experiment_id, count in sorted(deleted.items(), key=lambda item: int(item[0])):
        click.echo(f"  experiment {experiment_id}: {count}")
