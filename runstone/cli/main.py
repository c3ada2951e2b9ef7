"""runstone: the command line."""

from __future__ import annotations

import importlib
from typing import Any

import click

from runstone.cli.output import RunstoneGroup
from runstone.version import VERSION

# Each command's module, imported when the command is run or listed: `runstone server` then
# loads the server's code and not every other command's (their SDK, tables and printing code,
# a tenth of a second of the server's start).
COMMANDS = {
    "server": ("runstone.cli.server", "server"),
    "db": ("runstone.cli.db", "db"),
    "experiments": ("runstone.cli.experiments", "experiments"),
    "runs": ("runstone.cli.runs", "runs"),
    "artifacts": ("runstone.cli.artifacts", "artifacts"),
    "models": ("runstone.cli.models", "models"),
    "gc": ("runstone.cli.admin", "gc"),
    "sync": ("runstone.cli.admin", "sync"),
    "audit": ("runstone.cli.admin", "audit"),
    "traces": ("runstone.cli.traces", "traces"),
    "registry": ("runstone.cli.registry", "registry"),
    "deployments": ("runstone.cli.deployments", "deployments"),
    "import-mlflow": ("runstone.cli.import_mlflow", "import_mlflow"),
    "run": ("runstone.cli.projects", "run"),
    "reproduce": ("runstone.cli.projects", "reproduce"),
    "sweep": ("runstone.cli.projects", "sweep"),
    "monitor": ("runstone.cli.monitor", "monitor"),
    "users": ("runstone.cli.users", "users"),
    "tokens": ("runstone.cli.users", "tokens"),
    "groups": ("runstone.cli.access", "groups"),
    "permissions": ("runstone.cli.access", "permissions"),
}


class LazyGroup(RunstoneGroup):
    """The top-level group: its commands come from ``COMMANDS``, each module imported on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            module, attribute = COMMANDS[cmd_name]
            command: Any = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="runstone")
def cli() -> None:
    """Experiment tracking, model registry, serving and monitoring.

    Commands talk to the server named by --tracking-uri / RUNSTONE_TRACKING_URI, or, when none
    is set, to the embedded store under RUNSTONE_HOME (default ~/.runstone).
    """


def main() -> None:
    cli(prog_name="runstone")
