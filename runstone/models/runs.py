"""The one seam between model packaging and runs: logging a package into a run, registering it,
and downloading packages from runs. The SDK is imported here only, and only when called, so
loading a package from a folder (what a scoring image does) needs no tracking code at all.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runstone.errors import AlreadyExists, InvalidInput, NotFound, Unavailable
from runstone.models.manifest import Model, ModelInfo

if TYPE_CHECKING:
    from runstone.entities import ModelVersion
    from runstone.sdk.client import RunstoneClient

HISTORY_TAG = "mlflow.log-model.history"


def default_client() -> RunstoneClient:
    """The fluent API's client, so that a tracking URI or client given to set_tracking_uri is
    the one used."""
    from runstone.sdk import fluent

    return fluent.default_client()


def client_for(tracking_uri: str) -> RunstoneClient:
    """A client of the tracking server (or store) at ``tracking_uri``."""
    from runstone.sdk.client import RunstoneClient

    return RunstoneClient(tracking_uri)


def download_run_artifacts(run_id: str, path: str, dst: str | os.PathLike[str] | None, client: Any = None) -> Path:
    client = client or default_client()
    target = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix="runstone-model-"))
    target.mkdir(parents=True, exist_ok=True)
    return Path(client.download_artifacts(run_id, path, target))


def download_logged_model(model_id: str, dst: str | os.PathLike[str] | None, client: Any = None) -> Path:
    """The files of a model logged on its own (by an MLflow 3 client), downloaded."""
    client = client or default_client()
    target = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix="runstone-model-"))
    target.mkdir(parents=True, exist_ok=True)
    return Path(client.download_logged_model_artifacts(model_id, "", target))


def _record_history(client: RunstoneClient, run_id: str, model: Model) -> None:
    """Append the model to the run's model history tag (MLflow's, so its UI lists it too)."""
    run = client.get_run(run_id)
    tags = dict(run.data.tags) if hasattr(run.data, "tags") else {}
    try:
        history = json.loads(tags.get(HISTORY_TAG, "[]"))
    except ValueError:
        history = []
    history.append(
        {
            "run_id": run_id,
            "artifact_path": model.artifact_path,
            "utc_time_created": model.utc_time_created,
            "flavors": {name: {} for name in model.flavors},
            "model_uuid": model.model_uuid,
        }
    )
    text = json.dumps(history)
    while len(text) > 8000 and len(history) > 1:  # a tag holds 8000 characters: keep the newest
        history.pop(0)
        text = json.dumps(history)
    client.set_tag(run_id, HISTORY_TAG, text)


def register(client: RunstoneClient, name: str, model_uri: str, run_id: str) -> ModelVersion:
    """Create the registered model when needed and a version from ``model_uri``."""
    try:
        client.create_registered_model(name)
    except AlreadyExists:
        pass
    return client.create_model_version(name, source=model_uri, run_id=run_id)


def log_model(
    save: Callable[[Path, Model], Model],
    name: str,
    *,
    registered_model_name: str | None = None,
    run_id: str | None = None,
) -> ModelInfo:
    """Save a package with ``save(path, model)`` into a temporary folder and upload it into the
    active run (one is started when none is), as ``name``."""
    from runstone.sdk import fluent

    if not name or name.startswith("/") or ".." in Path(name).parts:
        raise InvalidInput(f"Model name {name!r} must be a relative path inside the run's artifacts.")
    client = default_client()
    if run_id is None:
        run = fluent.active_run() or fluent.start_run()
        run_id = run.info.run_id
    with tempfile.TemporaryDirectory(prefix="runstone-model-") as tmp:
        local = Path(tmp) / "model"
        model = save(local, Model(artifact_path=name, run_id=run_id))
        client.log_artifacts(run_id, local, name)
    _record_history(client, run_id, model)
    # Also a logged model of the run, so that MLflow 3's client lists and loads it. Offline (the
    # upload went to the journal) the run keeps the model and training goes on.
    try:
        client.publish_run_model(run_id, name)
    except (Unavailable, NotFound):
        pass
    model_uri = f"runs:/{run_id}/{name}"
    info = ModelInfo.of(model, model_uri)
    if registered_model_name:
        version = register(client, registered_model_name, model_uri, run_id)
        info.registered_model_version = int(version.version)
    return info


# ------------------------------------------------------------ for autologging
def active_run_id() -> str | None:
    from runstone.sdk import fluent

    run = fluent.active_run()
    return run.info.run_id if run else None


def start_run() -> str:
    from runstone.sdk import fluent

    return fluent.start_run().info.run_id


def end_run(status: str) -> None:
    from runstone.sdk import fluent

    fluent.end_run(status)


def log_params(run_id: str, params: Mapping[str, object]) -> None:
    from runstone.sdk import fluent

    fluent.log_params(params, run_id=run_id)


def log_metrics(run_id: str, metrics: dict[str, float], step: int = 0) -> None:
    from runstone.sdk import fluent

    fluent.log_metrics(metrics, step=step, run_id=run_id)


def set_tags(run_id: str, tags: dict[str, str]) -> None:
    from runstone.sdk import fluent

    fluent.set_tags(tags, run_id=run_id)


def log_input(run_id: str, dataset: object, context: str) -> None:
    from runstone.sdk import fluent

    fluent.log_input(dataset, context=context, run_id=run_id)
