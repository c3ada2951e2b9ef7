"""Two ``runstone server`` processes on one PostgreSQL database and one artifact folder."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from e2e_support import Servers, remote

from runstone.entities import Metric
from runstone.errors import NotFound

pytestmark = pytest.mark.e2e


def test_two_servers_on_one_postgres_serve_the_same_data(pg_schema_url: str, servers: Servers, tmp_path: Path) -> None:
    shared_artifacts = tmp_path / "shared-artifacts"
    # Both replicas come up at the same moment on an empty schema: one creates it, the other
    # waits for it instead of failing on a half-created schema.
    a, b = servers.start_many(2, "--backend-store-uri", pg_schema_url, "--artifacts-destination", str(shared_artifacts))
    payload = os.urandom(300_000)
    (tmp_path / "model.bin").write_bytes(payload)
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "loss.csv").write_text("step,loss\n0,1.0\n")

    with remote(a.url) as via_a, remote(b.url) as via_b:
        # Written through A ...
        experiment_id = via_a.create_experiment("shared", tags={"owner": "a"})
        run_id = via_a.create_run(experiment_id, run_name="replicated").info.run_id
        via_a.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0 / (s + 1), 1_700_000_000_000 + s, s) for s in range(100)],
            params={"lr": "0.1"},
            tags={"stage": "train"},
        )
        via_a.log_artifact(run_id, tmp_path / "model.bin")
        via_a.log_artifacts(run_id, tmp_path / "plots", "plots")

        # ... is read through B.
        shared = via_b.get_experiment_by_name("shared")
        assert shared is not None and shared.experiment_id == experiment_id
        run = via_b.get_run(run_id)
        assert run.data.params == {"lr": "0.1"}
        assert run.data.tags["stage"] == "train"
        assert run.data.metrics["loss"] == pytest.approx(1 / 100)
        assert [m.step for m in via_b.get_metric_history(run_id, "loss")] == list(range(100))
        found = via_b.search_runs([experiment_id], "metrics.loss < 0.02 and params.lr = '0.1'")
        assert [r.info.run_id for r in found] == [run_id]
        listed = {f.path: f for f in via_b.list_artifacts(run_id)}
        assert set(listed) == {"model.bin", "plots"}
        assert listed["model.bin"].sha256 == hashlib.sha256(payload).hexdigest()
        local = via_b.download_artifacts(run_id, "model.bin", tmp_path / "via-b")
        assert Path(local).read_bytes() == payload
        folder = via_b.download_artifacts(run_id, "plots", tmp_path / "via-b")
        assert (Path(folder) / "loss.csv").read_text() == "step,loss\n0,1.0\n"

        # Written through B, read through A.
        via_b.log_batch(run_id, metrics=[Metric("loss", 0.001, 1_700_000_001_000, 100)])
        via_b.rename_experiment(experiment_id, "shared-renamed")
        via_b.set_terminated(run_id)
        run = via_a.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert len(via_a.get_metric_history(run_id, "loss")) == 101
        assert via_a.get_experiment(experiment_id).name == "shared-renamed"

        # A deletion through A and a gc through B remove the run and its files for both.
        via_a.delete_run(run_id)
        assert via_b.search_runs([experiment_id]).items == []
        report = via_b.gc()
        assert report["run_ids"] == [run_id]
        with pytest.raises(NotFound):
            via_a.get_run(run_id)
        assert not [p for p in shared_artifacts.rglob("*") if p.is_file() and p.parent.name != ".tmp"]

        # One audit chain, appended to by both replicas, is intact.
        verification = via_a.verify_audit()
        assert verification["ok"], verification
        actions = [e["action"] for e in via_b.audit_events(limit=10_000)]
        assert "experiment.rename" in actions and "gc.purge" in actions
