"""The native API's one typed contract: every /api/v1 answer is declared in the OpenAPI document
by a response model of runstone.schemas, the document is well formed, and the models are the
entities' shapes (a field added to an entity and not to its model fails here)."""

from __future__ import annotations

import dataclasses
import math
import re
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel

from runstone import entities
from runstone.governance.audit import Verification
from runstone.schemas import access, deployments, meta, monitoring, registry, tracking
from runstone.tracking.gc import GcReport

_BINARY = {"application/octet-stream", "application/zip", "application/vnd.apache.parquet"}
_SCHEMA_KEYS = {"$ref", "type", "anyOf", "allOf", "oneOf", "enum", "const"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The document as the server builds it (no database needed to describe the API)."""
    from runstone.config import Settings
    from runstone.server.app import create_app

    # A bare namespace: building the routes reads no database, only sets the backend's options.
    app = create_app(Settings(), backend=SimpleNamespace())  # type: ignore[arg-type]
    document: dict[str, Any] = app.openapi()
    return document


def _resolve(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/components/schemas/"), ref
    name = ref.rsplit("/", 1)[-1]
    assert name in spec["components"]["schemas"], f"{ref} points at no schema"
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


def test_every_native_route_declares_its_answer(spec: dict[str, Any]) -> None:
    untyped = []
    operations = 0
    for path, ops in spec["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, op in ops.items():
            operations += 1
            answers = {s: r for s, r in op["responses"].items() if s.startswith("2")}
            assert answers, f"{method.upper()} {path} declares no successful answer"
            for status, answer in answers.items():
                content = answer.get("content", {})
                json_schema = content.get("application/json", {}).get("schema", {})
                if "$ref" in json_schema:
                    model = _resolve(spec, json_schema["$ref"])
                    assert model["type"] == "object"
                elif not (set(content) & _BINARY) or "application/json" in content:
                    untyped.append(f"{method.upper()} {path} -> {status} {content}")
    assert operations > 90  # the whole native API is in the document
    assert not untyped, "routes without a response model:\n" + "\n".join(untyped)


def _walk(node: Any, found: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        if "$ref" in node:
            found.append(node)
        for value in node.values():
            _walk(value, found)
    elif isinstance(node, list):
        for value in node:
            _walk(value, found)


def test_the_document_is_well_formed(spec: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", spec["openapi"])
    assert spec["info"]["title"] == "runstone" and spec["info"]["version"]
    refs: list[dict[str, Any]] = []
    _walk(spec, refs)
    for ref in refs:
        _resolve(spec, ref["$ref"])
    operation_ids = []
    for path, ops in spec["paths"].items():
        templated = set(re.findall(r"{([^}]+)}", path))
        for method, op in ops.items():
            assert method in {"get", "put", "post", "delete", "patch"}, (path, method)
            operation_ids.append(op["operationId"])
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == templated, f"{method.upper()} {path}: path parameters {declared} != {templated}"
    assert len(operation_ids) == len(set(operation_ids)), "operationIds repeat"
    for name, schema in spec["components"]["schemas"].items():
        assert set(schema) & _SCHEMA_KEYS, f"{name} has no type"
        for field, prop in schema.get("properties", {}).items():
            assert isinstance(prop, dict), f"{name}.{field} is not a schema"


# (entity dataclass, its model, keys the wire adds to the entity's fields)
_PAIRS: list[tuple[type, type[BaseModel], set[str]]] = [
    (entities.Experiment, tracking.ExperimentPublic, {"run_count"}),
    (entities.RunInfo, tracking.RunInfoPublic, set()),
    (entities.RunData, tracking.RunDataPublic, set()),
    (entities.Dataset, tracking.DatasetPublic, set()),
    (entities.MetricHistory, tracking.MetricHistoryPublic, set()),
    (entities.Metric, tracking.MetricPoint, set()),
    (entities.FileInfo, tracking.FilePublic, set()),
    (entities.SavedView, tracking.SavedViewPublic, set()),
    (entities.LoggedModel, tracking.LoggedModelPublic, set()),
    (entities.LoggedModelMetric, tracking.LoggedModelMetricPublic, set()),
    (entities.ModelVersion, registry.ModelVersionPublic, set()),
    (entities.RegisteredModel, registry.RegisteredModelPublic, set()),
    (entities.Assignment, registry.AssignmentPublic, set()),
    (entities.Gate, registry.GatePublic, set()),
    (entities.Policy, registry.PolicyPublic, set()),
    (entities.Approval, registry.ApprovalPublic, set()),
    (entities.ApprovalRequest, registry.ApprovalRequestPublic, set()),
    (entities.Webhook, registry.WebhookPublic, set()),
    (entities.ManifestFile, registry.ManifestFilePublic, set()),
    (entities.Deployment, deployments.DeploymentPublic, {"active"}),
    (entities.StoredProfile, monitoring.ProfilePublic, set()),
    (entities.Window, monitoring.WindowPublic, set()),
    (entities.Rule, monitoring.RulePublic, set()),
    (entities.Alert, monitoring.AlertPublic, set()),
    (entities.AuditEvent, meta.AuditEventPublic, set()),
    (Verification, meta.AuditVerification, set()),
    (GcReport, meta.GcReportPublic, set()),
    (entities.Report, tracking.ReportPublic, set()),
    (entities.ApiToken, access.TokenPublic, set()),
]


@pytest.mark.parametrize(("entity", "model", "added"), _PAIRS, ids=[m.__name__ for _, m, _ in _PAIRS])
def test_models_carry_every_field_of_their_entity(entity: type, model: type[BaseModel], added: set[str]) -> None:
    wire = {f.alias or name for name, f in model.model_fields.items()}
    assert wire == {f.name for f in dataclasses.fields(entity)} | added


def test_answers_parse_into_their_models_and_keep_their_keys(http: Any) -> None:
    experiment = http.post("/api/v1/experiments", json={"name": "contract"}).json()["experiment"]
    assert "run_count" not in experiment  # an optional key a route leaves out is not sent as null
    listed = http.get("/api/v1/experiments", params={"with_counts": "true"}).json()
    page = tracking.ExperimentPage.model_validate(listed)
    assert {e.name: e.run_count for e in page.experiments} == {"Default": 0, "contract": 0}

    run = http.post("/api/v1/runs", json={"experiment_id": experiment["experiment_id"]}).json()["run"]
    run_id = run["info"]["run_id"]
    points = [
        {"key": "loss", "value": "NaN", "timestamp": 1, "step": 0},
        {"key": "gain", "value": "-Infinity", "timestamp": 1, "step": 0},
    ]
    assert http.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": points}).json() == {}
    answer = http.get(f"/api/v1/runs/{run_id}")
    assert answer.json()["run"]["data"]["metrics"] == {"loss": "NaN", "gain": "-Infinity"}
    parsed = tracking.RunAnswer.model_validate(answer.json()).run
    assert math.isnan(parsed.data.metrics["loss"]) and parsed.data.metrics["gain"] == -math.inf
    assert parsed.info.run_id == run_id and parsed.info.end_time is None
    # and back out the same way
    assert tracking.RunAnswer.model_validate(answer.json()).model_dump(mode="json", by_alias=True) == answer.json()

    uploaded = http.put(f"/api/v1/runs/{run_id}/artifacts/a.txt", content=b"hi").json()["file"]
    assert uploaded["sha256"] and tracking.FilePublic.model_validate(uploaded).file_size == 2
    listed_files = http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"]
    assert [f["path"] for f in listed_files] == ["a.txt"]
