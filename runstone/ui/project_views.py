"""What the run page shows of projects: a reproduction's verdict and a sweep's summary."""

from __future__ import annotations

import json
from typing import Any

from runstone.entities import Run
from runstone.errors import NotFound
from runstone.tracking import tags as T
from runstone.tracking.artifacts import ArtifactService

MAX_VERDICT_BYTES = 2 * 1024 * 1024
MAX_DIFFERENCES_SHOWN = 200


def _verdict_table(files: ArtifactService, run_id: str, path: str) -> dict[str, Any] | None:
    try:
        artifact = files.open(run_id, path)
    except NotFound:
        return None
    if (artifact.info.file_size or 0) > MAX_VERDICT_BYTES:
        return None
    try:
        data = json.loads(b"".join(files.read(artifact)))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def reproduction(run: Run, files: ArtifactService) -> dict[str, Any] | None:
    """The latest verdict on this run (it was reproduced) or on what it reproduces."""
    tags = run.data.tags
    verdict = tags.get(T.REPRODUCTION_VERDICT)
    if not verdict:
        return None
    run_id = run.info.run_id
    if tags.get(T.REPRODUCTION_OF):
        role, other, path = "reproduction", tags[T.REPRODUCTION_OF], T.VERDICT_ARTIFACT
    else:
        other = tags.get(T.REPRODUCTION_LATEST, "")
        role, path = "original", f"{T.VERDICTS_FOLDER}/{other}.json"
    table = _verdict_table(files, run_id, path) or {}
    differences = [d for d in table.get("differences", []) if isinstance(d, dict)]
    return {
        "verdict": verdict,
        "role": role,
        "other": other,
        "compared": table.get("compared", {}),
        "differences": differences[:MAX_DIFFERENCES_SHOWN],
        "more": max(0, len(differences) - MAX_DIFFERENCES_SHOWN),
    }


def sweep(run: Run) -> dict[str, Any] | None:
    tags = run.data.tags
    if tags.get(T.SWEEP_ROLE) != "sweep":
        return None
    metric = tags.get(T.SWEEP_METRIC, "")
    return {
        "metric": metric,
        "goal": tags.get(T.SWEEP_GOAL, ""),
        "params": [p for p in tags.get(T.SWEEP_PARAMS, "").split(",") if p],
        "best": tags.get(T.SWEEP_BEST_RUN),
        "best_value": run.data.metrics.get(f"best_{metric}"),
        "counts": {
            k.removeprefix("runstone.sweep."): v
            for k, v in tags.items()
            if k in ("runstone.sweep.complete", "runstone.sweep.pruned", "runstone.sweep.failed")
        },
    }
