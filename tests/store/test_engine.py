"""The metadata database: SQLite's journal and locking settings, and concurrent writers that
wait their turn instead of failing (on SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from runstone.entities import Metric
from runstone.errors import InvalidInput
from runstone.governance.audit import AuditService
from runstone.store.engine import SQLITE_BUSY_TIMEOUT_MS, Database

WRITERS = 8


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_full_sync(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'nested' / 'runstone.db'}")
    try:
        with db.engine.connect() as conn:
            pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
            assert pragma("synchronous") == 2  # FULL: a returned commit survives a power cut
            assert pragma("foreign_keys") == 1
        assert (tmp_path / "nested" / "runstone.db").is_file()
    finally:
        db.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="in-memory SQLite database cannot be shared"):
        Database(url)


def test_writers_in_many_threads_all_succeed(tracking) -> None:
    def train(index: int) -> str:
        run_id: str = tracking.create_run(run_name=f"writer-{index}").info.run_id
        tracking.log_param(run_id, "index", str(index))
        for step in range(25):
            tracking.log_batch(run_id, [Metric("loss", index + step / 100, 1, step)], tags={"step": str(step)})
        tracking.set_terminated(run_id)
        return run_id

    with ThreadPoolExecutor(WRITERS) as pool:
        run_ids = list(pool.map(train, range(WRITERS)))

    assert len(set(run_ids)) == WRITERS
    for index, run_id in enumerate(run_ids):
        run = tracking.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.params == {"index": str(index)} and run.data.tags["step"] == "24"
        assert tracking.get_metric_history(run_id, "loss").steps == list(range(25))
    verification = AuditService(tracking.ctx.db).verify()
    assert verification.ok, verification.problem


def test_a_number_too_wide_for_the_database_is_bad_input_not_a_crash(db_url: str) -> None:
    from sqlalchemy import text

    db = Database(db_url)
    try:
        with pytest.raises(InvalidInput, match=r"too large|cannot accept"), db.transaction() as session:
            session.execute(text("SELECT CAST(:n AS BIGINT)"), {"n": 2**70}).scalar()
    finally:
        db.dispose()
