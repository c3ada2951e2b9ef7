"""Runs as a pandas DataFrame, with MLflow's columns (pandas is imported when called)."""

from __future__ import annotations

from typing import Any

from runstone.entities import Run


def runs_frame(runs: list[Run]) -> Any:
    import pandas as pd

    rows = []
    for r in runs:
        row: dict[str, object] = {
            "run_id": r.info.run_id,
            "experiment_id": r.info.experiment_id,
            "run_name": r.info.run_name,
            "status": r.info.status,
            "artifact_uri": r.info.artifact_uri,
            "start_time": pd.to_datetime(r.info.start_time, unit="ms", utc=True),
            "end_time": pd.to_datetime(r.info.end_time, unit="ms", utc=True) if r.info.end_time else None,
        }
        row.update({f"metrics.{k}": v for k, v in r.data.metrics.items()})
        row.update({f"params.{k}": v for k, v in r.data.params.items()})
        row.update({f"tags.{k}": v for k, v in r.data.tags.items()})
        rows.append(row)
    if not rows:  # no match still has the run columns, so frame["run_id"] works
        return pd.DataFrame(
            columns=["run_id", "experiment_id", "run_name", "status", "artifact_uri", "start_time", "end_time"]
        )
    return pd.DataFrame(rows)
