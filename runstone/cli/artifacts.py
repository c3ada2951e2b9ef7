"""runstone artifacts"""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from runstone.cli.common import as_json, client, tracking_uri
from runstone.cli.output import console, emit_json, group, table


@group()
def artifacts() -> None:
    """List, upload and download the artifacts of runs."""


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@artifacts.command("list")
@tracking_uri
@click.argument("run_id")
@click.argument("path", default="")
@as_json
def list_artifacts(tracking_uri: str | None, run_id: str, path: str, as_json: bool) -> None:
    """List artifacts of a run (inside PATH)."""
    files = client(tracking_uri).list_artifacts(run_id, path)
    if as_json:
        emit_json([f.__dict__ for f in files])
        return
    table(
        None,
        ["path", "type", "size", "sha256"],
        [[f.path, "dir" if f.is_dir else "file", f.file_size, (f.sha256 or "")[:16]] for f in files],
    )


@artifacts.command()
@tracking_uri
@click.argument("run_id")
@click.argument("path", default="")
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to download into.",
)
def download(tracking_uri: str | None, run_id: str, path: str, output: Path) -> None:
    """Download an artifact file or folder (everything when PATH is empty)."""
    c = client(tracking_uri)
    files = c._artifacts.files(run_id, path.strip("/"))
    total = sum(f.file_size or 0 for f in files)
    with _progress() as progress:
        task = progress.add_task("downloading", total=total)
        local = c.download_artifacts(run_id, path, output, progress=lambda n: progress.advance(task, n))
    click.echo(f"Downloaded {len(files)} file(s) to {local}")


@artifacts.command()
@tracking_uri
@click.argument("run_id")
@click.argument("local_path", type=click.Path(exists=True, path_type=Path))
@click.option("--artifact-path", default=None, help="Folder inside the run's artifacts.")
def upload(tracking_uri: str | None, run_id: str, local_path: Path, artifact_path: str | None) -> None:
    """Upload a file or a folder into a run's artifacts."""
    c = client(tracking_uri)
    sources = [local_path] if local_path.is_file() else [p for p in local_path.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in sources)
    with _progress() as progress:
        task = progress.add_task("uploading", total=total)
        advance = lambda n: progress.advance(task, n)  # noqa: E731
        if local_path.is_file():
            c.log_artifact(run_id, local_path, artifact_path, progress=advance)
        else:
            c.log_artifacts(run_id, local_path, artifact_path, progress=advance)
    click.echo(f"Uploaded {len(sources)} file(s)")
