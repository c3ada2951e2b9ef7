"""Both SDK backends implement the Protocol of each area: the same signatures, and every method (tracking, registry,
deployments, webhooks, monitoring) gives the same answer, of the same type, on the embedded store and through the
real HTTP stack (SQLite and PostgreSQL)."""

from __future__ import annotations

import inspect
import io
import json
import re
import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from runstone.backend import Backend
from runstone.config import Settings
from runstone.entities import Dataset, Gate, Metric, PagedList, Policy
from runstone.errors import InvalidState, NotFound, RunstoneError
from runstone.governance.context import Principal
from runstone.monitoring import logs
from runstone.monitoring.profile import build_profile
from runstone.monitoring.service import MonitoringService
from runstone.registry.approvals import GovernedRegistry
from runstone.registry.deployments import DeploymentService
from runstone.registry.webhooks import WebhookService
from runstone.sdk.client import RunstoneClient
from runstone.sdk.deployments import HttpDeployments
from runstone.sdk.local import LocalDeployments, LocalMonitoring, LocalRegistry, LocalTracking, LocalWebhooks
from runstone.sdk.monitoring import HttpMonitoring, monitoring_client
from runstone.sdk.protocols import (
    DeploymentsBackend,
    MonitoringBackend,
    RegistryBackend,
    TrackingBackend,
    WebhooksBackend,
)
from runstone.sdk.registry import HttpRegistry
from runstone.sdk.remote import HttpTracking, Transport
from runstone.tracking.service import TrackingService
from tests.monitoring.conftest import SIGNATURE, records, reference_frame


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The registry scenario makes a webhook on a loopback address (it never delivers).
    return settings.model_copy(update={"webhook_allow_private": True})


def _methods(protocol: type) -> list[str]:
    return sorted(n for n, v in vars(protocol).items() if inspect.isfunction(v) and not n.startswith("_"))


METHODS = _methods(TrackingBackend)
AREAS = [
    (TrackingBackend, HttpTracking, LocalTracking, TrackingService),
    (DeploymentsBackend, HttpDeployments, LocalDeployments, DeploymentService),
    (RegistryBackend, HttpRegistry, LocalRegistry, GovernedRegistry),
    (WebhooksBackend, HttpRegistry, LocalWebhooks, WebhookService),
    (MonitoringBackend, HttpMonitoring, LocalMonitoring, MonitoringService),
]
# The service's own names for what the Protocol calls so.
RENAMED = {WebhookService: {"deliveries"}, MonitoringService: {"evaluate"}}


def _shape(fn: Any) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize(
    ("protocol", "http_backend", "local_backend", "service_class", "name"),
    [(p, h, e, s, n) for p, h, e, s in AREAS for n in _methods(p)],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_each_backend_has_the_protocols_signature(
    protocol: type, http_backend: type, local_backend: type, service_class: type, name: str
):
    expected = _shape(getattr(protocol, name))
    assert _shape(getattr(http_backend, name)) == expected
    assert _shape(getattr(local_backend, name)) == expected
    # Both answer with the type the Protocol names (a wire model; monitoring's entities).
    answer = typing.get_type_hints(getattr(protocol, name))["return"]
    assert typing.get_type_hints(getattr(http_backend, name))["return"] == answer
    assert typing.get_type_hints(getattr(local_backend, name))["return"] == answer
    # The service under the embedded backend may take more (keyword-only, with defaults) than a client needs.
    if name not in RENAMED.get(service_class, set()):
        service = _shape(getattr(service_class, name))
        assert service[: len(expected)] == expected
        assert all(kind == inspect.Parameter.KEYWORD_ONLY for _, kind, _ in service[len(expected) :])


def _conforms(value: object, hint: object) -> bool:
    """Whether an answer is of the type a Protocol method declares (models, pages and lists of them)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, a) for a in args)
    if origin is PagedList:
        return isinstance(value, PagedList) and all(_conforms(item, args[0]) for item in value)
    if origin is list:
        return isinstance(value, list) and all(_conforms(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items()
        )
    if origin is tuple:
        return isinstance(value, tuple) and all(_conforms(v, a) for v, a in zip(value, args, strict=True))
    return isinstance(value, typing.cast(type, hint))


def _plain(value: object) -> object:
    """An answer as JSON-like data, to compare across backends."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, bytes):  # a Parquet export: its rows
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(value)).to_pylist()
    if hasattr(value, "__dataclass_fields__"):
        return _plain(dict(vars(value)))
    if isinstance(value, PagedList):
        return {"items": [_plain(v) for v in value], "next_page_token": value.next_page_token}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _without_generated(
    answers: list[tuple[str, object]], generated: dict[str, str], experiments: dict[str, str]
) -> str:
    """The answers with clock times, generated names and ids replaced by placeholders."""
    text = re.sub(r"\b1\d{12}\b", "<time>", json.dumps([(name, _plain(value)) for name, value in answers]))
    for real, placeholder in generated.items():
        text = text.replace(real, placeholder)
    # Experiment ids are small numbers: replaced only where an experiment id stands.
    for real, placeholder in experiments.items():
        text = re.sub(rf'(?<=/){real}(?=[/"])', placeholder, text)
        for pattern in ('"experiment_id": "{}"', '"{}": ', '"{}"]'):
            text = text.replace(pattern.format(real), pattern.format(placeholder))
    return text


def scenario(t: TrackingBackend, prefix: str) -> tuple[dict[str, Any], set[str], str]:
    """Every Protocol method once; what a user would see, without generated ids and times."""
    called: set[str] = set()
    answers: list[tuple[str, object]] = []

    def call(name: str, *args: Any, **kwargs: Any) -> Any:
        called.add(name)
        answer = getattr(t, name)(*args, **kwargs)
        declared = typing.get_type_hints(getattr(TrackingBackend, name))["return"]
        assert _conforms(answer, declared), f"{type(t).__name__}.{name} answered {answer!r}, not {declared}"
        answers.append((name, answer))
        return answer

    seen: dict[str, Any] = {}
    exp = call("create_experiment", f"{prefix}parity", {"team": "a"})
    seen["experiment"] = call("get_experiment", exp).name.removeprefix(prefix)
    assert call("get_experiment_by_name", f"{prefix}parity").experiment_id == exp
    call("rename_experiment", exp, f"{prefix}parity2")
    call("set_experiment_tag", exp, "k", "v")
    call("delete_experiment_tag", exp, "team")
    seen["tags"] = call("get_experiment", exp).tags
    found = call("search_experiments", filter_string=f"name LIKE '{prefix}par%'")
    seen["search_experiments"] = [e.name.removeprefix(prefix) for e in found]
    run = call("create_run", exp, run_name="r", tags={"x": "1"}, start_time=5)
    run_id = run.info.run_id
    child = call("create_run", exp, run_name="c", parent_run_id=run_id, start_time=6).info.run_id
    seen["children"] = call("child_run_ids", run_id) == [child]
    seen["counts"] = call("experiment_run_counts", [exp])[exp]
    call("log_batch", run_id, [Metric("loss", 0.5, 10, 1)], {"lr": "0.1"}, {"t": "x"})
    call("log_metric", run_id, "loss", 0.25, step=2, timestamp=11)
    call("log_param", run_id, "depth", 3)
    call("set_tag", run_id, "note", "n")
    call("delete_tag", run_id, "t")
    history = call("get_metric_history", run_id, "loss", limit=1)
    seen["history"] = (history.steps, history.values)
    call("log_inputs", run_id, [(Dataset("d", "abc", "local", "file:///d"), {"runstone.data.context": "train"})])
    data = call("get_run", run_id).data
    seen["data"] = (data.metrics, data.params, sorted(k for k in data.tags if not k.startswith("runstone.")))
    seen["updated"] = call("update_run", run_id, run_name="r2").info.run_name
    seen["terminated"] = call("set_terminated", run_id, "FINISHED", 99).info.status
    other = call("create_experiment", f"{prefix}other")
    seen["moved"] = call("move_run", child, other).info.experiment_id == other
    seen["found"] = [r.info.run_name for r in call("search_runs", [exp], "metrics.loss < 1")]
    call("delete_run", run_id)
    try:
        t.delete_run(run_id)
    except RunstoneError as exc:
        seen["delete_twice"] = type(exc).__name__
    call("restore_run", run_id)
    call("delete_experiment", other)
    call("restore_experiment", other)
    try:
        t.get_run("f" * 32)
    except NotFound as exc:
        seen["missing"] = exc.message
    generated = {run_id: "<run>", child: "<child>", prefix: "<prefix>-"}
    return seen, called, _without_generated(answers, generated, {exp: "<experiment>", other: "<other>"})


def test_every_method_answers_the_same_on_both_backends(backend: Backend, http):
    local = LocalTracking(backend.tracking(backend.context(Principal("tester"))))
    embedded, called, embedded_answers = scenario(local, "embedded")
    assert called == set(METHODS)
    remote_backend = HttpTracking(Transport("http://testserver", user="tester", client=http, retries=0))
    remote, called, remote_answers = scenario(remote_backend, "remote")
    assert called == set(METHODS)
    assert remote == embedded
    # Every answer, whole: the same model with the same values (ids, names and times aside).
    assert remote_answers == embedded_answers
    assert embedded["delete_twice"] == InvalidState.__name__
    assert embedded["history"] == ([1], [0.5]) and embedded["found"] == ["r2"]


class Checked:
    """A backend whose every answer is checked against the type its Protocol declares, and recorded."""

    def __init__(self, protocol: type, backend: object, answers: list[tuple[str, object]], called: set[str]) -> None:
        self.protocol, self.backend, self.answers, self.called = protocol, backend, answers, called

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            answer = getattr(self.backend, name)(*args, **kwargs)
            declared = typing.get_type_hints(getattr(self.protocol, name))["return"]
            assert _conforms(answer, declared), f"{type(self.backend).__name__}.{name} answered {answer!r}"
            self.called.add(f"{self.protocol.__name__}.{name}")
            self.answers.append((name, answer))
            return answer

        return call


def registry_scenario(client: RunstoneClient, approver: RunstoneClient, prefix: str) -> tuple[set[str], str]:
    """Every registry, deployment and webhook method once, through the client's backends."""
    answers: list[tuple[str, object]] = []
    called: set[str] = set()
    r = Checked(RegistryBackend, client._registry, answers, called)
    other = Checked(RegistryBackend, approver._registry, answers, called)
    d = Checked(DeploymentsBackend, client._deployments, answers, called)
    w = Checked(WebhooksBackend, client._webhooks, answers, called)
    runs = []
    for accuracy in (0.9, 0.8):
        run = client.create_run("0")
        client.log_metric(run.info.run_id, "accuracy", accuracy, timestamp=1, step=0)
        client.log_text(run.info.run_id, "flavors: {}\n", "model/MLmodel")
        runs.append(run.info.run_id)
    name = f"{prefix}-m"
    r.create_registered_model(name, "a model", {"team": "a"})
    r.get_registered_model(name)
    r.update_registered_model(name, "the model")
    r.set_registered_model_tag(name, "k", "v")
    r.delete_registered_model_tag(name, "team")
    r.create_model_version(name, f"runs:/{runs[0]}/model", runs[0], {"t": "1"}, "first")
    r.create_model_version(name, f"runs:/{runs[1]}/model", runs[1])
    r.get_model_version(name, 1)
    r.get_model_version_manifest(name, "1")
    r.update_model_version(name, 2, "second")
    r.set_model_version_tag(name, 2, "ok", "yes")
    r.delete_model_version_tag(name, 1, "t")
    r.search_registered_models(f"name = '{name}'")
    r.search_model_versions(f"name = '{name}'", order_by=["version_number ASC"])
    r.set_registered_model_alias(name, "champion", 2, reason="better")
    r.get_model_version_by_alias(name, "champion")
    r.delete_registered_model_alias(name, "champion")
    r.transition_model_version_stage(name, 1, "Staging", reason="try")
    r.get_latest_versions(name, ["Staging"])
    r.policy(name)
    r.set_policy(name, Policy(protected_aliases=["champion"], gates=[Gate("accuracy", ">=", 0.85)]))
    first = r.request_transition(name, 1, alias="champion", comment="first")
    other.approve_request(first.id, "fine")
    second = r.request_transition(name, 2, alias="champion", comment="second")
    other.reject_request(second.id, "gate fails")
    third = r.request_transition(name, 2, alias="champion", comment="third")
    r.cancel_request(third.id)
    r.get_request(first.id)
    r.search_requests(name)
    r.set_policy(name, Policy())
    r.set_registered_model_alias(name, "champion", 2)
    r.rollback(name, alias="champion", comment="back")
    history = r.get_model_history(name)
    r.holders_at(name, time=history[-1].time, alias="champion")
    deployment = d.record_deployment(f"{prefix}-api", name, 1, target="https://example.test", description="d")
    d.get_deployment(deployment.id)
    d.list_deployments(name, active_only=True)
    d.end_deployment(deployment.id)
    # Made for a model no event will name, and removed at once: nothing is ever delivered.
    hook, secret = w.create_webhook(
        f"{prefix}-hook", "http://127.0.0.1:9/hook", ["model_version.created"], model_name="none"
    )
    w.list_webhooks()
    w.deliveries(hook.id)
    w.delete_webhook(hook.id)
    r.rename_registered_model(name, f"{name}2")
    r.delete_model_version(f"{name}2", 1)
    r.delete_registered_model(f"{name}2")
    generated = {runs[0]: "<run0>", runs[1]: "<run1>", prefix: "<prefix>", secret: "<secret>"}
    text = _without_generated(answers, generated, {})
    # Request, deployment and webhook ids count up from where the store is.
    text = re.sub(r'"(id|request_id)": \d+', r'"\1": "<id>"', text)
    text = re.sub(r"request \d+", "request <id>", text)
    return called, text


def test_every_registry_method_answers_the_same_on_both_backends(settings, http, local_client, remote_client):
    def as_approver(uri: str, **kwargs: Any) -> RunstoneClient:
        return RunstoneClient(
            uri, settings=settings.model_copy(update={"user": "approver", "http_retries": 0}), **kwargs
        )

    embedded_called, embedded = registry_scenario(local_client, as_approver(settings.database_uri), "embedded")
    remote_called, remote = registry_scenario(
        remote_client, as_approver("http://testserver", http_client=http), "remote"
    )
    expected = {
        f"{p.__name__}.{n}" for p in (RegistryBackend, DeploymentsBackend, WebhooksBackend) for n in _methods(p)
    }
    assert embedded_called == remote_called == expected
    assert remote == embedded


T0 = 1_699_999_200_000
HOUR = 3_600_000


def monitoring_scenario(client: RunstoneClient, prefix: str) -> tuple[set[str], str]:
    """Every monitoring method once, through the backend the SDK's monitoring functions pick."""
    answers: list[tuple[str, object]] = []
    called: set[str] = set()
    m = Checked(MonitoringBackend, monitoring_client(client=client), answers, called)
    # A version with a signature, from a run that recorded its training dataset.
    run_id = client.create_run("0").info.run_id
    manifest = f"flavors: {{}}\nsignature:\n  inputs: '{SIGNATURE}'\n  outputs: '[{{\"type\": \"long\"}}]'\n"
    client.log_text(run_id, manifest, "model/MLmodel")
    dataset = Dataset("train", "d1g3st", "local", "file:///nowhere/train.csv")
    client.log_inputs(run_id, [(dataset, {"runstone.data.context": "training"})])
    name = f"{prefix}-fraud"
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{run_id}/model", run_id)
    (table,) = logs.records_to_tables(records(20, start=T0, rows=2, prefix=f"{prefix}-r")).values()

    m.set_profile(name, 1, build_profile(reference_frame()), source="train.csv", dataset_digest="d1g3st")
    m.get_profile(name, "1")
    m.training_dataset(name, 1)
    m.ingest(name, "1", logs.to_parquet(table))
    m.log_labels([f"{prefix}-r{i}:{j}" for i in range(20) for j in (0, 1)], [1, 0] * 20, model=name)
    m.compute(name, "1", T0, T0 + HOUR)
    m.export(name, "1", T0, T0 + HOUR)
    retrain = {"type": "retrain", "project": "./train"}
    m.create_rule(name, {"name": "busy", "metric": "requests", "op": ">", "threshold": 0, "actions": [retrain]})
    m.list_rules(name)
    assert m.evaluate("1h") == 1
    m.windows(name)
    m.windows(name, "1", limit=5)
    (alert,) = m.alerts(name)
    claimed = m.claim_retraining()
    assert claimed is not None and claimed[0].id == alert.id
    m.get_alert(alert.id)
    m.record_retraining(alert.id, status="done", action_note="parity")
    assert m.claim_retraining() is None
    m.delete_rule(name, "busy")
    text = _without_generated(answers, {run_id: "<run>", prefix: "<prefix>"}, {})
    # Window and alert ids count up from where the store is.
    text = re.sub(r'"(id|window_id|alert_id)": \d+', r'"\1": "<id>"', text)
    return called, text


def test_every_monitoring_method_answers_the_same_on_both_backends(local_client, remote_client):
    assert isinstance(monitoring_client(client=local_client), LocalMonitoring)
    assert isinstance(monitoring_client(client=remote_client), HttpMonitoring)
    embedded_called, embedded = monitoring_scenario(local_client, "embedded")
    remote_called, remote = monitoring_scenario(remote_client, "remote")
    assert embedded_called == remote_called == {f"MonitoringBackend.{n}" for n in _methods(MonitoringBackend)}
    assert remote == embedded
    # What a user would see: the labelled rows joined, the window evaluated, the alert's retraining recorded.
    assert '"labelled": 40' in embedded and '"action_status": "done"' in embedded and '"requests": 20' in embedded
