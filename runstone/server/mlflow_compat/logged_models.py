"""MLflow 3's logged models endpoints, which every 3.x ``log_model`` uses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, StreamingResponse

from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.server.http import JSON
from runstone.server.mlflow_compat import translate
from runstone.server.mlflow_compat.artifacts import file_entries
from runstone.server.mlflow_compat.protocol import MlflowRoute, invalid, missing
from runstone.server.mlflow_compat.services import LOGGED_MODEL_STATUSES, LoggedModels, Msg
from runstone.server.routes.artifacts import file_response

router = APIRouter(route_class=MlflowRoute, default_response_class=JSON, include_in_schema=False)


def _model(models: LoggedModels, model: Any) -> dict[str, object]:
    return {"model": translate.logged_model(model, models.root)}


@router.post("/logged-models")
@needs(Permission.EDIT, "experiment", "experiment_id")
def create_logged_model(msg: Msg, models: LoggedModels) -> dict[str, object]:
    model = models.create(
        msg.string("experiment_id"),
        name=msg.string("name") or None,
        model_type=msg.string("model_type") or None,
        source_run_id=msg.string("source_run_id") or None,
        tags=dict(msg.pairs("tags")),
        params=dict(msg.pairs("params")),
    )
    return _model(models, model)


@router.post("/logged-models/search")
@needs(Permission.READ, "experiment", "experiment_ids")
def search_logged_models(msg: Msg, models: LoggedModels) -> dict[str, object]:
    datasets = []
    for i, d in enumerate(msg.objects("datasets")):
        if not d.get("dataset_name"):
            raise missing(f"datasets[{i}].dataset_name")
        datasets.append((str(d["dataset_name"]), d.get("dataset_digest") or None))
    order_by = []
    for i, o in enumerate(msg.objects("order_by")):
        if not o.get("field_name"):
            raise missing(f"order_by[{i}].field_name")
        ascending = o.get("ascending", True)
        if not isinstance(ascending, bool):
            raise invalid(f"order_by[{i}].ascending", ascending)
        order_by.append((str(o["field_name"]), ascending))
    page = models.search(
        msg.strings("experiment_ids"),
        msg.string("filter"),
        datasets=datasets,
        order_by=order_by,
        max_results=msg.integer("max_results"),
        page_token=msg.string("page_token") or None,
    )
    out: dict[str, object] = {}
    if page.items:
        out["models"] = [translate.logged_model(m, models.root) for m in page]
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@router.get("/logged-models/{model_id}")
@needs(Permission.READ, "logged_model", "model_id")
def get_logged_model(model_id: str, msg: Msg, models: LoggedModels) -> dict[str, object]:
    return _model(models, models.get(model_id, allow_deleted=msg.boolean("allow_deleted")))


@router.patch("/logged-models/{model_id}")
@needs(Permission.EDIT, "logged_model", "model_id")
def finalize_logged_model(model_id: str, msg: Msg, models: LoggedModels) -> dict[str, object]:
    status = msg.enum("status", LOGGED_MODEL_STATUSES, "")
    if not status:
        raise missing("status")
    return _model(models, models.finalize(model_id, status))


@router.delete("/logged-models/{model_id}")
@needs(Permission.EDIT, "logged_model", "model_id")
def delete_logged_model(model_id: str, models: LoggedModels) -> dict[str, object]:
    models.delete(model_id)
    return {}


@router.patch("/logged-models/{model_id}/tags")
@needs(Permission.EDIT, "logged_model", "model_id")
def set_logged_model_tags(model_id: str, msg: Msg, models: LoggedModels) -> dict[str, object]:
    models.set_tags(model_id, dict(msg.pairs("tags")))
    return {}


@router.delete("/logged-models/{model_id}/tags/{tag_key:path}")
@needs(Permission.EDIT, "logged_model", "model_id")
def delete_logged_model_tag(model_id: str, tag_key: str, models: LoggedModels) -> dict[str, object]:
    models.delete_tag(model_id, tag_key)
    return {}


@router.post("/logged-models/{model_id}/params")
@needs(Permission.EDIT, "logged_model", "model_id")
def log_logged_model_params(model_id: str, msg: Msg, models: LoggedModels) -> dict[str, object]:
    models.log_params(model_id, dict(msg.pairs("params")))
    return {}


@router.get("/logged-models/{model_id}/artifacts/directories")
@needs(Permission.READ, "logged_model", "model_id")
def list_logged_model_artifacts(model_id: str, msg: Msg, models: LoggedModels) -> dict[str, object]:
    path = (msg.string("artifact_directory_path") or "").strip("/")
    files = file_entries(models.list_artifacts(model_id, path), path, basenames=False)
    out: dict[str, object] = {"root_uri": translate.artifacts_uri(models.get(model_id).artifact_location, models.root)}
    if files:
        out["files"] = files
    return out


@router.get("/logged-models/{model_id}/artifacts/files", response_model=None)
@needs(Permission.READ, "logged_model", "model_id")
def get_logged_model_artifact(model_id: str, msg: Msg, models: LoggedModels) -> FileResponse | StreamingResponse:
    artifact = models.open(model_id, msg.required("artifact_file_path"))
    return file_response(artifact, models.read)
