"""Optuna's MLflowCallback (optuna-integration) against a real ``runstone server``: each trial of
a study is a run of the study's experiment, with its parameters and objective value."""

from __future__ import annotations

import pytest
from e2e_support import Servers, remote
from stock_client import run_client

pytestmark = pytest.mark.e2e


def test_each_optuna_trial_is_a_run_with_its_params_and_value(tmp_path):
    (tmp_path / "servers").mkdir()
    pool = Servers(tmp_path / "servers")
    try:
        server = pool.start()
        seen = run_client("optuna_study", server.url, cwd=tmp_path)
        with remote(server.url) as client:
            experiment = client.get_experiment_by_name("optuna-study")
            runs = client.search_runs([experiment.experiment_id], order_by=["metrics.loss ASC"])
    finally:
        pool.stop_all()
    assert len(runs) == 5
    by_value = sorted(zip(seen["values"], seen["xs"], strict=True))
    assert [r.data.metrics["loss"] for r in runs] == pytest.approx([v for v, _ in by_value])
    assert [float(r.data.params["x"]) for r in runs] == pytest.approx([x for _, x in by_value])
