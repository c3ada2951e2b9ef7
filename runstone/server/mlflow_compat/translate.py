"""runstone entities to MLflow's proto-JSON shapes, and MLflow's system tags to runstone's.

Ids are the same on both sides (experiment ids are decimal strings, run ids 32 hex characters,
logged model ids ``m-<32 hex>``, versions integers). Artifact locations are reported as
``mlflow-artifacts:/<server-generated key>``, so the stock client moves artifacts through this
server's proxy, which maps the key back to its run or logged model.

MLflow's system tags are stored under runstone's names and read back under MLflow's, so what
one client writes the other sees: ``mlflow.runName`` is the run's name (a column, reported as
the tag too), ``mlflow.parentRunId`` is ``runstone.parentRunId``, and so on (``SYSTEM_TAGS``).
Filters and orderings naming MLflow's tags are rewritten to runstone's before searching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from runstone.entities import (
    DatasetInput,
    Experiment,
    LoggedModel,
    ModelVersion,
    RegisteredModel,
    Run,
    RunInfo,
    RunModelLinks,
)
from runstone.server.mlflow_compat.protocol import double
from runstone.tracking import search as grammar
from runstone.tracking import tags as native

SCHEME = "mlflow-artifacts:"
RUN_NAME_TAG = native.MLFLOW_RUN_NAME
USER_TAG = "mlflow.user"
SYSTEM_TAGS = native.FROM_MLFLOW
_FROM_NATIVE = {v: k for k, v in SYSTEM_TAGS.items()}
_LOGGED_MODEL_SOURCE = re.compile(r"^models:/(m-[0-9a-f]{32})/?$")
LOGGED_MODEL_STATUS = {
    "PENDING": "LOGGED_MODEL_PENDING",
    "READY": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
}


def tag_to_native(key: str) -> str:
    return SYSTEM_TAGS.get(key, key)


def tag_from_native(key: str) -> str:
    return _FROM_NATIVE.get(key, key)


def tags_to_native(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {tag_to_native(k): v for k, v in pairs}


def key_values(items: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    pairs = items.items() if isinstance(items, Mapping) else items
    return [{"key": k, "value": v} for k, v in pairs]


def _native_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return key_values((tag_from_native(k), v) for k, v in tags.items())


def _put(out: dict[str, Any], name: str, value: object) -> None:
    """Set a field unless it is unset: proto-JSON leaves out unset fields and empty lists."""
    if value is not None and value != []:
        out[name] = value


# ------------------------------------------------------------------ artifact locations
def artifact_key(location: str, root: str) -> str:
    """The storage key of a native artifact location (``<root>/<key>``)."""
    prefix = root.rstrip("/") + "/"
    return location[len(prefix) :] if location.startswith(prefix) else location


def artifacts_uri(location: str, root: str) -> str:
    return f"{SCHEME}/{artifact_key(location, root)}"


# ------------------------------------------------------------------ tracking entities
def experiment(e: Experiment, root: str) -> dict[str, object]:
    out: dict[str, object] = {
        "experiment_id": e.experiment_id,
        "name": e.name,
        "artifact_location": artifacts_uri(e.artifact_location, root),
        "lifecycle_stage": e.lifecycle_stage,
        "last_update_time": e.last_update_time,
        "creation_time": e.creation_time,
    }
    _put(out, "tags", _native_tags(e.tags))
    return out


def run_info(info: RunInfo, root: str) -> dict[str, object]:
    out: dict[str, object] = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
        "artifact_uri": artifacts_uri(info.artifact_uri, root),
        "lifecycle_stage": info.lifecycle_stage,
    }
    _put(out, "end_time", info.end_time)
    return out


def run_tags(run: Run) -> list[dict[str, str]]:
    tags = {tag_from_native(k): v for k, v in run.data.tags.items()}
    tags.setdefault(RUN_NAME_TAG, run.info.run_name)
    if run.info.user_id:
        tags.setdefault(USER_TAG, run.info.user_id)
    return key_values(tags)


def dataset_input(d: DatasetInput) -> dict[str, object]:
    dataset: dict[str, object] = {
        "name": d.dataset.name,
        "digest": d.dataset.digest,
        "source_type": d.dataset.source_type,
        "source": d.dataset.source,
    }
    _put(dataset, "schema", d.dataset.schema)
    _put(dataset, "profile", d.dataset.profile)
    out: dict[str, object] = {"dataset": dataset}
    _put(out, "tags", _native_tags(d.tags))
    return out


def run(r: Run, root: str, links: RunModelLinks | None = None) -> dict[str, object]:
    data: dict[str, object] = {}
    _put(data, "metrics", [{"key": k, "value": double(v)} for k, v in r.data.metrics.items()])
    _put(data, "params", key_values(r.data.params))
    _put(data, "tags", run_tags(r))
    inputs: dict[str, object] = {}
    _put(inputs, "dataset_inputs", [dataset_input(d) for d in r.inputs.dataset_inputs])
    outputs: dict[str, object] = {}
    if links is not None:
        _put(inputs, "model_inputs", [{"model_id": m} for m in links.inputs])
        _put(outputs, "model_outputs", [{"model_id": m, "step": step} for m, step in links.outputs])
    return {"info": run_info(r.info, root), "data": data, "inputs": inputs, "outputs": outputs}


def metric(key: str, value: float, timestamp: int, step: int, run_id: str | None = None) -> dict[str, object]:
    out: dict[str, object] = {"key": key, "value": double(value), "timestamp": timestamp, "step": step}
    _put(out, "run_id", run_id)
    return out


# ------------------------------------------------------------------ logged models
def logged_model(m: LoggedModel, root: str) -> dict[str, object]:
    info: dict[str, object] = {
        "model_id": m.model_id,
        "experiment_id": m.experiment_id,
        "name": m.name,
        "creation_timestamp_ms": m.creation_timestamp,
        "last_updated_timestamp_ms": m.last_updated_timestamp,
        "artifact_uri": artifacts_uri(m.artifact_location, root),
        "status": LOGGED_MODEL_STATUS.get(m.status, "LOGGED_MODEL_STATUS_UNSPECIFIED"),
    }
    _put(info, "model_type", m.model_type)
    _put(info, "source_run_id", m.source_run_id)
    _put(info, "status_message", m.status_message)
    _put(info, "tags", key_values(m.tags))
    _put(info, "registrations", [{"name": n, "version": v} for n, v in m.registrations])
    data: dict[str, object] = {}
    _put(data, "params", key_values(m.params))
    metrics = []
    for p in m.metrics:
        point = metric(p.key, p.value, p.timestamp, p.step, p.run_id)
        point["model_id"] = m.model_id
        _put(point, "dataset_name", p.dataset_name)
        _put(point, "dataset_digest", p.dataset_digest)
        metrics.append(point)
    _put(data, "metrics", metrics)
    return {"info": info, "data": data}


# ------------------------------------------------------------------ registry
def logged_model_of(source: str) -> str | None:
    match = _LOGGED_MODEL_SOURCE.match(source)
    return match.group(1) if match else None


def model_version(v: ModelVersion) -> dict[str, object]:
    out: dict[str, object] = {
        "name": v.name,
        "version": v.version,
        "creation_timestamp": v.creation_timestamp,
        "last_updated_timestamp": v.last_updated_timestamp,
        "user_id": v.user_id,
        "current_stage": v.current_stage,
        "description": v.description,
        "source": v.source,
        "status": v.status,
    }
    _put(out, "run_id", v.run_id)
    _put(out, "tags", key_values(v.tags))
    _put(out, "aliases", list(v.aliases))
    _put(out, "model_id", logged_model_of(v.source))
    return out


def registered_model(m: RegisteredModel) -> dict[str, object]:
    out: dict[str, object] = {
        "name": m.name,
        "creation_timestamp": m.creation_timestamp,
        "last_updated_timestamp": m.last_updated_timestamp,
        "user_id": m.user_id,
        "description": m.description,
    }
    _put(out, "latest_versions", [model_version(v) for v in m.latest_versions])
    _put(out, "tags", key_values(m.tags))
    _put(out, "aliases", [{"alias": a, "version": v} for a, v in m.aliases.items()])
    return out


# ------------------------------------------------------------------ search
_PLURAL = {"metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes", "dataset": "datasets"}


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _identifier(entity: str, key: str) -> str:
    if entity == "attribute":
        return f"attributes.{key}"
    return f"{_PLURAL[entity]}.`{key}`"


def _render(c: grammar.Comparison) -> str:
    ident = _identifier(c.entity, c.key)
    if c.value is None:
        return f"{ident} {c.op}"
    if isinstance(c.value, tuple):
        return f"{ident} {c.op} (" + ", ".join(_quote(v) for v in c.value) + ")"
    if isinstance(c.value, float):
        return f"{ident} {c.op} {c.value!r}"
    return f"{ident} {c.op} {_quote(c.value)}"


def _native_key(entity: str, key: str) -> tuple[str, str]:
    if entity == "tag" and key == RUN_NAME_TAG:
        return "attribute", "run_name"
    if entity == "tag":
        return entity, tag_to_native(key)
    return entity, key


def run_filter(text: str | None) -> str | None:
    """An MLflow run filter, with MLflow's system tags renamed to runstone's."""
    comparisons = grammar.parse_filter(text)
    if all(_native_key(c.entity, c.key) == (c.entity, c.key) for c in comparisons):
        return text
    out = []
    for c in comparisons:
        entity, key = _native_key(c.entity, c.key)
        out.append(_render(grammar.Comparison(entity, key, c.op, c.value, c.position)))  # type: ignore[arg-type]
    return " AND ".join(out)


def run_order_by(clauses: Sequence[str]) -> list[str]:
    clauses = [c for c in clauses if c and c.strip()]
    out = []
    for clause, key in zip(clauses, grammar.parse_order_by(clauses), strict=True):
        entity, name = _native_key(key.entity, key.key)
        if (entity, name) == (key.entity, key.key):
            out.append(clause)
        else:
            out.append(f"{_identifier(entity, name)} {'ASC' if key.ascending else 'DESC'}")
    return out


def experiment_filter(text: str | None) -> str | None:
    comparisons = grammar.parse_experiment_filter(text)
    if not any(c.entity == "tag" and tag_to_native(c.key) != c.key for c in comparisons):
        return text
    return " AND ".join(
        _render(
            grammar.Comparison(
                c.entity, tag_to_native(c.key) if c.entity == "tag" else c.key, c.op, c.value, c.position
            )
        )
        for c in comparisons
    )


PROMPT_TAG = "mlflow.prompt.is_prompt"


def registered_model_filter(text: str | None) -> tuple[str | None, bool]:
    """A registered-model filter without MLflow's prompt clause, and whether it matches nothing.

    The stock client adds ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every search (a model
    without that tag is not a prompt); runstone keeps no prompts, so the clause always holds,
    and its opposite never does.
    """
    comparisons = grammar.parse_filter(text, grammar.REGISTERED_MODELS)
    kept = []
    for c in comparisons:
        if c.entity == "tag" and c.key == PROMPT_TAG and c.op in ("=", "!="):
            if (c.op == "=") == (str(c.value).lower() == "true"):
                return None, True
            continue
        kept.append(c)
    if len(kept) == len(comparisons):
        return text, False
    return (" AND ".join(_render(c) for c in kept) or None), False
