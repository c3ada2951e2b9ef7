"""MLflow's experiments endpoints."""

from __future__ import annotations

from fastapi import APIRouter

from runstone.errors import InvalidInput
from runstone.governance.needs import needs, signed_in
from runstone.governance.permissions import Permission
from runstone.limits import MAX_RESULTS
from runstone.server.http import JSON
from runstone.server.mlflow_compat import translate
from runstone.server.mlflow_compat.protocol import MlflowRoute, invalid
from runstone.server.mlflow_compat.services import VIEW_TYPES, Msg, Tracking

router = APIRouter(route_class=MlflowRoute, default_response_class=JSON, include_in_schema=False)


@router.post("/experiments/create")
@signed_in
def create_experiment(msg: Msg, service: Tracking) -> dict[str, object]:
    name = msg.required("name")
    if msg.string("artifact_location"):
        raise InvalidInput(
            "runstone chooses where artifacts are stored; create the experiment without artifact_location "
            "(artifacts travel through this server's mlflow-artifacts proxy)."
        )
    return {"experiment_id": service.create_experiment(name, translate.tags_to_native(msg.pairs("tags")))}


@router.api_route("/experiments/search", methods=["GET", "POST"])
@signed_in
def search_experiments(msg: Msg, service: Tracking) -> dict[str, object]:
    max_results = msg.integer("max_results", default=1000)
    if max_results is not None and not 1 <= max_results <= MAX_RESULTS:
        raise invalid("max_results", max_results, f"It must be between 1 and {MAX_RESULTS}.")
    page = service.search_experiments(
        view_type=msg.enum("view_type", VIEW_TYPES, "ACTIVE_ONLY"),
        filter_string=translate.experiment_filter(msg.string("filter")),
        max_results=max_results,
        order_by=msg.strings("order_by"),
        page_token=msg.string("page_token") or None,
    )
    out: dict[str, object] = {}
    if page.items:
        out["experiments"] = [translate.experiment(e, service.root) for e in page]
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@router.get("/experiments/get")
@needs(Permission.READ, "experiment", "experiment_id")
def get_experiment(msg: Msg, service: Tracking) -> dict[str, object]:
    return {"experiment": translate.experiment(service.get_experiment(msg.required("experiment_id")), service.root)}


@router.get("/experiments/get-by-name")
@needs(Permission.READ, "experiment_name", "experiment_name")
def get_experiment_by_name(msg: Msg, service: Tracking) -> dict[str, object]:
    experiment = service.get_experiment_by_name(msg.required("experiment_name"))
    return {"experiment": translate.experiment(experiment, service.root)}


@router.post("/experiments/delete")
@needs(Permission.MANAGE, "experiment", "experiment_id")
def delete_experiment(msg: Msg, service: Tracking) -> dict[str, object]:
    service.delete_experiment(msg.required("experiment_id"))
    return {}


@router.post("/experiments/restore")
@needs(Permission.MANAGE, "experiment", "experiment_id")
def restore_experiment(msg: Msg, service: Tracking) -> dict[str, object]:
    service.restore_experiment(msg.required("experiment_id"))
    return {}


@router.post("/experiments/update")
@needs(Permission.EDIT, "experiment", "experiment_id")
def update_experiment(msg: Msg, service: Tracking) -> dict[str, object]:
    experiment_id = msg.required("experiment_id")
    new_name = msg.string("new_name")
    if new_name:
        service.rename_experiment(experiment_id, new_name)
    return {}


@router.post("/experiments/set-experiment-tag")
@needs(Permission.EDIT, "experiment", "experiment_id")
def set_experiment_tag(msg: Msg, service: Tracking) -> dict[str, object]:
    key = translate.tag_to_native(msg.required("key"))
    service.set_experiment_tag(msg.required("experiment_id"), key, msg.string("value", default="") or "")
    return {}


@router.post("/experiments/delete-experiment-tag")
@needs(Permission.EDIT, "experiment", "experiment_id")
def delete_experiment_tag(msg: Msg, service: Tracking) -> dict[str, object]:
    service.delete_experiment_tag(msg.required("experiment_id"), translate.tag_to_native(msg.required("key")))
    return {}
