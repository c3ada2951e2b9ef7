"""MLflow's runs, metrics and artifacts/list endpoints."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from fastapi import APIRouter

from runstone import limits
from runstone.entities import Dataset, LoggedModelMetric, Metric, Run, RunModelLinks
from runstone.errors import InvalidInput, PayloadTooLarge
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.limits import MAX_RESULTS
from runstone.server.http import JSON
from runstone.server.mlflow_compat import translate
from runstone.server.mlflow_compat.artifacts import file_entries
from runstone.server.mlflow_compat.protocol import MlflowRoute, double, invalid, missing, parse_double
from runstone.server.mlflow_compat.services import RUN_STATUSES, VIEW_TYPES, Artifacts, LoggedModels, Msg, Tracking
from runstone.tracking import tags as native
from runstone.tracking.service import TrackingService

router = APIRouter(route_class=MlflowRoute, default_response_class=JSON, include_in_schema=False)

# MLflow's limits on one request (runstone.limits).
MAX_METRICS_PER_BATCH = limits.MLFLOW_MAX_METRICS_PER_BATCH
MAX_PARAMS_TAGS_PER_BATCH = limits.MLFLOW_MAX_PARAMS_TAGS_PER_BATCH
MAX_ENTITIES_PER_BATCH = limits.MLFLOW_MAX_ENTITIES_PER_BATCH
MAX_RUNS_PER_BULK_HISTORY = limits.MLFLOW_MAX_RUNS_PER_BULK_HISTORY
MAX_POINTS_PER_RUN = limits.MLFLOW_MAX_POINTS_PER_RUN
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"


def _run_json(run: Run, root: str, models: LoggedModels) -> dict[str, object]:
    links = models.links_for_runs([run.info.run_id]).get(run.info.run_id, RunModelLinks())
    return translate.run(run, root, links)


def _split_tags(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], str | None]:
    """Tags in runstone's names, and the run name when MLflow's run-name tag is among them."""
    tags: dict[str, str] = {}
    run_name = None
    for key, value in pairs:
        if key == translate.RUN_NAME_TAG:
            run_name = value
        else:
            tags[translate.tag_to_native(key)] = value
    return tags, run_name


def _check_limit(what: str, limit: int, count: int) -> None:
    if count > limit:
        raise PayloadTooLarge(
            f"A batch logging request can contain at most {limit} {what}. Got {count} {what}. "
            f"Please split up {what} across multiple requests and try again."
        )


# ------------------------------------------------------------------ runs
@router.post("/runs/create")
@needs(Permission.EDIT, "experiment", "experiment_id", "default:0")
def create_run(msg: Msg, service: Tracking) -> dict[str, object]:
    tags, tag_name = _split_tags(msg.pairs("tags"))
    user = msg.string("user_id") or tags.get(native.USER)
    run = service.create_run(
        msg.string("experiment_id") or "0",
        run_name=msg.string("run_name") or tag_name or None,
        start_time=msg.integer("start_time"),
        tags=tags,
        user_id=user or None,
    )
    return {"run": translate.run(run, service.root, RunModelLinks())}


@router.get("/runs/get")
@needs(Permission.READ, "run", "run_id", "run_uuid")
def get_run(msg: Msg, service: Tracking, models: LoggedModels) -> dict[str, object]:
    return {"run": _run_json(service.get_run(msg.run_id()), service.root, models)}


@router.post("/runs/update")
@needs(Permission.EDIT, "run", "run_id", "run_uuid")
def update_run(msg: Msg, service: Tracking) -> dict[str, object]:
    status = msg.enum("status", RUN_STATUSES, "") or None
    run = service.update_run(
        msg.run_id(), status=status, end_time=msg.integer("end_time"), run_name=msg.string("run_name") or None
    )
    return {"run_info": translate.run_info(run.info, service.root)}


@router.post("/runs/delete")
@needs(Permission.EDIT, "run", "run_id", "run_uuid")
def delete_run(msg: Msg, service: Tracking) -> dict[str, object]:
    # MLflow deletes a deleted run again without complaint; so does this route.
    service.delete_run(msg.run_id(), if_active=True)
    return {}


@router.post("/runs/restore")
@needs(Permission.EDIT, "run", "run_id", "run_uuid")
def restore_run(msg: Msg, service: Tracking) -> dict[str, object]:
    service.restore_run(msg.run_id(), if_deleted=True)
    return {}


@router.post("/runs/search")
@needs(Permission.READ, "experiment", "experiment_ids")
def search_runs(msg: Msg, service: Tracking, models: LoggedModels) -> dict[str, object]:
    max_results = msg.integer("max_results", default=1000)
    if max_results is not None and not 1 <= max_results <= MAX_RESULTS:
        raise invalid("max_results", max_results, f"It must be between 1 and {MAX_RESULTS}.")
    page = service.search_runs(
        msg.strings("experiment_ids"),
        translate.run_filter(msg.string("filter")),
        msg.enum("run_view_type", VIEW_TYPES, "ACTIVE_ONLY"),
        max_results,
        translate.run_order_by(msg.strings("order_by")),
        msg.string("page_token") or None,
    )
    out: dict[str, object] = {}
    if page.items:
        links = models.links_for_runs([r.info.run_id for r in page])
        out["runs"] = [translate.run(r, service.root, links.get(r.info.run_id)) for r in page]
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


# ------------------------------------------------------------------ logging
def _metric(entry: dict[str, Any], path: str, run_id: str) -> tuple[Metric, LoggedModelMetric | None, str | None]:
    key = entry.get("key")
    if not key:
        raise missing(f"{path}key")
    if not isinstance(key, str):
        raise invalid(f"{path}key", key)
    value = parse_double(entry.get("value"), f"{path}value", required=True)
    assert value is not None
    timestamp, step = entry.get("timestamp"), entry.get("step", 0)
    if timestamp is None:
        raise missing(f"{path}timestamp")
    for name, number in (("timestamp", timestamp), ("step", step)):
        # int64 travels as a JSON number or, in proto-JSON, as a string of digits.
        integral = isinstance(number, float) and number.is_integer()
        if integral or (isinstance(number, str) and number.lstrip("-").isdigit()):
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int):
            raise invalid(f"{path}{name}", number)
        if name == "timestamp":
            timestamp = number
        else:
            step = number
    point = Metric(key, value, timestamp, step)
    model_id = entry.get("model_id") or None
    if model_id is None:
        return point, None, None
    linked = LoggedModelMetric(
        key, value, timestamp, step, run_id, entry.get("dataset_name") or None, entry.get("dataset_digest") or None
    )
    return point, linked, str(model_id)


def _log(
    service: TrackingService,
    run_id: str,
    entries: list[dict[str, Any]],
    params: list[tuple[str, str]],
    tag_pairs: list[tuple[str, str]],
    *,
    prefix: str = "metrics",
) -> None:
    """One MLflow logging request as one service command: all of it is written, or nothing."""
    points: list[Metric] = []
    model_points: list[tuple[str, LoggedModelMetric]] = []
    for i, entry in enumerate(entries):
        # The common point (a named number, integer timestamp and step, no model) is taken as it
        # is; anything else goes through _metric's checks and messages. This loop runs once per
        # point, a thousand times for the stock client's log_batch.
        key, value, timestamp, step = entry.get("key"), entry.get("value"), entry.get("timestamp"), entry.get("step", 0)
        if (
            type(key) is str
            and key
            and (type(value) is float or type(value) is int)  # by exact type: a bool is no value
            and type(timestamp) is int
            and type(step) is int
            and not entry.get("model_id")
        ):
            points.append(Metric(key, float(value), timestamp, step))
            continue
        point, model_point, model_id = _metric(entry, f"{prefix}[{i}]." if prefix else "", run_id)
        if model_point is None or model_id is None:
            points.append(point)
        else:
            model_points.append((model_id, model_point))
    tags, run_name = _split_tags(tag_pairs)
    service.log_batch(run_id, metrics=points, params=params, tags=tags, run_name=run_name, model_metrics=model_points)


@router.post("/runs/log-metric")
@needs(Permission.EDIT, "run", "run_id", "run_uuid", in_transaction=True)
def log_metric(msg: Msg, service: Tracking) -> dict[str, object]:
    run_id = msg.run_id()
    entry = {
        name: msg.raw(name) for name in ("key", "value", "timestamp", "model_id", "dataset_name", "dataset_digest")
    }
    entry["step"] = msg.raw("step") if msg.has("step") else 0
    _log(service, run_id, [entry], [], [], prefix="")
    return {}


@router.post("/runs/log-parameter")
@needs(Permission.EDIT, "run", "run_id", "run_uuid", in_transaction=True)
def log_param(msg: Msg, service: Tracking) -> dict[str, object]:
    service.log_param(msg.run_id(), msg.required("key"), msg.string("value", default="") or "")
    return {}


@router.post("/runs/set-tag")
@needs(Permission.EDIT, "run", "run_id", "run_uuid", in_transaction=True)
def set_tag(msg: Msg, service: Tracking) -> dict[str, object]:
    run_id, key = msg.run_id(), msg.required("key")
    value = msg.string("value", default="") or ""
    if key == translate.RUN_NAME_TAG:
        service.update_run(run_id, run_name=value)
    else:
        service.set_tag(run_id, translate.tag_to_native(key), value)
    return {}


@router.post("/runs/delete-tag")
@needs(Permission.EDIT, "run", "run_id", "run_uuid")
def delete_tag(msg: Msg, service: Tracking) -> dict[str, object]:
    key = msg.required("key")
    if key == translate.RUN_NAME_TAG:
        raise InvalidInput(f"{translate.RUN_NAME_TAG} is the run's name: rename the run instead of deleting it.")
    service.delete_tag(msg.run_id(), translate.tag_to_native(key))
    return {}


@router.post("/runs/log-batch")
@needs(Permission.EDIT, "run", "run_id", "run_uuid", in_transaction=True)
def log_batch(msg: Msg, service: Tracking) -> dict[str, object]:
    run_id = msg.run_id()
    metrics, params, tags = msg.objects("metrics"), msg.pairs("params"), msg.pairs("tags")
    _check_limit("metrics", MAX_METRICS_PER_BATCH, len(metrics))
    _check_limit("params", MAX_PARAMS_TAGS_PER_BATCH, len(params))
    _check_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, len(tags))
    _check_limit("metrics, params, and tags", MAX_ENTITIES_PER_BATCH, len(metrics) + len(params) + len(tags))
    _log(service, run_id, metrics, params, tags)
    return {}


@router.post("/runs/log-inputs")
@needs(Permission.EDIT, "run", "run_id", "run_uuid")
def log_inputs(msg: Msg, service: Tracking, models: LoggedModels) -> dict[str, object]:
    run_id = msg.run_id()
    datasets = []
    for i, entry in enumerate(msg.objects("datasets")):
        d = entry.get("dataset")
        if not isinstance(d, dict):
            raise missing(f"datasets[{i}].dataset")
        for name in ("name", "digest", "source_type", "source"):
            if d.get(name) is None:
                raise missing(f"datasets[{i}].dataset.{name}")
            if not isinstance(d[name], str):
                raise invalid(f"datasets[{i}].dataset.{name}", d[name])
        tag_pairs = [(t.get("key"), t.get("value", "")) for t in entry.get("tags") or []]
        tags = {translate.tag_to_native(str(k)): str(v) for k, v in tag_pairs if k}
        datasets.append(
            (Dataset(d["name"], d["digest"], d["source_type"], d["source"], d.get("schema"), d.get("profile")), tags)
        )
    if datasets:
        service.log_inputs(run_id, datasets)
    model_ids = [str(m.get("model_id")) for m in msg.objects("models") if m.get("model_id")]
    if model_ids:
        models.link_run(run_id, [(m, 0) for m in model_ids], "input")
    return {}


@router.post("/runs/outputs")
@needs(Permission.EDIT, "run", "run_id", "run_uuid")
def log_outputs(msg: Msg, models: LoggedModels) -> dict[str, object]:
    run_id = msg.run_id()
    outputs = []
    for i, entry in enumerate(msg.objects("models")):
        if not entry.get("model_id"):
            raise missing(f"models[{i}].model_id")
        outputs.append((str(entry["model_id"]), int(entry.get("step") or 0)))
    models.link_run(run_id, outputs, "output")
    return {}


@router.post("/runs/log-model")
@needs(Permission.EDIT, "run", "run_id", "run_uuid")
def log_model(msg: Msg, service: Tracking) -> dict[str, object]:
    """MLflow 2's record of a model logged in a run: appended to the run's model history tag."""
    run_id, raw = msg.run_id(), msg.required("model_json")
    try:
        model = json.loads(raw)
    except ValueError:
        raise invalid("model_json", raw, "It must be a JSON object.") from None
    if not isinstance(model, dict):
        raise invalid("model_json", raw, "It must be a JSON object.")
    for name in ("artifact_path", "flavors", "utc_time_created"):
        if name not in model:
            raise InvalidInput(f"Model json is missing mandatory field '{name}'.")

    def appended(current: str | None) -> str:
        try:
            history = json.loads(current or "[]")
        except ValueError:
            history = []
        if not isinstance(history, list):
            history = []
        history.append(model)
        text = json.dumps(history)
        while len(text) > 8000 and len(history) > 1:  # a tag holds 8000 characters: keep the newest
            history.pop(0)
            text = json.dumps(history)
        return text

    service.rewrite_tag(run_id, LOG_MODEL_HISTORY_TAG, appended)
    return {}


# ------------------------------------------------------------------ metric history
def _window(token: str | None) -> tuple[int | None, int]:
    """Where a page of history starts: at the ``skip``-th point from step ``step`` on."""
    if not token:
        return None, 0
    try:
        window = json.loads(base64.urlsafe_b64decode(token))
        step, skip = window["step"], window["skip"]
        if isinstance(step, int) and isinstance(skip, int) and skip >= 0:
            return step, skip
    except (ValueError, KeyError, TypeError):
        pass
    raise InvalidInput(f"Invalid page token {token!r}.")


@router.get("/metrics/get-history")
@needs(Permission.READ, "run", "run_id", "run_uuid")
def get_metric_history(msg: Msg, service: Tracking) -> dict[str, object]:
    run_id, key = msg.run_id(), msg.required("metric_key")
    max_results = msg.integer("max_results")
    if max_results is not None and max_results <= 0:
        raise InvalidInput(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer."
        )
    # A page token names the step the next page starts at, so a page reads the history from
    # there on rather than from its beginning.
    start_step, skip = _window(msg.string("page_token"))
    # One point more than the page shows: it says whether a next page starts, and where.
    limit = None if max_results is None else skip + max_results + 1
    history = service.get_metric_history(run_id, key, start_step=start_step, limit=limit)
    steps, stamps, values = history.steps, history.timestamps, history.values
    end = len(steps) if max_results is None else min(len(steps), skip + max_results)
    out: dict[str, object] = {}
    if end > skip:
        out["metrics"] = [
            {"key": key, "value": v if v == v and abs(v) != math.inf else double(v), "timestamp": t, "step": st}
            for st, t, v in zip(steps[skip:end], stamps[skip:end], values[skip:end], strict=True)
        ]
    if end < len(steps):
        same = end
        while same > 0 and steps[same - 1] == steps[end]:
            same -= 1
        window = {"step": steps[end], "skip": end - same}
        out["next_page_token"] = base64.urlsafe_b64encode(json.dumps(window).encode()).decode()
    return out


def _bulk(
    service: TrackingService, run_ids: list[str], key: str, max_results: int, start: int | None, end: int | None
) -> dict[str, object]:
    metrics = []
    found = service.get_metric_histories(
        sorted(set(run_ids)), key, max_points=max(2, max_results), start_step=start, end_step=end
    )
    for run_id, history in found.items():
        points = list(zip(history.steps, history.timestamps, history.values, strict=True))[:max_results]
        metrics += [translate.metric(key, v, t, s, run_id) for s, t, v in points]
    return {"metrics": metrics} if metrics else {}


@router.get("/metrics/get-history-bulk-interval")
@needs(Permission.READ, "run", "run_ids")
def get_metric_history_bulk_interval(msg: Msg, service: Tracking) -> dict[str, object]:
    run_ids = msg.strings("run_ids")
    if not run_ids:
        raise missing("run_ids")
    if len(run_ids) > MAX_RUNS_PER_BULK_HISTORY:
        raise InvalidInput(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_PER_BULK_HISTORY} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )
    key = msg.required("metric_key")
    max_results = msg.integer("max_results", default=MAX_POINTS_PER_RUN)
    assert max_results is not None
    if not 1 <= max_results <= MAX_POINTS_PER_RUN:
        raise InvalidInput(f"max_results must be between 1 and {MAX_POINTS_PER_RUN}.")
    start, end = msg.integer("start_step"), msg.integer("end_step")
    if (start is None) != (end is None):
        raise InvalidInput("If either start step or end step are specified, both must be specified.")
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"end_step must be greater than start_step. Found start_step={start} and end_step={end}.")
    return _bulk(service, run_ids, key, max_results, start, end)


@router.get("/metrics/get-history-bulk")
@needs(Permission.READ, "run", "run_id")
def get_metric_history_bulk(msg: Msg, service: Tracking) -> dict[str, object]:
    run_ids = msg.strings("run_id")
    if not run_ids:
        raise missing("run_id")
    if len(run_ids) > MAX_RUNS_PER_BULK_HISTORY:
        raise InvalidInput(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_RUNS_PER_BULK_HISTORY} run_ids."
        )
    max_results = min(msg.integer("max_results", default=25_000) or 25_000, 25_000)
    return _bulk(service, run_ids, msg.required("metric_key"), max_results, None, None)


# ------------------------------------------------------------------ artifacts
@router.get("/artifacts/list")
@needs(Permission.READ, "run", "run_id", "run_uuid")
def list_artifacts(msg: Msg, service: Artifacts, tracking: Tracking) -> dict[str, object]:
    run_id = msg.run_id()
    # Only a trailing '/' is dropped: an absolute or traversing path is refused by the service
    # like on every other artifact route, never answered with an empty listing.
    path = (msg.string("path") or "").rstrip("/")
    run = tracking.get_run(run_id)
    files = file_entries(service.list_artifacts(run_id, path), path, basenames=False)
    out: dict[str, object] = {"root_uri": translate.artifacts_uri(run.info.artifact_uri, tracking.root)}
    if files:
        out["files"] = files
    return out
