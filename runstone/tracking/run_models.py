"""Models logged into a run by runstone's SDK, published as MLflow 3 logged models too.

runstone's SDK logs a model into its run's artifacts (``runs:/<run>/<path>``). So that the stock
MLflow 3 client sees it as well (``mlflow.search_logged_models``, ``models:/m-<id>``), the server
also records it as a logged model of the run: its files are copied, server-side, into the logged
model's own artifacts (a logged model owns its files: deleting the run's copy cannot break it),
and the run lists it among its outputs.
"""

from __future__ import annotations

import posixpath

import yaml

from runstone.entities import LoggedModel
from runstone.errors import InvalidInput
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.logged_models import LoggedModelService

RUN_MODEL_TAG = "runstone.runModel"


def publish(models: LoggedModelService, artifacts: ArtifactService, run_id: str, path: str) -> LoggedModel:
    """Record the model at ``runs:/<run_id>/<path>`` as a logged model of the run."""
    path = path.strip("/")
    files = artifacts.open_all(run_id, path)
    manifest = next((f for f in files if f.info.path == f"{path}/MLmodel"), None)
    if manifest is None:
        raise InvalidInput(f"Run {run_id} has no model at {path!r} (no MLmodel file there).")
    try:
        flavors = yaml.safe_load(b"".join(artifacts.read(manifest))).get("flavors") or {}
    except (yaml.YAMLError, AttributeError):
        raise InvalidInput(f"The MLmodel file of runs:/{run_id}/{path} is not a valid manifest.") from None
    kinds = [name for name in flavors if name != "python_function"]
    model = models.create(
        None,
        name=posixpath.basename(path),
        model_type=kinds[0] if kinds else None,
        source_run_id=run_id,
        tags={RUN_MODEL_TAG: f"runs:/{run_id}/{path}"},
    )
    try:
        for f in files:
            models.log_artifact(model.model_id, f.info.path[len(path) + 1 :], artifacts.read(f))
    except Exception:
        models.finalize(model.model_id, "LOGGED_MODEL_UPLOAD_FAILED")
        raise
    models.link_run(run_id, [(model.model_id, 0)], "output")
    return models.finalize(model.model_id, "LOGGED_MODEL_READY")
