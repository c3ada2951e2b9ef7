"""runstone artifacts: upload, list and download files and folders."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cli_support import Cli, Logged


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder to upload: model.bin at the top, plots/loss.csv and plots/deep/acc.csv below."""
    root = tmp_path / "outputs"
    (root / "plots" / "deep").mkdir(parents=True)
    (root / "model.bin").write_bytes(os.urandom(300_000))
    (root / "plots" / "loss.csv").write_text("step,loss\n0,1.0\n")
    (root / "plots" / "deep" / "acc.csv").write_text("step,acc\n0,0.5\n")
    return root


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_upload_file_and_folder_then_list(cli: Cli, logged: Logged, files: Path) -> None:
    run_id = logged.runs[0]
    assert cli("artifacts", "upload", run_id, str(files / "model.bin")).stdout.strip() == "Uploaded 1 file(s)"
    out = cli("artifacts", "upload", run_id, str(files / "plots"), "--artifact-path", "figures").stdout
    assert out.strip() == "Uploaded 2 file(s)"

    table = cli("artifacts", "list", run_id).stdout
    model = next(line for line in table.splitlines() if "model.bin" in line)
    assert "file" in model and "300000" in model
    assert hashlib.sha256((files / "model.bin").read_bytes()).hexdigest()[:16] in model
    figures = next(line for line in table.splitlines() if "figures" in line)
    assert "dir" in figures

    inside = cli.json("artifacts", "list", run_id, "figures")
    assert [(f["path"], f["is_dir"]) for f in inside] == [("figures/deep", True), ("figures/loss.csv", False)]
    loss = inside[1]
    assert loss["file_size"] == len("step,loss\n0,1.0\n")
    assert loss["sha256"] == hashlib.sha256(b"step,loss\n0,1.0\n").hexdigest()


def test_download_file_folder_and_everything(cli: Cli, logged: Logged, files: Path, tmp_path: Path) -> None:
    run_id = logged.runs[0]
    cli("artifacts", "upload", run_id, str(files))
    target = tmp_path / "download"

    out = cli("artifacts", "download", run_id, "model.bin", "-o", str(target)).stdout
    assert out.strip() == f"Downloaded 1 file(s) to {target / 'model.bin'}"
    assert (target / "model.bin").read_bytes() == (files / "model.bin").read_bytes()

    out = cli("artifacts", "download", run_id, "plots", "-o", str(target)).stdout
    assert out.strip() == f"Downloaded 2 file(s) to {target / 'plots'}"
    assert tree(target / "plots") == tree(files / "plots")

    everything = tmp_path / "everything"
    cli("artifacts", "download", run_id, "--output", str(everything))
    assert tree(everything) == tree(files)


def test_errors(cli: Cli, logged: Logged, files: Path, tmp_path: Path) -> None:
    run_id = logged.runs[0]
    message = cli.fails("artifacts", "download", run_id, "nope", "-o", str(tmp_path))
    assert message == f"Run {run_id} has no artifact at 'nope'."
    assert "'.' or '..'" in cli.fails("artifacts", "list", run_id, "../other-run")
    cli("runs", "delete", run_id)
    assert "is deleted" in cli.fails("artifacts", "upload", run_id, str(files / "model.bin"))
    result = cli("artifacts", "upload", run_id, str(tmp_path / "missing.txt"), code=2)
    assert "does not exist" in result.stderr


def test_a_terminal_sees_progress_bars_for_uploads_and_downloads(
    cli: Cli, logged: Logged, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    from runstone.cli import artifacts

    screen = io.StringIO()
    monkeypatch.setattr(artifacts, "console", Console(file=screen, force_terminal=True, width=100))
    (tmp_path / "big.bin").write_bytes(os.urandom(3_000_000))
    run_id = logged.runs[0]

    cli("artifacts", "upload", run_id, str(tmp_path / "big.bin"))
    assert "uploading" in screen.getvalue() and "3.0/3.0 MB" in screen.getvalue()
    screen.seek(0)
    screen.truncate()
    cli("artifacts", "download", run_id, "big.bin", "-o", str(tmp_path / "down"))
    assert "downloading" in screen.getvalue() and "3.0/3.0 MB" in screen.getvalue()
    assert (tmp_path / "down" / "big.bin").read_bytes() == (tmp_path / "big.bin").read_bytes()
