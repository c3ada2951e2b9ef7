"""runstone registry"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import click

from runstone.cli.common import as_json, client, tracking_uri
from runstone.cli.output import emit_json, group, table, when
from runstone.entities import Gate, ModelVersion, Policy
from runstone.errors import InvalidInput, NotFound
from runstone.tracking.tags import GIT_COMMIT, SOURCE_NAME


@group()
def registry() -> None:
    """Registered models, versions, aliases, stages, approvals, rollback and webhooks.

    The acting user is RUNSTONE_USER (or the login name).
    """


def _versions_table(versions: list[ModelVersion]) -> None:
    table(
        None,
        ["version", "stage", "aliases", "run", "source", "created", "by"],
        [
            [
                v.version,
                v.current_stage,
                ", ".join(v.aliases),
                v.run_id,
                v.source,
                when(v.creation_timestamp),
                v.user_id,
            ]
            for v in versions
        ],
    )


def _parse_time(text: str) -> int:
    """Milliseconds since the epoch, or an ISO date/time (local time when no zone is given)."""
    if text.isdigit():
        return int(text)
    try:
        return int(dt.datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        raise InvalidInput(
            f"Invalid time {text!r}; use e.g. 2026-03-03T14:00 or milliseconds since the epoch."
        ) from None


# ------------------------------------------------------------------------- models
@registry.command("list")
@tracking_uri
@click.option("--filter", "filter_string", default=None, help="e.g. \"name LIKE 'fraud%'\"")
@as_json
def list_models(tracking_uri: str | None, filter_string: str | None, as_json: bool) -> None:
    """List registered models."""
    c = client(tracking_uri)
    found, token = [], None
    while True:
        page = c.search_registered_models(filter_string, max_results=1000, page_token=token)
        found.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    if as_json:
        emit_json([{**m.__dict__, "latest_versions": [v.__dict__ for v in m.latest_versions]} for m in found])
        return
    table(
        None,
        ["name", "aliases", "latest per stage", "updated"],
        [
            [
                m.name,
                ", ".join(f"{a}→{v}" for a, v in m.aliases.items()),
                ", ".join(f"{v.current_stage}: {v.version}" for v in m.latest_versions),
                when(m.last_updated_timestamp),
            ]
            for m in found
        ],
    )


@registry.command()
@tracking_uri
@click.argument("name")
@click.option("--description", default="", help="Markdown description.")
def create(tracking_uri: str | None, name: str, description: str) -> None:
    """Create a registered model."""
    client(tracking_uri).create_registered_model(name, description=description)
    click.echo(f"Created registered model {name!r}")


@registry.command()
@tracking_uri
@click.argument("name")
@as_json
def show(tracking_uri: str | None, name: str, as_json: bool) -> None:
    """Show a registered model and its versions."""
    c = client(tracking_uri)
    model = c.get_registered_model(name)
    versions = list(c.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"]))
    if as_json:
        emit_json({**model.__dict__, "latest_versions": [], "versions": [v.__dict__ for v in versions]})
        return
    click.echo(f"{model.name}: {model.description or '(no description)'}")
    if model.tags:
        click.echo("tags: " + ", ".join(f"{k}={v}" for k, v in model.tags.items()))
    _versions_table(versions)


@registry.command()
@tracking_uri
@click.argument("name")
@click.argument("new_name")
def rename(tracking_uri: str | None, name: str, new_name: str) -> None:
    """Rename a registered model."""
    client(tracking_uri).rename_registered_model(name, new_name)
    click.echo(f"Renamed {name!r} to {new_name!r}")


@registry.command()
@tracking_uri
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(tracking_uri: str | None, name: str, yes: bool) -> None:
    """Delete a registered model and all its versions."""
    if not yes:
        click.confirm(f"Delete {name!r} and all its versions?", abort=True)
    client(tracking_uri).delete_registered_model(name)
    click.echo(f"Deleted registered model {name!r}")


@registry.command()
@tracking_uri
@click.argument("name")
@click.argument("text")
@click.option("--version", default=None, help="Describe this version instead of the model.")
def describe(tracking_uri: str | None, name: str, text: str, version: str | None) -> None:
    """Set the (markdown) description of NAME, or of one of its versions."""
    c = client(tracking_uri)
    if version is None:
        c.update_registered_model(name, text)
        click.echo(f"Described {name}")
    else:
        c.update_model_version(name, version, text)
        click.echo(f"Described {name} version {version}")


@registry.command()
@tracking_uri
@click.argument("name")
@click.argument("key")
@click.argument("value")
@click.option("--version", default=None, help="Tag this version instead of the model.")
def tag(tracking_uri: str | None, name: str, key: str, value: str, version: str | None) -> None:
    """Set tag KEY=VALUE on NAME, or on one of its versions."""
    c = client(tracking_uri)
    if version is None:
        c.set_registered_model_tag(name, key, value)
        click.echo(f"Tagged {name}: {key}={value}")
    else:
        c.set_model_version_tag(name, version, key, value)
        click.echo(f"Tagged {name} version {version}: {key}={value}")


@registry.command()
@tracking_uri
@click.argument("name")
@click.argument("key")
@click.option("--version", default=None, help="Untag this version instead of the model.")
def untag(tracking_uri: str | None, name: str, key: str, version: str | None) -> None:
    """Remove tag KEY from NAME, or from one of its versions."""
    c = client(tracking_uri)
    if version is None:
        c.delete_registered_model_tag(name, key)
        click.echo(f"Removed tag {key} of {name}")
    else:
        c.delete_model_version_tag(name, version, key)
        click.echo(f"Removed tag {key} of {name} version {version}")


# ----------------------------------------------------------------------- versions
@registry.command()
@tracking_uri
@click.argument("name")
@click.argument("source")
@click.option("--description", default="")
@click.option("--create-model", is_flag=True, help="Create the registered model when it does not exist.")
@as_json
def register(
    tracking_uri: str | None, name: str, source: str, description: str, create_model: bool, as_json: bool
) -> None:
    """Register the model logged in a run (SOURCE is runs:/<run_id>/<path>, or models:/m-<id> for a
    model an MLflow 3 client logged) as a new version."""
    c = client(tracking_uri)
    if create_model:
        from runstone.errors import AlreadyExists

        try:
            c.create_registered_model(name)
        except AlreadyExists:
            pass
    version = c.create_model_version(name, source, description=description)
    if as_json:
        emit_json(version.__dict__)
    else:
        click.echo(f"Registered {name} version {version.version} from {version.source}")


@registry.command("version")
@tracking_uri
@click.argument("name")
@click.argument("version")
@as_json
def show_version(tracking_uri: str | None, name: str, version: str, as_json: bool) -> None:
    """Show VERSION of NAME with what it came from: its run, metrics, dataset inputs and code version,
    and the digest of the manifest its files are checked against when loaded."""
    c = client(tracking_uri)
    mv = c.get_model_version(name, version)
    run = None
    if mv.run_id:
        try:
            run = c.get_run(mv.run_id)
        except NotFound:
            pass  # removed for good since; the version still says which run it was
    datasets = [
        {"name": i.dataset.name, "digest": i.dataset.digest, "context": i.context}
        for i in (run.inputs.dataset_inputs if run else [])
    ]
    tags = run.data.tags if run else {}
    code = {k: tags[k] for k in (GIT_COMMIT, SOURCE_NAME) if tags.get(k)}
    if as_json:
        emit_json({**mv.__dict__, "metrics": run.data.metrics if run else {}, "datasets": datasets, "code": code})
        return
    click.echo(f"{name} version {mv.version}: {mv.description or '(no description)'}")
    rows: list[list[Any]] = [
        ["stage", mv.current_stage],
        ["aliases", ", ".join(mv.aliases) or "-"],
        ["source", mv.source],
        ["manifest", mv.manifest_digest or "-"],
        ["run", mv.run_id or "-"],
        ["created", f"{when(mv.creation_timestamp)} by {mv.user_id}"],
        *[[f"tag {k}", v] for k, v in sorted(mv.tags.items())],
        *[[f"metric {k}", v] for k, v in sorted((run.data.metrics if run else {}).items())],
        *[[f"dataset {d['name']}", f"{d['digest']} ({d['context'] or '-'})"] for d in datasets],
        *[[k.removeprefix("runstone.").removeprefix("mlflow."), v] for k, v in code.items()],
    ]
    table(None, ["field", "value"], rows)


@registry.command("delete-version")
@tracking_uri
@click.argument("name")
@click.argument("version")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_version(tracking_uri: str | None, name: str, version: str, yes: bool) -> None:
    """Delete VERSION of NAME (refused while it holds a protected stage or alias)."""
    if not yes:
        click.confirm(f"Delete version {version} of {name!r}?", abort=True)
    client(tracking_uri).delete_model_version(name, version)
    click.echo(f"Deleted {name} version {version}")


@registry.command()
@tracking_uri
@click.argument("name")
@click.argument("alias")
@click.argument("version")
def alias(tracking_uri: str | None, name: str, alias: str, version: str) -> None:
    """Point ALIAS (e.g. champion) of NAME at VERSION."""
    client(tracking_uri).set_registered_model_alias(name, alias, version)
    click.echo(f"{name}@{alias} -> version {version}")


@registry.command()
@tracking_uri
@click.argument("name")
@click.argument("alias")
def unalias(tracking_uri: str | None, name: str, alias: str) -> None:
    """Remove an alias."""
    client(tracking_uri).delete_registered_model_alias(name, alias)
    click.echo(f"Removed {name}@{alias}")


@registry.command()
@tracking_uri
@click.argument("name")
@click.argument("version")
@click.argument("stage", type=click.Choice(["None", "Staging", "Production", "Archived"], case_sensitive=False))
@click.option("--archive-existing", is_flag=True, help="Move the versions now in that stage to Archived.")
def stage(tracking_uri: str | None, name: str, version: str, stage: str, archive_existing: bool) -> None:
    """Move VERSION of NAME to STAGE."""
    moved = client(tracking_uri).transition_model_version_stage(name, version, stage, archive_existing)
    click.echo(f"{name} version {moved.version} is now in {moved.current_stage}")


@registry.command()
@tracking_uri
@click.argument("name")
@click.option("--at", "at", default=None, help="Show which versions held each stage and alias at this time.")
@as_json
def history(tracking_uri: str | None, name: str, at: str | None, as_json: bool) -> None:
    """Every stage and alias assignment of NAME: who, when, why."""
    c = client(tracking_uri)
    events = c.get_model_history(name)
    if at is not None:
        moment = _parse_time(at)
        targets = sorted({(e.kind, e.target) for e in events})
        held = {
            f"{kind} {target}": c.get_model_holders(name, time=moment, **{kind: target}) for kind, target in targets
        }
        if as_json:
            emit_json({"time": moment, "holders": held})
        else:
            table(
                f"{name} at {when(moment)}",
                ["stage / alias", "versions"],
                [[k, ", ".join(v) or "-"] for k, v in held.items()],
            )
        return
    if as_json:
        emit_json([e.__dict__ for e in events])
        return
    table(
        None,
        ["time", "kind", "target", "version", "from", "by", "reason", "request"],
        [
            [
                when(e.time),
                e.kind,
                e.target,
                e.version or "(removed)",
                e.previous_version,
                e.actor,
                e.reason,
                e.request_id,
            ]
            for e in events
        ],
    )


# -------------------------------------------------------------------- governance
_GATE = re.compile(r"^\s*(?:metrics\.)?([\w.\-/ ]+?)\s*(>=|<=|==|>|<)\s*(\S+)\s*$")


def _gate(text: str) -> Gate:
    match = _GATE.match(text)
    if match is None:
        raise InvalidInput(f"Invalid gate {text!r}; use e.g. 'accuracy>=current' or 'auc>0.9'.")
    metric, op, reference = match.groups()
    return Gate(metric, op, "current" if reference == "current" else float(reference))


@registry.command()
@tracking_uri
@click.argument("name")
@click.option("--protect-stage", "stages", multiple=True, help="A stage that only approved requests may change.")
@click.option("--protect-alias", "aliases", multiple=True, help="An alias that only approved requests may change.")
@click.option("--approvals", type=int, default=None, help="Approvals a request needs (default 1).")
@click.option("--gate", "gates", multiple=True, help="Automatic check, e.g. 'accuracy>=current' or 'auc>0.9'.")
@click.option("--rollback-needs-approval", is_flag=True, help="Rollbacks of protected targets need a request too.")
@click.option("--approver-group", default=None, help="With auth on: only this group's members approve requests.")
@click.option("--clear", is_flag=True, help="Protect nothing any more.")
@as_json
def policy(
    tracking_uri: str | None,
    name: str,
    stages: tuple[str, ...],
    aliases: tuple[str, ...],
    approvals: int | None,
    gates: tuple[str, ...],
    rollback_needs_approval: bool,
    approver_group: str | None,
    clear: bool,
    as_json: bool,
) -> None:
    """Show NAME's approval policy, or set it when options are given (they replace the whole policy)."""
    c = client(tracking_uri)
    changes = stages or aliases or approvals is not None or gates or rollback_needs_approval or approver_group
    if clear and changes:
        raise InvalidInput("--clear takes no other policy options.")
    if clear:
        result = c.set_model_policy(name, Policy())
    elif changes:
        current = Policy(
            list(stages),
            list(aliases),
            approvals or 1,
            [_gate(g) for g in gates],
            rollback_needs_approval,
            approver_group,
        )
        result = c.set_model_policy(name, current)
    else:
        result = c.get_model_policy(name)
    data: dict[str, object] = {**result.__dict__, "gates": [g.__dict__ for g in result.gates]}
    if as_json:
        emit_json(data)
        return
    table(f"policy of {name}", ["setting", "value"], [[k, v] for k, v in data.items()])


@registry.command()
@tracking_uri
@click.argument("name")
@click.argument("version")
@click.option("--stage", default=None)
@click.option("--alias", "alias_name", default=None)
@click.option("--comment", "-m", default="", help="Why this change.")
@click.option("--archive-existing", is_flag=True)
@as_json
def request(
    tracking_uri: str | None,
    name: str,
    version: str,
    stage: str | None,
    alias_name: str | None,
    comment: str,
    archive_existing: bool,
    as_json: bool,
) -> None:
    """Request that VERSION of NAME take a (protected) stage or alias."""
    opened = client(tracking_uri).request_transition(
        name, version, stage=stage, alias=alias_name, comment=comment, archive_existing_versions=archive_existing
    )
    if as_json:
        emit_json({**opened.__dict__, "approvals": [a.__dict__ for a in opened.approvals]})
        return
    click.echo(f"Request {opened.id}: {name} version {version} -> {opened.kind} {opened.target} ({opened.status})")
    for gate in opened.evidence.get("gates", []):
        click.echo(f"  gate: {gate['detail']}")


@registry.command()
@tracking_uri
@click.argument("name", required=False)
@click.option("--status", type=click.Choice(["open", "approved", "rejected", "cancelled"]), default=None)
@as_json
def requests(tracking_uri: str | None, name: str | None, status: str | None, as_json: bool) -> None:
    """List approval requests (of NAME)."""
    found = client(tracking_uri).search_requests(name, status)
    if as_json:
        emit_json([{**r.__dict__, "approvals": [a.__dict__ for a in r.approvals]} for r in found])
        return
    table(
        None,
        ["id", "model", "version", "change", "status", "by", "approvals", "comment"],
        [
            [
                r.id,
                r.name,
                r.version,
                f"{r.kind} {r.target}",
                r.status,
                r.requested_by,
                ", ".join(f"{a.approver}:{a.decision}" for a in r.approvals),
                r.comment,
            ]
            for r in found
        ],
    )


def _decide(tracking_uri: str | None, verb: str, request_id: int, comment: str) -> None:
    c = client(tracking_uri)
    result = c.approve_request(request_id, comment) if verb == "approve" else c.reject_request(request_id, comment)
    click.echo(f"Request {result.id} is {result.status}")


@registry.command()
@tracking_uri
@click.argument("request_id", type=int)
@click.option("--comment", "-m", default="")
def approve(tracking_uri: str | None, request_id: int, comment: str) -> None:
    """Approve a request (not your own); the change happens when the policy is met."""
    _decide(tracking_uri, "approve", request_id, comment)


@registry.command()
@tracking_uri
@click.argument("request_id", type=int)
@click.option("--comment", "-m", default="")
def reject(tracking_uri: str | None, request_id: int, comment: str) -> None:
    """Reject a request."""
    _decide(tracking_uri, "reject", request_id, comment)


@registry.command()
@tracking_uri
@click.argument("request_id", type=int)
def cancel(tracking_uri: str | None, request_id: int) -> None:
    """Cancel your own open request."""
    result = client(tracking_uri).cancel_request(request_id)
    click.echo(f"Request {result.id} is {result.status}")


@registry.command()
@tracking_uri
@click.argument("name")
@click.option("--stage", default=None)
@click.option("--alias", "alias_name", default=None)
@click.option("--comment", "-m", default="")
def rollback(tracking_uri: str | None, name: str, stage: str | None, alias_name: str | None, comment: str) -> None:
    """Move a stage or alias of NAME back to the version that held it before."""
    version = client(tracking_uri).rollback(name, stage=stage, alias=alias_name, comment=comment)
    target = f"stage {stage}" if stage else f"alias {alias_name}"
    click.echo(f"Rolled back {name} {target} to version {version.version}")


# ----------------------------------------------------------------------- webhooks
@registry.group()
def webhooks() -> None:
    """Webhooks on registry events (HMAC-signed JSON)."""


@webhooks.command("add")
@tracking_uri
@click.argument("name")
@click.argument("url")
@click.option("--event", "events", multiple=True, default=["*"], show_default=True, help="Event name (repeatable).")
@click.option("--model", "model_name", default=None, help="Only events of this registered model.")
def add_webhook(tracking_uri: str | None, name: str, url: str, events: tuple[str, ...], model_name: str | None) -> None:
    """Register a webhook; prints the signing secret once."""
    hook, secret = client(tracking_uri).create_webhook(name, url, list(events), model_name=model_name)
    click.echo(f"Webhook {hook.id} created. Signing secret (shown once): {secret}")


@webhooks.command("list")
@tracking_uri
@as_json
def list_hooks(tracking_uri: str | None, as_json: bool) -> None:
    """List webhooks."""
    hooks = client(tracking_uri).list_webhooks()
    if as_json:
        emit_json([h.__dict__ for h in hooks])
        return
    table(
        None,
        ["id", "name", "url", "events", "model"],
        [[h.id, h.name, h.url, ", ".join(h.events), h.model_name] for h in hooks],
    )


@webhooks.command("delete")
@tracking_uri
@click.argument("webhook_id", type=int)
def delete_hook(tracking_uri: str | None, webhook_id: int) -> None:
    """Delete a webhook."""
    client(tracking_uri).delete_webhook(webhook_id)
    click.echo(f"Deleted webhook {webhook_id}")
