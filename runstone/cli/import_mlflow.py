"""runstone import-mlflow"""

from __future__ import annotations

import getpass
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from runstone.cli.common import as_json
from runstone.cli.output import console, emit_json, table
from runstone.config import Settings
from runstone.errors import InvalidInput


class _Bar:
    """The importer's progress, drawn as a bar on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("reading the source", total=None)

    def start(self, total: int) -> None:
        self.progress.update(self.task, total=total, description="importing")

    def advance(self, what: str) -> None:
        self.progress.update(self.task, advance=1, description=f"importing ({what})")


@click.command("import-mlflow")
@click.option(
    "--from",
    "source_uri",
    required=True,
    metavar="URI",
    help="The MLflow tracking server (http://host:port) or its database (sqlite:////path/mlflow.db, postgresql://...).",
)
@click.option(
    "--artifacts",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="MLflow's artifact root folder (its --artifacts-destination or --default-artifact-root). "
    "Without it, artifacts are read through the server's artifact proxy when --from is a server.",
)
@click.option("--backend-store-uri", default=None, help="runstone's metadata database (default: the configured one).")
@click.option("--artifacts-destination", default=None, help="runstone's artifact root (default: the configured one).")
@click.option("--home", type=click.Path(path_type=Path), default=None, help="Home folder of the embedded default.")
@click.option("--user", default=None, help="Actor recorded in the audit trail (default: RUNSTONE_USER or login name).")
@as_json
def import_mlflow(
    source_uri: str,
    artifacts: Path | None,
    backend_store_uri: str | None,
    artifacts_destination: str | None,
    home: Path | None,
    user: str | None,
    as_json: bool,
) -> None:
    """Copy an MLflow store into runstone, idempotently.

    Experiments (matched by name), runs (ids kept), params, metrics with their full history, tags,
    dataset inputs, artifacts, logged models, registered models, versions, aliases and stages.
    Running it again copies only what changed in MLflow since; a final table counts each kind of
    object in MLflow and in runstone. Exits 1 when runstone does not hold everything it counted.
    """
    from runstone.backend import open_backend
    from runstone.migration.artifacts import ArtifactReader, FolderReader, ProxyReader
    from runstone.migration.importer import MlflowImporter
    from runstone.migration.sources import open_source

    overrides = {"backend_store_uri": backend_store_uri, "artifacts_destination": artifacts_destination, "home": home}
    settings = Settings.model_validate({k: v for k, v in overrides.items() if v is not None})
    actor = user or settings.user or getpass.getuser()
    source = open_source(source_uri)
    reader: ArtifactReader | None = None
    if artifacts is not None:
        reader = FolderReader(artifacts)
    elif source.base_url:
        reader = ProxyReader(source.base_url)
    backend = open_backend(settings)
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console.__class__(stderr=True),
            transient=True,
        ) as progress:
            report = MlflowImporter(backend, source, reader, user=actor, progress=_Bar(progress)).run()
    finally:
        source.close()
        backend.close()
        if isinstance(reader, ProxyReader):
            reader.close()
    rows: list[list[object]] = [[kind, c.source, c.runstone] for kind, c in report.counts.items()]
    if as_json:
        emit_json(
            {
                "counts": {kind: {"source": c.source, "runstone": c.runstone} for kind, c in report.counts.items()},
                "written": report.written,
                "notes": report.notes,
            }
        )
    else:
        table(
            f"MLflow ({source.description}) → runstone ({settings.database_uri})", ["kind", "MLflow", "runstone"], rows
        )
        for note in report.notes:
            click.echo(f"Note: {note}")
        click.echo(
            f"{report.written} change(s) written." if report.written else "Nothing to change: runstone is up to date."
        )
    if not report.complete:
        missing = ", ".join(kind for kind, c in report.counts.items() if c.source != c.runstone)
        raise InvalidInput(f"runstone does not hold everything MLflow does ({missing}); see the notes above.")
