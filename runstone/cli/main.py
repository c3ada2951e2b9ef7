"""runstone: the command line."""

from __future__ import annotations

import click

from runstone.cli import (
    access,
    admin,
    artifacts,
    db,
    deployments,
    experiments,
    import_mlflow,
    models,
    monitor,
    projects,
    registry,
    runs,
    server,
    traces,
    users,
)
from runstone.cli.output import group
from runstone.version import VERSION


@group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="runstone")
def cli() -> None:
    """Experiment tracking, model registry, serving and monitoring.

    Commands talk to the server named by --tracking-uri / RUNSTONE_TRACKING_URI, or, when none
    is set, to the embedded store under RUNSTONE_HOME (default ~/.runstone).
    """


cli.add_command(server.server)
cli.add_command(db.db)
cli.add_command(experiments.experiments)
cli.add_command(runs.runs)
cli.add_command(artifacts.artifacts)
cli.add_command(models.models)
cli.add_command(admin.gc)
cli.add_command(admin.sync)
cli.add_command(admin.audit)
cli.add_command(traces.traces)
cli.add_command(registry.registry)
cli.add_command(deployments.deployments)
cli.add_command(import_mlflow.import_mlflow)
cli.add_command(projects.run)
cli.add_command(projects.reproduce)
cli.add_command(projects.sweep)
cli.add_command(monitor.monitor)
cli.add_command(users.users)
cli.add_command(users.tokens)
cli.add_command(access.groups)
cli.add_command(access.permissions)


def main() -> None:
    cli(prog_name="runstone")
