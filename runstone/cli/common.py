"""Options every client command shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from runstone.sdk.client import RunstoneClient

tracking_uri = click.option(
    "--tracking-uri",
    envvar="RUNSTONE_TRACKING_URI",
    default=None,
    help="Server URL (http://host:port) or store; default: the embedded store.",
)
as_json = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
trust_requirements = click.option(
    "--trust-requirements",
    is_flag=True,
    help="Hand the package's requirements.txt to pip as it is: pip options (another index, another file), URLs "
    "and local paths in it are followed. Without it such lines are refused and only packages named in it are "
    "installed, from pip's configured index.",
)


def client(uri: str | None) -> RunstoneClient:
    return RunstoneClient(uri)


def resolve_experiment(c: RunstoneClient, ref: str) -> str:
    """An experiment id from an id or a name."""
    from runstone.errors import NotFound

    if ref.isdigit():
        try:
            return c.get_experiment(ref).experiment_id
        except NotFound:
            pass
    found = c.get_experiment_by_name(ref)
    if found is None:
        raise NotFound(f"No experiment with id or name {ref!r}.")
    return found.experiment_id


def passthrough(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(f: object) -> Any:
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply
