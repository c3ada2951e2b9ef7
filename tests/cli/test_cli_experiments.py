"""runstone experiments: list, create, show, rename, delete, restore."""

from __future__ import annotations

from cli_support import Cli, Logged

from runstone.sdk.client import RunstoneClient


def test_create_then_list(cli: Cli) -> None:
    assert cli("experiments", "create", "iris").stdout == "Created experiment 'iris' with id 1\n"
    assert cli.json("experiments", "create", "wine") == {"experiment_id": "2"}
    table = cli("experiments", "list").stdout
    for expected in ("id", "name", "runs", "iris", "wine", "Default", "active"):
        assert expected in table
    listed = cli.json("experiments", "list")
    assert [(e["experiment_id"], e["name"]) for e in listed] == [("2", "wine"), ("1", "iris"), ("0", "Default")]


def test_list_counts_active_runs(cli: Cli, logged: Logged) -> None:
    counts = {e["name"]: e["run_count"] for e in cli.json("experiments", "list")}
    assert counts == {"iris": 3, "wine": 1, "Default": 0}
    cli("runs", "delete", logged.runs[0])
    assert {e["name"]: e["run_count"] for e in cli.json("experiments", "list")}["iris"] == 2


def test_list_filter(cli: Cli, logged: Logged) -> None:
    assert [e["name"] for e in cli.json("experiments", "list", "--filter", "name LIKE 'i%'")] == ["iris"]


def test_show_by_name_or_id(cli: Cli, logged: Logged) -> None:
    by_name = cli.json("experiments", "show", "iris")
    assert by_name["experiment_id"] == logged.iris
    assert by_name["lifecycle_stage"] == "active"
    assert cli.json("experiments", "show", logged.iris) == by_name
    table = cli("experiments", "show", "wine").stdout
    assert "experiment_id" in table and "wine" in table and "artifact_location" in table


def test_numeric_names_still_resolve(cli: Cli) -> None:
    cli("experiments", "create", "2024")
    assert cli.json("experiments", "show", "2024")["name"] == "2024"


def test_rename(cli: Cli, logged: Logged) -> None:
    assert cli("experiments", "rename", "iris", "iris-v2").stdout == "Renamed to 'iris-v2'\n"
    assert cli.json("experiments", "show", logged.iris)["name"] == "iris-v2"
    assert cli.fails("experiments", "show", "iris") == "No experiment with id or name 'iris'."
    assert "already exists" in cli.fails("experiments", "rename", "iris-v2", "wine")


def test_delete_and_restore_with_runs(cli: Cli, logged: Logged, client: RunstoneClient) -> None:
    assert cli("experiments", "delete", "iris").stdout == f"Deleted experiment {logged.iris}\n"
    assert "iris" not in [e["name"] for e in cli.json("experiments", "list")]
    deleted = cli.json("experiments", "list", "--view", "deleted")
    assert [(e["name"], e["lifecycle_stage"]) for e in deleted] == [("iris", "deleted")]
    assert client.get_run(logged.runs[0]).info.lifecycle_stage == "deleted"

    assert cli("experiments", "restore", "iris").stdout == f"Restored experiment {logged.iris}\n"
    assert cli.json("experiments", "show", "iris")["lifecycle_stage"] == "active"
    assert client.get_run(logged.runs[0]).info.lifecycle_stage == "active"
    assert len(cli.json("runs", "list", "-e", "iris")) == 3


def test_errors(cli: Cli, logged: Logged) -> None:
    assert cli.fails("experiments", "create", "iris") == "An experiment named 'iris' already exists."
    assert cli.fails("experiments", "show", "nope") == "No experiment with id or name 'nope'."
    assert cli.fails("experiments", "delete", "404") == "No experiment with id or name '404'."
    assert cli.fails("experiments", "restore", "iris") == f"Experiment {logged.iris} is not deleted."


def test_search_needs_a_filter_and_finds_by_name_and_tag(cli: Cli, logged: Logged, client: RunstoneClient) -> None:
    client.set_experiment_tag(logged.wine, "team", "nlp")
    assert [e["name"] for e in cli.json("experiments", "search", "--filter", "tags.team = 'nlp'")] == ["wine"]
    cli("experiments", "delete", "iris")
    found = cli.json("experiments", "search", "--filter", "name LIKE '%i%'", "--view", "all")
    assert sorted(e["name"] for e in found) == ["iris", "wine"]
    assert "iris" in cli("experiments", "search", "--filter", "name = 'iris'", "--view", "deleted").stdout
    assert "search needs --filter" in cli("experiments", "search", code=2).stderr
    assert cli.fails("experiments", "search", "--filter", "name ~ 'x'").startswith("Invalid filter at position 6")
