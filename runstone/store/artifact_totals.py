"""The bytes each run's recorded artifact files hold, kept by the database itself.

Every upload checks the run's total against the operator's limit (max_run_artifact_bytes). Summed
from the manifest, that check read every file row of the run on every upload: a run of ten
thousand files paid most of a millisecond for it each time. Triggers on ``artifacts`` keep the
sum in ``artifact_totals`` instead, in the same transaction as each insert, update or delete,
whichever code or tool changes the manifest, so the check reads one row. The statements here are
used both by the migration that brings them (0018) and by the creation of a new database from
the table definitions (``tables``), so the two cannot drift apart.
"""

from __future__ import annotations

SQLITE = (
    """
    CREATE TRIGGER artifacts_total_insert AFTER INSERT ON artifacts BEGIN
        INSERT INTO artifact_totals (run_id, bytes) VALUES (NEW.run_id, NEW.size)
        ON CONFLICT (run_id) DO UPDATE SET bytes = artifact_totals.bytes + excluded.bytes;
    END
    """,
    """
    CREATE TRIGGER artifacts_total_update AFTER UPDATE OF run_id, size ON artifacts BEGIN
        UPDATE artifact_totals SET bytes = bytes - OLD.size WHERE run_id = OLD.run_id;
        INSERT INTO artifact_totals (run_id, bytes) VALUES (NEW.run_id, NEW.size)
        ON CONFLICT (run_id) DO UPDATE SET bytes = artifact_totals.bytes + excluded.bytes;
    END
    """,
    """
    CREATE TRIGGER artifacts_total_delete AFTER DELETE ON artifacts BEGIN
        UPDATE artifact_totals SET bytes = bytes - OLD.size WHERE run_id = OLD.run_id;
    END
    """,
)

POSTGRESQL = (
    """
    CREATE FUNCTION artifacts_total() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE artifact_totals SET bytes = bytes - OLD.size WHERE run_id = OLD.run_id;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO artifact_totals (run_id, bytes) VALUES (NEW.run_id, NEW.size)
            ON CONFLICT (run_id) DO UPDATE SET bytes = artifact_totals.bytes + EXCLUDED.bytes;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER artifacts_total AFTER INSERT OR DELETE OR UPDATE OF run_id, size ON artifacts
    FOR EACH ROW EXECUTE FUNCTION artifacts_total()
    """,
)

DROP = {
    "sqlite": (
        "DROP TRIGGER IF EXISTS artifacts_total_insert",
        "DROP TRIGGER IF EXISTS artifacts_total_update",
        "DROP TRIGGER IF EXISTS artifacts_total_delete",
    ),
    "postgresql": (
        "DROP TRIGGER IF EXISTS artifacts_total ON artifacts",
        "DROP FUNCTION IF EXISTS artifacts_total()",
    ),
}

BACKFILL = "INSERT INTO artifact_totals (run_id, bytes) SELECT run_id, SUM(size) FROM artifacts GROUP BY run_id"


def create(dialect: str) -> tuple[str, ...]:
    """The statements that create the triggers on ``dialect`` (sqlite or postgresql)."""
    return {"sqlite": SQLITE, "postgresql": POSTGRESQL}[dialect]
