"""runstone gc: permanently remove deleted runs and experiments, with their artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import Cli, Logged, sql

from runstone.errors import NotFound
from runstone.sdk.client import RunstoneClient

DAY_MS = 86_400_000


@pytest.fixture
def with_artifacts(logged: Logged, client: RunstoneClient, tmp_path: Path) -> Logged:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"w" * 1000)
    for run_id in [*logged.runs, logged.other]:
        client.log_artifact(run_id, source, "model")
    return logged


def run_folder(home: Path, run_id: str) -> Path:
    found = [p for p in (home / "artifacts").glob(f"*/{run_id}") if p.is_dir()]
    return found[0] if found else home / "artifacts" / "missing" / run_id


def test_dry_run_lists_and_removes_nothing(
    cli: Cli, with_artifacts: Logged, client: RunstoneClient, home: Path
) -> None:
    run_id = with_artifacts.runs[0]
    cli("runs", "delete", run_id)
    out = cli("gc", "--dry-run").stdout
    assert out == f"Would remove 1 run(s) and 0 experiment(s)\n  run {run_id}\n"
    assert cli.json("gc", "--dry-run") == {"run_ids": [run_id], "experiment_ids": [], "dry_run": True}

    assert (run_folder(home, run_id) / "artifacts" / "model" / "weights.bin").exists()
    cli("runs", "restore", run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    assert [f.path for f in client.list_artifacts(run_id)] == ["model"]


def test_removes_deleted_runs_and_their_artifact_folders(
    cli: Cli, with_artifacts: Logged, client: RunstoneClient, home: Path
) -> None:
    gone, kept = with_artifacts.runs[0], with_artifacts.runs[1]
    folder = run_folder(home, gone)
    assert folder.is_dir()
    cli("runs", "delete", gone)

    assert cli("gc").stdout == f"Removed 1 run(s) and 0 experiment(s)\n  run {gone}\n"
    with pytest.raises(NotFound):
        client.get_run(gone)
    assert not folder.exists()
    assert cli.json("runs", "list", "-e", "iris", "--view", "all") != []
    assert (run_folder(home, kept) / "artifacts" / "model" / "weights.bin").read_bytes() == b"w" * 1000
    assert cli.json("gc") == {"run_ids": [], "experiment_ids": [], "dry_run": False}


def test_removes_deleted_experiments_with_their_runs(
    cli: Cli, with_artifacts: Logged, client: RunstoneClient, home: Path
) -> None:
    cli("experiments", "delete", "wine")
    report = cli.json("gc")
    assert report == {"run_ids": [with_artifacts.other], "experiment_ids": [with_artifacts.wine], "dry_run": False}
    assert not run_folder(home, with_artifacts.other).exists()
    assert cli.fails("experiments", "show", "wine") == "No experiment with id or name 'wine'."
    assert len(cli.json("runs", "list", "-e", "iris")) == 3


def test_older_than_respects_the_deletion_time(cli: Cli, with_artifacts: Logged, home: Path) -> None:
    old, recent = with_artifacts.runs[0], with_artifacts.runs[1]
    cli("runs", "delete", old, recent)
    # The old run was deleted two days ago.
    sql(home, "UPDATE runs SET deleted_time = deleted_time - ? WHERE uuid = ?", 2 * DAY_MS, old)

    assert cli.json("gc", "--older-than", "3d", "--dry-run")["run_ids"] == []
    assert cli.json("gc", "--older-than", "1d12h", "--dry-run")["run_ids"] == [old]
    assert cli.json("gc", "--older-than", "1d")["run_ids"] == [old]
    assert not run_folder(home, old).exists()
    assert [r["info"]["run_id"] for r in cli.json("runs", "list", "-e", "iris", "--view", "deleted")] == [recent]
    assert run_folder(home, recent).exists()
    assert cli.json("gc")["run_ids"] == [recent]


def test_invalid_duration(cli: Cli) -> None:
    assert cli.fails("gc", "--older-than", "1x") == "Invalid duration '1x'; use e.g. 30d, 12h or 1d2h30m."


def test_only_the_named_runs_and_experiments(cli: Cli, with_artifacts: Logged, home: Path) -> None:
    first, second, _ = with_artifacts.runs
    cli("runs", "delete", first, second)
    cli("experiments", "delete", "wine")

    assert cli("gc", "--run-ids", first).stdout == f"Removed 1 run(s) and 0 experiment(s)\n  run {first}\n"
    assert not run_folder(home, first).exists()
    assert run_folder(home, second).exists() and run_folder(home, with_artifacts.other).exists()
    report = cli.json("gc", "--experiment-ids", "wine", "--dry-run")
    assert report == {"run_ids": [with_artifacts.other], "experiment_ids": [with_artifacts.wine], "dry_run": True}
    assert cli.json("gc", "--experiment-ids", with_artifacts.wine)["experiment_ids"] == [with_artifacts.wine]
    assert cli.json("runs", "list", "-e", "iris", "--view", "deleted")[0]["info"]["run_id"] == second


def test_named_runs_must_be_deleted(cli: Cli, with_artifacts: Logged, home: Path) -> None:
    deleted, active, _ = with_artifacts.runs
    cli("runs", "delete", deleted)
    message = cli.fails("gc", "--run-ids", f"{deleted},{active}")
    assert message.startswith(f"Run {active} is not deleted; delete it (runstone runs delete {active})")
    assert run_folder(home, deleted).exists()
    assert cli.fails("gc", "--experiment-ids", "iris").startswith(f"Experiment {with_artifacts.iris} is not deleted")
    assert cli.fails("gc", "--experiment-ids", "nope") == "No experiment with id or name 'nope'."
    invalid = cli.fails("gc", "--run-ids", f"{deleted},")
    assert invalid == f"Invalid id list '{deleted},'; separate ids with commas, e.g. 3,7."
