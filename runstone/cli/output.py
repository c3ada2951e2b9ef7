"""Output for people (rich tables) and for scripts (--json), and errors as ``Error: ...``."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from runstone.errors import RunstoneError

# Piped output keeps whole lines; a terminal gets its own width.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 250)


def when(ms: int | None) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def duration(start: int | None, end: int | None) -> str:
    if not start or not end:
        return "-"
    seconds = (end - start) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _safe(value: object) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    return value


def emit_json(data: object) -> None:
    click.echo(json.dumps(_safe(data), indent=2, default=str))


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*["-" if v is None else str(v) for v in row])
    console.print(t)


class RunstoneGroup(click.Group):
    """A command group that turns runstone errors into ``Error: <message>`` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RunstoneError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            sys.exit(1)


def group(**kwargs: Any) -> Callable[[Callable[..., Any]], click.Group]:
    return click.group(cls=RunstoneGroup, **kwargs)
