"""The same commands with --tracking-uri, through the server's HTTP stack (in-process)."""

from __future__ import annotations

from pathlib import Path

from cli_support import Cli

from runstone.entities import Metric
from runstone.sdk.client import RunstoneClient

URI = ("--tracking-uri", "http://testserver")


def test_experiments_and_runs_through_the_server(cli: Cli, served: RunstoneClient, home: Path) -> None:
    assert cli.json("experiments", "create", "iris", *URI) == {"experiment_id": "1"}
    run_id = served.create_run("1", run_name="remote").info.run_id
    served.log_batch(run_id, metrics=[Metric("loss", 0.25, 1, 0)], params={"C": "1.0"})

    runs = cli.json("runs", "list", "-e", "iris", *URI)
    assert [r["info"]["run_id"] for r in runs] == [run_id]
    assert runs[0]["data"]["metrics"] == {"loss": 0.25}
    assert run_id in cli("runs", "show", run_id, *URI).stdout
    assert [e["name"] for e in cli.json("experiments", "list", *URI)] == ["iris", "Default"]
    # The embedded store under RUNSTONE_HOME was never touched.
    assert not (home / "runstone.db").exists()


def test_errors_from_the_server_keep_their_message(cli: Cli, served: RunstoneClient) -> None:
    served.create_experiment("iris")
    message = cli.fails("runs", "search", "-e", "iris", "--filter", "metrics.loss <<< 1", *URI)
    assert message.startswith("Invalid filter at position 15:")
    missing = "0123456789abcdef0123456789abcdef"
    assert cli.fails("runs", "delete", missing, *URI) == f"No run with id '{missing}'."


def test_artifacts_and_gc_through_the_server(cli: Cli, served: RunstoneClient, tmp_path: Path) -> None:
    run_id = served.create_run("0").info.run_id
    upload = tmp_path / "up"
    (upload / "nested").mkdir(parents=True)
    (upload / "nested" / "data.txt").write_text("payload\n")
    assert cli("artifacts", "upload", run_id, str(upload), *URI).stdout.strip() == "Uploaded 1 file(s)"
    listed = cli.json("artifacts", "list", run_id, "nested", *URI)
    assert [(f["path"], f["file_size"]) for f in listed] == [("nested/data.txt", 8)]
    cli("artifacts", "download", run_id, "nested", "-o", str(tmp_path / "down"), *URI)
    assert (tmp_path / "down" / "nested" / "data.txt").read_text() == "payload\n"

    cli("runs", "delete", run_id, *URI)
    assert cli.json("gc", "--dry-run", *URI)["run_ids"] == [run_id]
    assert cli.json("runs", "list", "--view", "deleted", *URI)[0]["info"]["run_id"] == run_id
    other = served.create_run("0").info.run_id
    assert cli.fails("gc", "--run-ids", other, *URI).startswith(f"Run {other} is not deleted")
    assert cli.json("gc", "--run-ids", run_id, *URI)["run_ids"] == [run_id]
    served.delete_run(other)
    assert [r["info"]["run_id"] for r in cli.json("runs", "list", "--view", "all", *URI)] == [other]
    assert cli.json("gc", "--older-than", "1d", *URI)["run_ids"] == []
    assert cli.json("gc", *URI)["run_ids"] == [other]
    assert cli("audit", "verify", *URI).stdout.startswith("Audit chain intact")
