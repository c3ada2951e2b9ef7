"""Registry fixtures: services acting as named people, and runs that hold logged models."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runstone.entities import Metric
from runstone.governance.context import Principal
from runstone.registry.approvals import GovernedRegistry


@pytest.fixture
def as_user(backend, clock) -> Callable[[str], GovernedRegistry]:
    """The registry as seen by one named user (requester, approver, ...)."""

    def make(user: str) -> GovernedRegistry:
        return backend.registry(backend.context(Principal(user), clock=clock))

    return make


@pytest.fixture
def registry(as_user) -> GovernedRegistry:
    return as_user("alice")


@pytest.fixture
def logged_model(registry) -> Callable[..., str]:
    """Log a (tiny) model into a new run and return its runs:/ URI."""

    def make(accuracy: float | None = None, path: str = "model") -> str:
        tracking = registry.tracking
        run_id = tracking.create_run().info.run_id
        if accuracy is not None:
            tracking.log_batch(run_id, [Metric("accuracy", accuracy, 1, 0)])
        registry.artifacts.log_artifact(run_id, f"{path}/MLmodel", [b"flavors: {}\n"])
        return f"runs:/{run_id}/{path}"

    return make
