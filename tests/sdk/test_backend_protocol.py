"""Both SDK backends implement the Protocol of each area: the same signatures, and every tracking method gives the
same answer on the embedded store and through the real HTTP stack (SQLite and PostgreSQL)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from runstone.backend import Backend
from runstone.entities import Dataset, Metric
from runstone.errors import InvalidState, NotFound, RunstoneError
from runstone.registry.approvals import GovernedRegistry
from runstone.registry.deployments import DeploymentService
from runstone.sdk.deployments import HttpDeployments
from runstone.sdk.protocols import DeploymentsBackend, RegistryBackend, TrackingBackend, WebhooksBackend
from runstone.sdk.registry import HttpRegistry, LocalWebhooks
from runstone.sdk.remote import HttpTracking, Transport
from runstone.tracking.service import TrackingService


def _methods(protocol: type) -> list[str]:
    return sorted(n for n, v in vars(protocol).items() if inspect.isfunction(v) and not n.startswith("_"))


METHODS = _methods(TrackingBackend)
AREAS = [
    (TrackingBackend, HttpTracking, TrackingService),
    (DeploymentsBackend, HttpDeployments, DeploymentService),
    (RegistryBackend, HttpRegistry, GovernedRegistry),
    (WebhooksBackend, HttpRegistry, LocalWebhooks),
]


def _shape(fn: Any) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize(
    ("protocol", "http_backend", "service_class", "name"),
    [(p, h, s, n) for p, h, s in AREAS for n in _methods(p)],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_each_backend_has_the_protocols_signature(protocol: type, http_backend: type, service_class: type, name: str):
    expected = _shape(getattr(protocol, name))
    assert _shape(getattr(http_backend, name)) == expected
    # The service may take more (keyword-only, with defaults) than a client needs.
    service = _shape(getattr(service_class, name))
    assert service[: len(expected)] == expected
    assert all(kind == inspect.Parameter.KEYWORD_ONLY for _, kind, _ in service[len(expected) :])


def scenario(t: TrackingBackend, prefix: str) -> tuple[dict[str, Any], set[str]]:
    """Every Protocol method once; what a user would see, without generated ids and times."""
    called: set[str] = set()

    def call(name: str, *args: Any, **kwargs: Any) -> Any:
        called.add(name)
        return getattr(t, name)(*args, **kwargs)

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
    return seen, called


def test_every_method_answers_the_same_on_both_backends(backend: Backend, http):
    embedded, called = scenario(backend.tracking(), "e-")
    assert called == set(METHODS)
    remote, called = scenario(HttpTracking(Transport("http://testserver", user="tester", client=http, retries=0)), "h-")
    assert called == set(METHODS)
    assert remote == embedded
    assert embedded["delete_twice"] == InvalidState.__name__
    assert embedded["history"] == ([1], [0.5]) and embedded["found"] == ["r2"]
