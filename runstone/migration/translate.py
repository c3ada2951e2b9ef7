"""MLflow's REST shapes to the values runstone stores."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from runstone.tracking import tags as native

T = TypeVar("T", int, float)
_SPECIAL = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf}
_STATUSES = {
    "LOGGED_MODEL_READY": "READY",
    "LOGGED_MODEL_PENDING": "PENDING",
    "LOGGED_MODEL_UPLOAD_FAILED": "FAILED",
    "LOGGED_MODEL_STATUS_UNSPECIFIED": "PENDING",
}
_RUN_ARTIFACT = re.compile(r"(?:^|/)\d+/(?P<run>[0-9a-f]{32})/artifacts(?:/(?P<path>.*))?$")
_MODEL_ARTIFACT = re.compile(r"(?:^|/)\d+/models/(?P<model>m-[0-9a-f]{32})/artifacts/?$")
_LOGGED_MODEL = re.compile(r"^models:/(?P<model>m-[0-9a-f]{32})/?$")
_RUNS_URI = re.compile(r"^runs:/(?P<run>[0-9a-f]{32})/(?P<path>.+)$")


def number(value: Any, kind: type[T] = int) -> T:
    """An int64 or a double of proto-JSON (numbers, numeric strings, "NaN", "Infinity")."""
    if value is None:
        return kind(0)
    if isinstance(value, str):
        special = _SPECIAL.get(value.strip().lower())
        if special is not None:
            return kind(special)
        return kind(float(value)) if kind is float else kind(int(value))
    return kind(value)


def pairs(items: Iterable[Mapping[str, Any]] | None) -> list[tuple[str, str]]:
    return [(str(i["key"]), "" if i.get("value") is None else str(i["value"])) for i in items or []]


def native_tags(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Run or experiment tags under runstone's names; MLflow's run-name tag is not a tag here."""
    return {native.FROM_MLFLOW.get(k, k): v for k, v in items if k != native.MLFLOW_RUN_NAME}


def dataset_tags(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {native.FROM_MLFLOW.get(k, k): v for k, v in items}


def run_name(info: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    if info.get("run_name"):
        return str(info["run_name"])
    for key, value in pairs(data.get("tags")):
        if key == native.MLFLOW_RUN_NAME and value:
            return value
    return str(info["run_id"])


def logged_model_status(value: object) -> str:
    if isinstance(value, int):
        value = {1: "LOGGED_MODEL_PENDING", 2: "LOGGED_MODEL_READY", 3: "LOGGED_MODEL_UPLOAD_FAILED"}.get(value, "")
    return _STATUSES.get(str(value), "PENDING")


def version_source(source: str, model_id: str | None = None) -> str | None:
    """A registry source runstone accepts, for a model version's MLflow source: the logged
    model (``models:/<id>``) or the model in a run (``runs:/<run>/<path>``) it names, wherever the
    source store kept the files. None when the source names neither."""
    if model_id and re.fullmatch(r"m-[0-9a-f]{32}", model_id):
        return f"models:/{model_id}"
    if _LOGGED_MODEL.match(source) or _RUNS_URI.match(source):
        return source.rstrip("/")
    path = re.sub(r"^[a-z][a-z0-9+.-]*:/*(?:[^/]*@)?", "/", source.rstrip("/"))
    if match := _MODEL_ARTIFACT.search(path):
        return f"models:/{match['model']}"
    if (match := _RUN_ARTIFACT.search(path)) and match["path"]:
        return f"runs:/{match['run']}/{match['path'].strip('/')}"
    return None
