"""Both SDK backends implement the Protocol of each area: the same signatures, and every tracking method gives the
same answer, of the same wire model, on the embedded store and through the real HTTP stack (SQLite and PostgreSQL)."""

from __future__ import annotations

import inspect
import json
import re
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from runstone.backend import Backend
from runstone.entities import Dataset, Metric, PagedList
from runstone.errors import InvalidState, NotFound, RunstoneError
from runstone.governance.context import Principal
from runstone.registry.approvals import GovernedRegistry
from runstone.registry.deployments import DeploymentService
from runstone.registry.webhooks import WebhookService
from runstone.sdk.deployments import HttpDeployments
from runstone.sdk.local import LocalDeployments, LocalRegistry, LocalTracking, LocalWebhooks
from runstone.sdk.protocols import DeploymentsBackend, RegistryBackend, TrackingBackend, WebhooksBackend
from runstone.sdk.registry import HttpRegistry
from runstone.sdk.remote import HttpTracking, Transport
from runstone.tracking.service import TrackingService


def _methods(protocol: type) -> list[str]:
    return sorted(n for n, v in vars(protocol).items() if inspect.isfunction(v) and not n.startswith("_"))


METHODS = _methods(TrackingBackend)
AREAS = [
    (TrackingBackend, HttpTracking, LocalTracking, TrackingService),
    (DeploymentsBackend, HttpDeployments, LocalDeployments, DeploymentService),
    (RegistryBackend, HttpRegistry, LocalRegistry, GovernedRegistry),
    (WebhooksBackend, HttpRegistry, LocalWebhooks, WebhookService),
]


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
    # Both answer with the wire model the Protocol names, never a domain entity.
    answer = typing.get_type_hints(getattr(protocol, name))["return"]
    assert typing.get_type_hints(getattr(http_backend, name))["return"] == answer
    assert typing.get_type_hints(getattr(local_backend, name))["return"] == answer
    # The service under the embedded backend may take more (keyword-only, with defaults) than a client needs.
    if name != "deliveries":  # WebhookService's own name for it
        service = _shape(getattr(service_class, name))
        assert service[: len(expected)] == expected
        assert all(kind == inspect.Parameter.KEYWORD_ONLY for _, kind, _ in service[len(expected) :])


def _conforms(value: object, hint: object) -> bool:
    """Whether an answer is of the type a Protocol method declares (models, pages and lists of them)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return value is None
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
