"""runstone audit list|verify and runstone db current|upgrade."""

from __future__ import annotations

from pathlib import Path

from cli_support import Cli, Logged, sql

from runstone.store.schema import head_revision


def test_audit_list(cli: Cli, logged: Logged) -> None:
    events = cli.json("audit", "list", "--target-type", "experiment")
    assert [(e["action"], e["target_id"]) for e in events] == [
        ("experiment.create", logged.iris),
        ("experiment.create", logged.wine),
    ]
    assert events[0]["after"]["name"] == "iris"
    table = cli("audit", "list", "--limit", "1").stdout
    assert "experiment.create" in table and f"experiment {logged.iris}" in table


def test_verify_passes_then_detects_an_edited_row(cli: Cli, logged: Logged, home: Path) -> None:
    intact = cli("audit", "verify").stdout
    assert intact.startswith("Audit chain intact: ")
    count = cli.json("audit", "verify")["events"]
    assert count >= 10

    sql(home, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    result = cli("audit", "verify", code=1)
    assert result.stderr == "Audit chain BROKEN: event 3 was altered\n"
    broken = cli("audit", "verify", "--json", code=1)
    assert '"first_bad_seq": 3' in broken.stdout


def test_verify_detects_a_removed_row(cli: Cli, logged: Logged, home: Path) -> None:
    sql(home, "DELETE FROM audit_events WHERE seq = 2")
    assert cli("audit", "verify", code=1).stderr == "Audit chain BROKEN: event 2 is missing (found seq 3)\n"


def test_db_current_and_upgrade(cli: Cli, home: Path, tmp_path: Path) -> None:
    head = head_revision()
    assert cli("db", "current").stdout == f"database: empty\nrequired: {head}\n"
    assert cli("db", "upgrade").stdout == f"Schema at {head} (was None)\n"
    assert (home / "runstone.db").exists()
    assert cli("db", "current").stdout == f"database: {head}\nrequired: {head}\n"
    assert cli("db", "upgrade").stdout == f"Schema at {head} (already up to date)\n"

    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert cli("db", "upgrade", "--backend-store-uri", other).stdout == f"Schema at {head} (was None)\n"
    assert cli("db", "current", "--backend-store-uri", other).stdout == f"database: {head}\nrequired: {head}\n"


def test_commands_refuse_an_out_of_date_store(cli: Cli, home: Path) -> None:
    cli("db", "upgrade")
    sql(home, "UPDATE alembic_version SET version_num = 'ffffffffffff'")
    assert "newer runstone" in cli.fails("experiments", "list")
    assert "newer runstone" in cli.fails("db", "upgrade")


def test_an_older_store_is_refused_until_db_upgrade_brings_it_and_its_runs_along(
    cli: Cli, home: Path, logged: Logged
) -> None:
    from runstone.sdk import client as client_module
    from runstone.store import schema
    from runstone.store.engine import Database

    client_module.close_local_backends()
    db = Database(f"sqlite:///{home / 'runstone.db'}")
    schema.downgrade(db, "0004")  # the schema of an older runstone, with its data
    db.dispose()

    message = cli.fails("runs", "list", "-e", "iris")
    assert message.startswith("The database schema is at revision 0004 but this runstone needs")
    assert message.endswith("run: runstone db upgrade")
    assert cli("db", "upgrade").stdout == f"Schema at {head_revision()} (was 0004)\n"
    runs = cli.json("runs", "list", "-e", "iris", "--order-by", "metrics.loss ASC")
    assert [r["info"]["run_id"] for r in runs] == logged.runs[::-1]
