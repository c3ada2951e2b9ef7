"""runstone gc, sync and audit"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import click

from runstone.cli.common import as_json, client, passthrough, resolve_experiment, tracking_uri
from runstone.cli.output import emit_json, group, table, when
from runstone.errors import InvalidInput

_UNITS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}


def parse_duration(text: str) -> int:
    """'7d', '12h', '1d2h30m' -> milliseconds."""
    parts = re.findall(r"(\d+)([dhms])", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise InvalidInput(f"Invalid duration {text!r}; use e.g. 30d, 12h or 1d2h30m.")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def _id_list(text: str | None) -> list[str] | None:
    """'a, b,c' -> ['a', 'b', 'c']; None when the option was not given."""
    if text is None:
        return None
    ids = [part.strip() for part in text.split(",")]
    if not all(ids):
        raise InvalidInput(f"Invalid id list {text!r}; separate ids with commas, e.g. 3,7.")
    return ids


@click.command()
@tracking_uri
@click.option("--older-than", default=None, help="Only what was deleted at least this long ago (e.g. 30d, 12h).")
@click.option("--run-ids", default=None, help="Only these deleted runs (comma-separated run ids).")
@click.option(
    "--experiment-ids",
    default=None,
    help="Only these deleted experiments, with all their runs (comma-separated ids or names).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be removed; remove nothing.")
@as_json
def gc(
    tracking_uri: str | None,
    older_than: str | None,
    run_ids: str | None,
    experiment_ids: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Permanently remove deleted runs and experiments, and their artifacts.

    Without --run-ids or --experiment-ids, everything deleted (at least --older-than ago) goes.
    """
    ms = parse_duration(older_than) if older_than else None
    c = client(tracking_uri)
    experiments = _id_list(experiment_ids)
    if experiments is not None:
        experiments = [resolve_experiment(c, e) for e in experiments]
    report = c.gc(older_than_ms=ms, dry_run=dry_run, run_ids=_id_list(run_ids), experiment_ids=experiments)
    if as_json:
        emit_json(report)
        return
    verb = "Would remove" if dry_run else "Removed"
    click.echo(f"{verb} {len(report['run_ids'])} run(s) and {len(report['experiment_ids'])} experiment(s)")
    for run_id in report["run_ids"]:
        click.echo(f"  run {run_id}")
    for experiment_id in report["experiment_ids"]:
        click.echo(f"  experiment {experiment_id}")


@click.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--tracking-uri", default=None, help="Send to this server instead of the one each entry recorded.")
def sync(folder: Path | None, tracking_uri: str | None) -> None:
    """Send what the SDK journaled and did not send: journals of processes that died or ran
    offline. FOLDER defaults to <home>/journal; it may be a copy of another machine's. Each batch
    is applied once, however often it is replayed; journals of running processes are left alone."""
    from runstone.config import Settings
    from runstone.sdk.client import RunstoneClient
    from runstone.sdk.journal import sync as replay

    clients: dict[str, RunstoneClient] = {}

    def client_for(uri: str) -> RunstoneClient:
        if uri not in clients:
            clients[uri] = RunstoneClient(uri)
        return clients[uri]

    directory = folder or Settings().home / "journal"
    try:
        report = replay(directory, client_for, tracking_uri=tracking_uri)
    finally:
        for opened in clients.values():
            opened.close()
    click.echo(
        f"Synced {report.operations} operation(s) ({report.metrics} metric points) from {report.files} journal file(s)"
    )
    if report.damaged_lines:
        click.echo(f"Skipped {report.damaged_lines} damaged journal line(s) (checksum mismatch)", err=True)
    if report.busy_files:
        click.echo(f"Left {report.busy_files} journal file(s) that running processes are still writing")


@group()
def audit() -> None:
    """Read and verify the tamper-evident audit trail."""


def _moment(value: str | None) -> int | None:
    """Milliseconds since the epoch, or an ISO date/time (UTC unless it names a zone)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither milliseconds since the epoch nor an ISO date/time.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


_filters = passthrough(
    click.option("--target-type", default=None, help="run, experiment, registered_model, user, token, group, ..."),
    click.option("--target-id", default=None),
    click.option("--actor", default=None, help="Who acted (the signed-in user with auth on)."),
    click.option("--action", default=None, help="An action (token.create), or a prefix ending in '.' (token.)."),
    click.option("--since", default=None, help="From this time: ms since the epoch or ISO (2026-12-04T10:00)."),
    click.option("--until", default=None, help="Before this time: ms since the epoch or ISO."),
)


@audit.command("list")
@tracking_uri
@_filters
@click.option("--limit", type=int, default=100, show_default=True)
@as_json
def list_events(
    tracking_uri: str | None,
    target_type: str | None,
    target_id: str | None,
    actor: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List audit events, oldest first."""
    events = client(tracking_uri).audit_events(
        target_type=target_type,
        target_id=target_id,
        actor=actor,
        action=action,
        since=_moment(since),
        until=_moment(until),
        limit=limit,
    )
    if as_json:
        emit_json(events)
        return
    table(
        None,
        ["seq", "time", "actor", "action", "target"],
        [[e["seq"], when(e["time"]), e["actor"], e["action"], f"{e['target_type']} {e['target_id']}"] for e in events],
    )


@audit.command("export")
@tracking_uri
@_filters
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
def export(
    tracking_uri: str | None,
    target_type: str | None,
    target_id: str | None,
    actor: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    fmt: str,
) -> None:
    """Write every matching audit event, oldest first, one JSON object a line (with its hashes)."""
    c = client(tracking_uri)
    after = 0
    while True:
        page = c.audit_events(
            target_type=target_type,
            target_id=target_id,
            actor=actor,
            action=action,
            since=_moment(since),
            until=_moment(until),
            after=after,
            limit=1000,
        )
        for event in page:
            click.echo(json.dumps(event, sort_keys=True, separators=(",", ":")))
        if len(page) < 1000:
            return
        after = page[-1]["seq"]


@audit.command()
@tracking_uri
@as_json
def verify(tracking_uri: str | None, as_json: bool) -> None:
    """Recompute the hash chain; exit 1 if any event was altered, inserted or removed."""
    result = client(tracking_uri).verify_audit()
    if as_json:
        emit_json(result)
    elif result["ok"]:
        click.echo(f"Audit chain intact: {result['events']} events, head {result['head']}")
    else:
        click.echo(f"Audit chain BROKEN: {result['problem']}", err=True)
    if not result["ok"]:
        raise SystemExit(1)
