"""MLflow's model registry endpoints over runstone's governed registry.

Governance stays on: a stage or alias that a model's policy protects refuses a direct change
with PERMISSION_DENIED (open a request with ``runstone registry request`` instead).

Version sources are kept as runstone's references: the stock client registers
``models:/<model id>`` (a logged model) or the artifact location of a model in a run,
``mlflow-artifacts:/<experiment>/<run>/artifacts/<path>``, which becomes
``runs:/<run>/<path>``. Anything else (local paths, foreign URLs) is refused by the registry.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter

from runstone.errors import InvalidInput
from runstone.governance.needs import needs, signed_in
from runstone.governance.permissions import Permission
from runstone.server.http import JSON
from runstone.server.mlflow_compat import prompts, translate
from runstone.server.mlflow_compat.protocol import MlflowRoute, missing
from runstone.server.mlflow_compat.services import LoggedModels, Msg, Registry

router = APIRouter(route_class=MlflowRoute, default_response_class=JSON, include_in_schema=False)

_RUN_ARTIFACT = re.compile(r"^mlflow-artifacts:/+(?P<exp>\d+)/(?P<run>[0-9a-f]{32})/artifacts/(?P<path>.+)$")
_MODEL_ARTIFACT = re.compile(r"^mlflow-artifacts:/+(?P<exp>\d+)/models/(?P<model>m-[0-9a-f]{32})/artifacts/?$")


def native_source(source: str, model_id: str | None) -> str:
    """The registry's reference for a source the stock client sends."""
    if model_id and source in (f"models:/{model_id}", ""):
        return f"models:/{model_id}"
    if match := _MODEL_ARTIFACT.match(source):
        return f"models:/{match['model']}"
    if match := _RUN_ARTIFACT.match(source):
        return f"runs:/{match['run']}/{match['path'].strip('/')}"
    return source


def _version(msg: Msg) -> str:
    version = msg.raw("version")
    if version is None or version == "":
        raise missing("version")
    return str(version)


def _versions(items: Any) -> list[dict[str, Any]]:
    return [translate.model_version(v) for v in items]


# ------------------------------------------------------------------ registered models
@router.post("/registered-models/create")
@signed_in
def create_registered_model(msg: Msg, registry: Registry) -> dict[str, object]:
    tags = dict(msg.pairs("tags"))
    prompts.refuse_prompt_model(tags)
    model = registry.create_registered_model(msg.required("name"), msg.string("description") or "", tags)
    return {"registered_model": translate.registered_model(model)}


@router.post("/registered-models/rename")
@needs(Permission.MANAGE, "model", "name")
def rename_registered_model(msg: Msg, registry: Registry) -> dict[str, object]:
    model = registry.rename_registered_model(msg.required("name"), msg.required("new_name"))
    return {"registered_model": translate.registered_model(model)}


@router.patch("/registered-models/update")
@needs(Permission.EDIT, "model", "name")
def update_registered_model(msg: Msg, registry: Registry) -> dict[str, object]:
    name = msg.required("name")
    description = msg.string("description")
    model = registry.update_registered_model(name, description) if description is not None else None
    return {"registered_model": translate.registered_model(model or registry.get_registered_model(name))}


@router.delete("/registered-models/delete")
@needs(Permission.MANAGE, "model", "name")
def delete_registered_model(msg: Msg, registry: Registry) -> dict[str, object]:
    registry.delete_registered_model(msg.required("name"))
    return {}


@router.get("/registered-models/get")
@needs(Permission.READ, "model", "name")
def get_registered_model(msg: Msg, registry: Registry) -> dict[str, object]:
    return {"registered_model": translate.registered_model(registry.get_registered_model(msg.required("name")))}


@router.get("/registered-models/search")
@signed_in
def search_registered_models(msg: Msg, registry: Registry) -> dict[str, object]:
    filter_string, nothing = translate.registered_model_filter(msg.string("filter"))
    if nothing:
        return {}
    page = registry.search_registered_models(
        filter_string, msg.integer("max_results"), msg.strings("order_by"), msg.string("page_token") or None
    )
    out: dict[str, object] = {}
    if page.items:
        out["registered_models"] = [translate.registered_model(m) for m in page]
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@router.api_route("/registered-models/get-latest-versions", methods=["GET", "POST"])
@needs(Permission.READ, "model", "name")
def get_latest_versions(msg: Msg, registry: Registry) -> dict[str, object]:
    versions = registry.get_latest_versions(msg.required("name"), msg.strings("stages") or None)
    return {"model_versions": _versions(versions)} if versions else {}


@router.post("/registered-models/set-tag")
@needs(Permission.EDIT, "model", "name")
def set_registered_model_tag(msg: Msg, registry: Registry) -> dict[str, object]:
    registry.set_registered_model_tag(msg.required("name"), msg.required("key"), msg.string("value") or "")
    return {}


@router.delete("/registered-models/delete-tag")
@needs(Permission.EDIT, "model", "name")
def delete_registered_model_tag(msg: Msg, registry: Registry) -> dict[str, object]:
    registry.delete_registered_model_tag(msg.required("name"), msg.required("key"))
    return {}


@router.post("/registered-models/alias")
@needs(Permission.EDIT, "model", "name")
def set_alias(msg: Msg, registry: Registry) -> dict[str, object]:
    registry.set_registered_model_alias(msg.required("name"), msg.required("alias"), _version(msg))
    return {}


@router.delete("/registered-models/alias")
@needs(Permission.EDIT, "model", "name")
def delete_alias(msg: Msg, registry: Registry) -> dict[str, object]:
    registry.delete_registered_model_alias(msg.required("name"), msg.required("alias"))
    return {}


@router.get("/registered-models/alias")
@needs(Permission.READ, "model", "name")
def get_model_version_by_alias(msg: Msg, registry: Registry) -> dict[str, object]:
    version = registry.get_model_version_by_alias(msg.required("name"), msg.required("alias"))
    return {"model_version": translate.model_version(version)}


# ------------------------------------------------------------------ versions
@router.post("/model-versions/create")
@needs(Permission.EDIT, "model", "name")
@needs(Permission.READ, "run", "run_id", optional=True)
@needs(Permission.READ, "model_source", "source", optional=True)
def create_model_version(msg: Msg, registry: Registry) -> dict[str, object]:
    model_id = msg.string("model_id") or None
    source = msg.string("source") or ""
    if not source and not model_id:
        raise missing("source")
    tags = dict(msg.pairs("tags"))
    prompts.refuse_prompt_version(source, tags)
    version = registry.create_model_version(
        msg.required("name"),
        native_source(source, model_id),
        run_id=msg.string("run_id") or None,
        tags=tags,
        description=msg.string("description") or "",
    )
    return {"model_version": translate.model_version(version)}


@router.patch("/model-versions/update")
@needs(Permission.EDIT, "model", "name")
def update_model_version(msg: Msg, registry: Registry) -> dict[str, object]:
    name, version = msg.required("name"), _version(msg)
    description = msg.string("description")
    updated = (
        registry.update_model_version(name, version, description)
        if description is not None
        else registry.get_model_version(name, version)
    )
    return {"model_version": translate.model_version(updated)}


@router.post("/model-versions/transition-stage")
@needs(Permission.EDIT, "model", "name")
def transition_stage(msg: Msg, registry: Registry) -> dict[str, object]:
    version = registry.transition_model_version_stage(
        msg.required("name"),
        _version(msg),
        msg.required("stage"),
        archive_existing_versions=msg.boolean("archive_existing_versions"),
    )
    return {"model_version": translate.model_version(version)}


@router.delete("/model-versions/delete")
@needs(Permission.MANAGE, "model", "name")
def delete_model_version(msg: Msg, registry: Registry) -> dict[str, object]:
    registry.delete_model_version(msg.required("name"), _version(msg))
    return {}


@router.get("/model-versions/get")
@needs(Permission.READ, "model", "name")
def get_model_version(msg: Msg, registry: Registry) -> dict[str, object]:
    return {"model_version": translate.model_version(registry.get_model_version(msg.required("name"), _version(msg)))}


@router.get("/model-versions/search")
@signed_in
def search_model_versions(msg: Msg, registry: Registry) -> dict[str, object]:
    page = registry.search_model_versions(
        msg.string("filter"), msg.integer("max_results"), msg.strings("order_by"), msg.string("page_token") or None
    )
    out: dict[str, object] = {}
    if page.items:
        out["model_versions"] = _versions(page)
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@router.get("/model-versions/get-download-uri")
@needs(Permission.READ, "model", "name")
def get_download_uri(msg: Msg, registry: Registry, models: LoggedModels) -> dict[str, object]:
    version = registry.get_model_version(msg.required("name"), _version(msg))
    root = registry.tracking.root
    if model_id := translate.logged_model_of(version.source):
        return {"artifact_uri": translate.artifacts_uri(models.get(model_id).artifact_location, root)}
    if version.source.startswith("runs:/"):
        run_id, _, path = version.source.removeprefix("runs:/").partition("/")
        run = registry.tracking.get_run(run_id)
        return {"artifact_uri": translate.artifacts_uri(run.info.artifact_uri, root) + "/" + path.strip("/")}
    raise InvalidInput(f"Model version {version.version} of {version.name!r} has a source this server cannot serve.")


@router.post("/model-versions/set-tag")
@needs(Permission.EDIT, "model", "name")
def set_model_version_tag(msg: Msg, registry: Registry) -> dict[str, object]:
    registry.set_model_version_tag(msg.required("name"), _version(msg), msg.required("key"), msg.string("value") or "")
    return {}


@router.delete("/model-versions/delete-tag")
@needs(Permission.EDIT, "model", "name")
def delete_model_version_tag(msg: Msg, registry: Registry) -> dict[str, object]:
    registry.delete_model_version_tag(msg.required("name"), _version(msg), msg.required("key"))
    return {}
