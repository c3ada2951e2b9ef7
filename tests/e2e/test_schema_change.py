"""A migration while a server writes: writes land before it or are refused with 503 after it."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from e2e_support import Servers

from runstone.store import schema
from runstone.store.engine import Database

pytestmark = pytest.mark.e2e

HEADERS = {"X-Runstone-User": "operator"}


def _previous(revision: str) -> str:
    from alembic.script import ScriptDirectory

    down = ScriptDirectory.from_config(schema._config()).get_revision(revision).down_revision
    assert isinstance(down, str)
    return down


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_server_whose_schema_changed_under_it_refuses_writes_with_503(
    servers: Servers, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'runstone.db'}" if backend == "sqlite" else request.getfixturevalue("pg_schema_url")
    server = servers.start("--backend-store-uri", url)
    head = schema.head_revision()
    with httpx.Client(base_url=server.url, timeout=60.0, headers=HEADERS) as http:
        run_id = http.post("/api/v1/runs", json={}).json()["run"]["info"]["run_id"]
        answers: list[int] = []
        stop = threading.Event()

        def write() -> None:
            with httpx.Client(base_url=server.url, timeout=60.0, headers=HEADERS) as writer:
                step = 0
                while not stop.is_set():
                    points = [{"key": "x", "value": 1.0, "timestamp": 1, "step": step + i} for i in range(50)]
                    r = writer.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": points})
                    answers.append(r.status_code)
                    if r.status_code == 200:
                        step += 50

        writer = threading.Thread(target=write)
        writer.start()
        while len(answers) < 5:
            threading.Event().wait(0.02)
        # Another runstone changes the schema while the server writes (here: one step down).
        db = Database(url)
        schema.downgrade(db, _previous(head))
        db.dispose()
        while answers.count(503) < 3:
            threading.Event().wait(0.02)
        stop.set()
        writer.join(60)

        # Every write either landed before the migration or was refused after it: no 500, and
        # once refused, never accepted again by this server.
        assert set(answers) <= {200, 503}, answers
        first_refusal = answers.index(503)
        assert all(code == 503 for code in answers[first_refusal:])
        refused = http.post(f"/api/v1/runs/{run_id}/batch", json={"params": [{"key": "a", "value": "b"}]})
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert error["code"] == "schema_out_of_date"
        assert "Restart it" in error["message"]
        # Reads go on.
        assert http.get(f"/api/v1/runs/{run_id}").status_code == 200

    db = Database(url)
    schema.upgrade(db)
    db.dispose()
