"""Migrations are code with tests: upgrade and downgrade on a populated database, the models
match the migrations, and an out-of-date database is refused with the command that fixes it."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from runstone.entities import Metric
from runstone.errors import SchemaOutOfDate
from runstone.governance.context import Context
from runstone.store import schema
from runstone.store.engine import Database
from runstone.store.tables import Base
from runstone.tracking.service import TrackingService


def test_models_match_migrations(empty_db_url):
    """If this fails, a table changed without a migration: write one (see runstone/store/migrations)
    with `alembic revision --autogenerate`-style operations, then run `runstone db upgrade`."""
    db = Database(empty_db_url)
    schema.upgrade(db)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    db.dispose()
    assert diff == [], f"tables and migrations disagree: {diff}"


def test_downgrade_and_upgrade_a_populated_database(empty_db_url, tmp_path):
    db = Database(empty_db_url)
    schema.upgrade(db)
    tracking = TrackingService(Context(db), str(tmp_path))
    run_id = tracking.create_run().info.run_id
    tracking.log_batch(run_id, [Metric("m", 1.0, 1, 0)], {"p": "1"})
    revisions = [schema.head_revision()]
    # Walking down to the base and back up again leaves a working, empty schema.
    schema.downgrade(db, "base")
    assert schema.current_revision(db) is None
    schema.upgrade(db)
    assert schema.current_revision(db) == revisions[0]
    assert TrackingService(Context(db), str(tmp_path)).get_experiment("0").name == "Default"
    db.dispose()


def test_fresh_database_is_created_on_first_use(empty_db_url):
    db = Database(empty_db_url)
    schema.prepare(db)
    assert schema.current_revision(db) == schema.head_revision()
    schema.prepare(db)  # idempotent
    db.dispose()


def test_out_of_date_schema_is_refused_with_the_fix(empty_db_url):
    db = Database(empty_db_url)
    schema.upgrade(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(SchemaOutOfDate, match="runstone") as info:
        schema.prepare(db)
    assert "0000" in info.value.message
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    with pytest.raises(SchemaOutOfDate, match="runstone db upgrade"):
        schema.prepare(db)
    db.dispose()


def test_metric_blocks_are_backfilled_from_stored_points(empty_db_url, tmp_path):
    """Upgrading a database that already holds metrics summarizes its points (revisions 0005, 0006)."""
    db = Database(empty_db_url)
    schema.upgrade(db, "0004")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (id, uuid, experiment_id, name, user_id, status, start_time, lifecycle_stage, "
                "artifact_key) VALUES (1, 'aaaa', 0, 'r', 'u', 'RUNNING', 1, 'active', '0/aaaa/artifacts')"
            )
        )
        conn.execute(text("INSERT INTO metric_keys (id, key) VALUES (1, 'loss')"))
        conn.execute(
            text("INSERT INTO metrics (run_id, key_id, step, timestamp, value) VALUES (1, 1, :s, :s, :v)"),
            [{"s": s, "v": 1000.0 if s == 4321 else 1.0} for s in range(10_000)],
        )
    schema.upgrade(db)
    service = TrackingService(Context(db), str(tmp_path))
    # 100 points come from the 32-step blocks (revision 0006), 10 from the 256-step ones (0005).
    for max_points in (100, 10):
        history = service.get_metric_history("aaaa", "loss", max_points=max_points)
        assert history.downsampled
        assert max_points - 2 <= len(history) <= max_points
        assert (4321, 1000.0) in zip(history.steps, history.values, strict=True)
        assert history.steps[0] == 0 and history.steps[-1] == 9_999
    db.dispose()


def test_an_older_known_revision_is_refused_with_the_upgrade_command(empty_db_url):
    db = Database(empty_db_url)
    schema.upgrade(db, "0004")
    head = schema.head_revision()
    with pytest.raises(SchemaOutOfDate, match=f"at revision 0004 but this runstone needs {head}") as info:
        schema.prepare(db)
    assert info.value.message.endswith("Back up the database, then run: runstone db upgrade")
    assert info.value.details == {"current": "0004", "head": head}
    schema.upgrade(db)
    schema.prepare(db)
    assert schema.current_revision(db) == head
    db.dispose()


def _layout(db: Database) -> dict[str, object]:
    """Every table's columns, primary key, foreign keys, unique constraints and indexes."""
    from sqlalchemy import inspect

    with db.engine.connect() as conn:
        found = inspect(conn)
        out: dict[str, object] = {}
        for table in sorted(found.get_table_names()):
            out[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in found.get_columns(table)
                ],
                "primary_key": found.get_pk_constraint(table)["constrained_columns"],
                "foreign_keys": sorted(
                    (
                        tuple(f["constrained_columns"]),
                        f["referred_table"],
                        tuple(f["referred_columns"]),
                        str(f.get("options", {}).get("ondelete")),
                    )
                    for f in found.get_foreign_keys(table)
                ),
                "unique": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in found.get_indexes(table)
                ),
            }
        if db.dialect == "sqlite":  # AUTOINCREMENT shows only in the table's SQL
            sql = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all()
            out["autoincrement"] = sorted(name for name, ddl in sql if ddl and "AUTOINCREMENT" in ddl.upper())
            out["without_rowid"] = sorted(name for name, ddl in sql if ddl and "WITHOUT ROWID" in ddl.upper())
            triggers = conn.execute(text("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")).all()
        else:
            triggers = conn.execute(
                text(
                    "SELECT event_object_table, trigger_name || ' ' || event_manipulation FROM information_schema.triggers"
                )
            ).all()
        out["triggers"] = sorted(tuple(row) for row in triggers)
        return out


def test_a_new_database_gets_the_same_schema_as_running_every_migration(tmp_path, empty_db_url):
    """A new store is created from the table definitions in one go (much faster than replaying
    the migrations); it must be the very schema the migrations build, stamped at their head."""
    fresh = Database(empty_db_url)
    schema.prepare(fresh)
    assert schema.current_revision(fresh) == schema.head_revision()
    assert TrackingService(Context(fresh), str(tmp_path)).get_experiment("0").name == "Default"
    with fresh.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    fresh_layout, fresh_rows = _layout(fresh), _seeded(fresh)
    if fresh.dialect == "postgresql":  # the same database, emptied again
        with fresh.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    fresh.dispose()

    if empty_db_url.startswith("sqlite"):
        migrated = Database(f"sqlite:///{tmp_path / 'migrated.db'}")
    else:
        migrated = Database(empty_db_url)
    schema.upgrade(migrated)
    assert _layout(migrated) == fresh_layout
    # Both start with the same rows: the Default experiment, written by one function.
    assert _seeded(migrated) == fresh_rows == [(0, "Default", "0", "active", None)]
    migrated.dispose()


def _seeded(db: Database) -> list[tuple[object, ...]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, name, artifact_key, lifecycle_stage, deleted_time FROM experiments ORDER BY id")
        )
        return [tuple(row) for row in rows]


def test_the_head_read_at_start_is_the_head_alembic_reports():
    """A start recognises an up-to-date database from the scripts' text, without importing
    Alembic; the head it reads there must be the one Alembic's API gives."""
    from alembic.script import ScriptDirectory

    alembic_head = ScriptDirectory.from_config(schema._config()).get_current_head()
    assert schema._scripted_head() == schema.head_revision() == alembic_head


def test_scripts_that_are_not_one_plain_chain_leave_the_head_to_alembic(tmp_path, monkeypatch):
    versions = tmp_path / "versions"
    versions.mkdir()
    for script in (schema.MIGRATIONS / "versions").glob("*.py"):
        (versions / script.name).write_text(script.read_text())
    monkeypatch.setattr(schema, "MIGRATIONS", tmp_path)
    assert schema._scripted_head() == schema.head_revision()
    # A second branch off the first revision: two heads, which only Alembic can settle.
    (versions / "9001_branch.py").write_text('revision = "9001"\ndown_revision = "0001"\n')
    assert schema._scripted_head() is None
    (versions / "9001_branch.py").write_text('revision = "9001"\ndown_revision = ("0001", "0002")\n')
    assert schema._scripted_head() is None


def test_versions_registered_before_manifests_get_them_from_the_recorded_checksums(empty_db_url, tmp_path):
    """Revision 0008 records the manifest of every existing version from the SHA-256 recorded
    when each file was logged, not from the bytes in storage now."""
    import hashlib

    from runstone.entities import ManifestFile, manifest_digest

    db = Database(empty_db_url)
    schema.upgrade(db, "0007")
    run = "a" * 32
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (id, uuid, experiment_id, name, user_id, status, start_time, lifecycle_stage, "
                "artifact_key) VALUES (1, :run, 0, 'r', 'u', 'FINISHED', 1, 'active', :key)"
            ),
            {"run": run, "key": f"0/{run}/artifacts"},
        )
        conn.execute(
            text("INSERT INTO artifacts (run_id, path, size, sha256, updated_time) VALUES (1, :p, :s, :h, 1)"),
            [
                {"p": "model/MLmodel", "s": 3, "h": "1" * 64},
                {"p": "model/model.pkl", "s": 5, "h": "2" * 64},
                {"p": "model-2/model.pkl", "s": 5, "h": "3" * 64},
                {"p": "notes.txt", "s": 1, "h": "4" * 64},
            ],
        )
        conn.execute(
            text(
                "INSERT INTO registered_models (id, name, description, created_by, creation_time, last_update_time) "
                "VALUES (1, 'fraud', '', 'u', 1, 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO model_versions (id, model_id, version, source, run_uuid, status, stage, description, "
                "created_by, creation_time, last_update_time) "
                "VALUES (1, 1, 1, :source, :run, 'READY', 'None', '', 'u', 1, 1)"
            ),
            {"source": f"runs:/{run}/model", "run": run},
        )
    schema.upgrade(db)
    from runstone.backend import open_backend
    from runstone.config import Settings

    backend = open_backend(Settings(home=tmp_path, backend_store_uri=empty_db_url))
    registry = backend.registry()
    manifest = registry.get_model_version_manifest("fraud", 1)
    assert manifest.files == (ManifestFile("MLmodel", 3, "1" * 64), ManifestFile("model.pkl", 5, "2" * 64))
    listing = f"{'1' * 64}  MLmodel\n{'2' * 64}  model.pkl\n"
    assert registry.get_model_version("fraud", 1).manifest_digest == hashlib.sha256(listing.encode()).hexdigest()
    assert manifest.digest == manifest_digest(manifest.files)
    backend.close()
    schema.downgrade(db, "0007")  # and back: the columns go, the versions stay
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT source FROM model_versions")).scalar() == f"runs:/{run}/model"
    db.dispose()


def _chain() -> list[str]:
    """Revisions from the first to the head."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(schema._config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_every_migration_steps_down_and_up_again_on_a_populated_database(empty_db_url, tmp_path):
    """Each migration's downgrade runs on a database holding data, its upgrade runs again on top,
    and the rows of the tables the first migration made survive every step."""
    db = Database(empty_db_url)
    schema.upgrade(db)
    tracking = TrackingService(Context(db), str(tmp_path))
    run_id = tracking.create_run(run_name="kept").info.run_id
    tracking.log_batch(run_id, [Metric("loss", 1.0 / (s + 1), 1, s) for s in range(300)], {"lr": "0.1"}, {"t": "v"})
    chain = _chain()
    for index in range(len(chain) - 1, 0, -1):
        revision, below = chain[index], chain[index - 1]
        schema.downgrade(db, below)
        schema.upgrade(db, revision)
        assert schema.current_revision(db) == revision
        schema.downgrade(db, below)
        assert schema.current_revision(db) == below
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT value FROM params")).scalar() == "0.1"
            assert conn.execute(text("SELECT name FROM runs")).scalar() == "kept"
    schema.upgrade(db)
    again = TrackingService(Context(db), str(tmp_path))
    assert len(again.get_metric_history(run_id, "loss").steps) == 300
    assert again.get_run(run_id).data.params == {"lr": "0.1"}
    db.dispose()


def test_a_runs_artifact_total_follows_every_change_of_its_manifest(empty_db_url, tmp_path):
    """The database keeps each run's artifact bytes (the per-run limit reads them): after new
    files, a replaced one, removed ones and a deleted run, whichever way the rows change."""
    db = Database(empty_db_url)
    schema.prepare(db)
    tracking = TrackingService(Context(db), str(tmp_path))
    runs = [tracking.create_run().info.run_id for _ in range(2)]

    def totals() -> dict[str, int]:
        with db.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT r.uuid, t.bytes FROM artifact_totals t JOIN runs r ON r.id = t.run_id")
            ).all()
        return {uuid: int(size) for uuid, size in rows if uuid in runs}

    def manifest(sql: str, **values: object) -> None:
        with db.transaction(write=True) as s:
            s.execute(text(sql), values)

    with db.engine.connect() as conn:
        first, second = (conn.execute(text("SELECT id FROM runs WHERE uuid = :u"), {"u": r}).scalar() for r in runs)
    insert = "INSERT INTO artifacts (run_id, path, size, sha256, updated_time) VALUES (:r, :p, :s, 'x', 0)"
    manifest(insert, r=first, p="a", s=10)
    manifest(insert, r=first, p="b/c", s=5)
    manifest(insert, r=second, p="a", s=7)
    assert totals() == {runs[0]: 15, runs[1]: 7}
    manifest("UPDATE artifacts SET size = 3 WHERE run_id = :r AND path = 'a'", r=first)  # replaced
    assert totals() == {runs[0]: 8, runs[1]: 7}
    manifest("UPDATE artifacts SET run_id = :to WHERE run_id = :r AND path = 'b/c'", r=first, to=second)
    assert totals() == {runs[0]: 3, runs[1]: 12}
    manifest("DELETE FROM artifacts WHERE run_id = :r", r=second)
    assert totals() == {runs[0]: 3, runs[1]: 0}
    manifest("DELETE FROM runs WHERE id = :r", r=first)  # its files go with it, and its total
    assert totals() == {runs[1]: 0}
    db.dispose()
