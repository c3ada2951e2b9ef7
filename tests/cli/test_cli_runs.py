"""runstone runs: list, search, show, delete, restore, move; tables and --json."""

from __future__ import annotations

from typing import Any

from cli_support import Cli, Logged

from runstone.sdk.client import RunstoneClient


def ids(runs: list[dict[str, Any]]) -> list[str]:
    return [r["info"]["run_id"] for r in runs]


def test_list_table(cli: Cli, logged: Logged) -> None:
    out = cli("runs", "list", "--experiment", "iris").stdout
    for column in ("run id", "name", "status", "start", "duration", "user", "metrics.loss", "params.C"):
        assert column in out
    for i, run_id in enumerate(logged.runs):
        line = next(line for line in out.splitlines() if run_id in line)
        assert f"run-{i}" in line and "FINISHED" in line and f"{1 / (i + 1):.6g}" in line
    assert logged.other not in out
    assert out.rstrip().endswith("3 run(s)")


def test_list_json(cli: Cli, logged: Logged) -> None:
    runs = cli.json("runs", "list", "-e", "iris")
    assert sorted(ids(runs)) == sorted(logged.runs)
    first = next(r for r in runs if r["info"]["run_id"] == logged.runs[0])
    assert first["info"]["experiment_id"] == logged.iris
    assert first["data"] == {"metrics": {"loss": 1.0}, "params": {"C": "0", "penalty": "l2"}, "tags": {"team": "nlp"}}


def test_list_by_id_and_several_experiments(cli: Cli, logged: Logged) -> None:
    assert sorted(ids(cli.json("runs", "list", "-e", logged.iris))) == sorted(logged.runs)
    assert sorted(ids(cli.json("runs", "list", "-e", "iris", "-e", "wine"))) == sorted([*logged.runs, logged.other])
    assert cli.json("runs", "list") == []  # the Default experiment has no runs


def test_search_filter_and_order(cli: Cli, logged: Logged) -> None:
    found = cli.json("runs", "search", "-e", "iris", "--filter", "metrics.loss < 0.6", "--order-by", "metrics.loss ASC")
    assert ids(found) == [logged.runs[2], logged.runs[1]]
    found = cli.json("runs", "search", "-e", "iris", "--filter", "params.C = '0' and tags.team = 'nlp'")
    assert ids(found) == [logged.runs[0]]
    found = cli.json("runs", "list", "-e", "iris", "--filter", "params.penalty = 'l2'", "--order-by", "params.C DESC")
    assert ids(found) == list(reversed(logged.runs))


def test_max_results(cli: Cli, logged: Logged) -> None:
    found = cli.json("runs", "list", "-e", "iris", "--order-by", "metrics.loss DESC", "--max-results", "2")
    assert ids(found) == logged.runs[:2]
    out = cli("runs", "list", "-e", "iris", "--max-results", "1").stdout
    assert out.rstrip().endswith("1 run(s)")


def test_chosen_columns(cli: Cli, logged: Logged) -> None:
    out = cli(
        "runs", "search", "-e", "iris", "--filter", "params.C = '1'", "-c", "tags.team", "-c", "params.penalty"
    ).stdout
    header = next(line for line in out.splitlines() if "run id" in line)
    assert "tags.team" in header and "params.penalty" in header
    row = next(line for line in out.splitlines() if logged.runs[1] in line)
    assert "vision" in row and "l2" in row


def test_malformed_filter_names_the_position(cli: Cli, logged: Logged) -> None:
    message = cli.fails("runs", "search", "-e", "iris", "--filter", "metrics.loss <<< 0.6")
    assert message.startswith("Invalid filter at position 15:")
    message = cli.fails("runs", "list", "-e", "iris", "--filter", "metrics.loss < 1 and")
    assert message.startswith("Invalid filter at position 21:")


def test_search_needs_a_filter(cli: Cli) -> None:
    result = cli("runs", "search", code=2)
    assert "search needs --filter" in result.stderr


def test_unknown_experiment(cli: Cli) -> None:
    assert cli.fails("runs", "list", "-e", "nope") == "No experiment with id or name 'nope'."


def test_show(cli: Cli, logged: Logged) -> None:
    run_id = logged.runs[1]
    out = cli("runs", "show", run_id).stdout
    assert f"run {run_id}" in out
    for expected in ("run-1", "FINISHED", "params", "penalty", "metrics (latest)", "loss", "0.5", "tags", "vision"):
        assert expected in out
    shown = cli.json("runs", "show", run_id)
    assert shown["info"]["run_name"] == "run-1"
    assert shown["data"]["metrics"] == {"loss": 0.5}
    missing = "0123456789abcdef0123456789abcdef"
    assert cli.fails("runs", "show", missing) == f"No run with id '{missing}'."


def test_delete_and_restore(cli: Cli, logged: Logged, client: RunstoneClient) -> None:
    a, b, c = logged.runs
    assert cli("runs", "delete", a, b).stdout == f"Deleted run {a}\nDeleted run {b}\n"
    assert ids(cli.json("runs", "list", "-e", "iris")) == [c]
    assert sorted(ids(cli.json("runs", "list", "-e", "iris", "--view", "deleted"))) == sorted([a, b])
    assert len(cli.json("runs", "list", "-e", "iris", "--view", "all")) == 3
    assert client.get_run(a).info.lifecycle_stage == "deleted"

    assert cli("runs", "restore", a).stdout == f"Restored run {a}\n"
    assert sorted(ids(cli.json("runs", "list", "-e", "iris"))) == sorted([a, c])
    assert cli.fails("runs", "restore", a) == f"Run {a} is not deleted."


def test_move(cli: Cli, logged: Logged, client: RunstoneClient) -> None:
    run_id = logged.runs[0]
    assert cli("runs", "move", run_id, "--to", "wine").stdout == f"Moved run {run_id} to experiment {logged.wine}\n"
    assert run_id not in ids(cli.json("runs", "list", "-e", "iris"))
    moved = client.get_run(run_id)
    assert moved.info.experiment_id == logged.wine
    assert moved.data.params == {"C": "0", "penalty": "l2"}
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [1.0]
    assert cli.fails("runs", "move", run_id, "--to", "nope") == "No experiment with id or name 'nope'."


def test_a_bad_run_among_several_changes_none_of_them(cli: Cli, logged: Logged, client: RunstoneClient) -> None:
    a, b, c = logged.runs
    missing = "0123456789abcdef0123456789abcdef"
    assert cli.fails("runs", "delete", a, missing) == f"No run with id '{missing}'."
    cli("runs", "delete", b)
    assert cli.fails("runs", "delete", a, b) == f"Run {b} is already deleted."
    assert cli.fails("runs", "restore", b, c) == f"Run {c} is not deleted."
    assert cli.fails("runs", "move", a, b, "--to", "wine") == f"Run {b} is deleted; restore it before changing it."
    assert [client.get_run(r).info.lifecycle_stage for r in (a, b, c)] == ["active", "deleted", "active"]
    assert {client.get_run(r).info.experiment_id for r in (a, c)} == {logged.iris}
