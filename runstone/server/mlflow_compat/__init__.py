"""MLflow's REST protocol as a translation layer over runstone's services.

The stock ``mlflow`` client works unchanged with ``MLFLOW_TRACKING_URI=http://<runstone>``:
tracking, logged models, the model registry and the artifact proxy are served under
``/api/2.0/mlflow/...``, ``/ajax-api/2.0/mlflow/...`` and ``/api/2.0/mlflow-artifacts/...``
(see docs/migrating-from-mlflow.md). The routes are left out of runstone's OpenAPI document:
their contract is MLflow's.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from runstone.governance.needs import signed_in
from runstone.server.http import JSON
from runstone.server.mlflow_compat import artifacts, experiments, logged_models, multipart, registry, runs, traces
from runstone.server.mlflow_compat.protocol import MlflowRoute, error_response

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
# Artifact uploads (and parts of them) stream to storage and have their own size limit, not the
# JSON body limit.
STREAMED_UPLOADS = r"^/(?:api|ajax-api)/2\.0/mlflow-artifacts/(?:artifacts|mpu/part)/"

_unknown = APIRouter(route_class=MlflowRoute, include_in_schema=False)
_info = APIRouter(route_class=MlflowRoute, include_in_schema=False)


@_info.get("/server-info")
@signed_in
def server_info() -> JSON:
    # The client asks whether to move large artifacts in parts: it uploads them in parts through
    # this proxy (see multipart.py) and downloads whole files, streamed.
    return JSON(
        {
            "store_type": "SqlStore",
            "workspaces_enabled": False,
            "multipart_uploads_enabled": True,
            "multipart_downloads_enabled": False,
        }
    )


@_unknown.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@signed_in
def endpoint_not_found(rest: str) -> JSON:
    # MLflow's client falls back to older endpoints when it gets ENDPOINT_NOT_FOUND.
    return error_response("ENDPOINT_NOT_FOUND", f"This server does not implement the MLflow endpoint {rest!r}.", 404)


def _add(app: FastAPI, router: APIRouter, prefix: str) -> None:
    """The routes of ``router`` under ``prefix``, added to the app's own router one by one.

    ``include_router`` would add one entry that matches a request by trying each of its routes
    in turn, each through FastAPI's effective-route bookkeeping, for every request: MLflow's
    clients call these routes most, and the app's path index (runstone.server.routing) then
    finds each by its own path instead."""
    for route in router.routes:
        assert isinstance(route, MlflowRoute), route
        app.router.add_api_route(
            prefix + route.path,
            route.unanswered,
            methods=sorted(route.methods or ()),
            name=route.name,
            dependencies=route.dependencies,
            status_code=route.status_code,
            include_in_schema=False,
            response_class=router.default_response_class,
            route_class_override=MlflowRoute,
        )


def mount(app: FastAPI) -> None:
    for prefix in ("/api/3.0/mlflow", "/ajax-api/3.0/mlflow"):
        _add(app, _info, prefix)
    for prefix in (*PREFIXES, "/api/3.0/mlflow", "/ajax-api/3.0/mlflow"):
        _add(app, traces.router, prefix)
    for prefix in PREFIXES:
        for module in (experiments, runs, logged_models, registry):
            _add(app, module.router, prefix)
    for prefix in ARTIFACT_PREFIXES:
        _add(app, traces.data_router, prefix)  # before the run and model artifacts
        _add(app, artifacts.router, prefix)
        _add(app, multipart.router, prefix)
    for prefix in (*PREFIXES, *ARTIFACT_PREFIXES, "/api/3.0/mlflow", "/ajax-api/3.0/mlflow"):
        _add(app, _unknown, prefix)
