"""Which experiment or registered model a request's object belongs to, for permission checks.

A run, its artifacts, its traces and its logged models follow their experiment; a model
version, its files, its approval requests and its deployments follow their registered model.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from runstone.errors import InvalidInput, NotFound
from runstone.store import approvals, deployments, experiments, logged_models, permissions, registry, traces

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# What a route names, and how to find the resource that rules it.
KINDS = (
    "experiment",
    "experiment_name",
    "run",
    "logged_model",
    "trace",
    "artifact_path",
    "model",
    "request",
    "deployment",
    "model_source",
)
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
_RUNS_URI = re.compile(r"^runs:/([0-9a-f]{32})(?:/|$)")
_MODELS_URI = re.compile(r"^models:/(m-[0-9a-f]{32})/?$")


def named_owner(kind: str, value: str) -> tuple[str, str] | None:
    """The resource ruling the object when the value names it itself (no database read), else None."""
    if kind == "experiment":
        return "experiment", str(experiments.parse_id(value))
    return None


def owner(session: Session, kind: str, value: str) -> tuple[str, str]:
    """(resource type, resource id) ruling the object; NotFound when there is no such object."""
    if kind == "experiment":
        return "experiment", str(experiments.parse_id(value))
    if kind == "experiment_name":
        found = experiments.id_by_name(session, value)
        if found is None:
            raise NotFound(f"No experiment named {value!r}.")
        return "experiment", str(found)
    if kind == "run":
        return "experiment", str(permissions.experiment_of_run(session, value))
    if kind == "logged_model":
        return "experiment", str(logged_models.get_ref(session, value).experiment_id)
    if kind == "trace":
        return "experiment", str(traces.experiment_of(session, traces.get_pk(session, value)))
    if kind == "artifact_path":
        # MLflow's proxy keys: <experiment>/<run id>/artifacts/... or <experiment>/models/<model id>/artifacts/...
        parts = value.strip("/").split("/")
        if len(parts) >= 2 and _RUN_ID.match(parts[1]):
            return owner(session, "run", parts[1])
        if len(parts) >= 3 and parts[1] == "models" and _MODEL_ID.match(parts[2]):
            return owner(session, "logged_model", parts[2])
        raise NotFound(f"No run or logged model stores artifacts at {value[:300]!r}.")
    if kind == "model":
        return "model", registry.model_row(session, value).name
    if kind == "request":
        try:
            number = int(value)
        except ValueError:
            raise InvalidInput(f"An approval request id is a number, not {value[:100]!r}.") from None
        return "model", registry.model_by_id(session, approvals.request_row(session, number).model_id).name
    if kind == "deployment":
        try:
            number = int(value)
        except ValueError:
            raise InvalidInput(f"A deployment id is a number, not {value[:100]!r}.") from None
        return "model", deployments.get(session, number).model_name
    if kind == "model_source":
        # A version's source: the run or logged model whose files it copies, readable by the registrant.
        run = _RUNS_URI.match(value)
        if run is not None:
            return owner(session, "run", run.group(1))
        logged = _MODELS_URI.match(value)
        if logged is not None:
            return owner(session, "logged_model", logged.group(1))
        raise InvalidInput(
            f"A model version's source is runs:/<run_id>/<path> or models:/<model_id>, not {value[:300]!r}."
        )
    raise ValueError(f"unknown resource kind {kind!r}")
