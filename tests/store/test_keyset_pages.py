"""Page tokens are keyset tokens: rows written between two page fetches neither repeat nor go
missing from the pages (offset tokens would show a row twice when one is added before the
page boundary), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from runstone.errors import InvalidInput
from runstone.governance.context import Principal


def _walk(fetch: Callable[[str | None], Any], between: Callable[[int], None]) -> list[Any]:
    """Every page of a listing; ``between(n)`` runs after the n-th page."""
    seen: list[Any] = []
    token = None
    pages = 0
    while True:
        page = fetch(token)
        seen += list(page)
        pages += 1
        token = page.next_page_token
        if token is None:
            return seen
        between(pages)


@pytest.fixture
def services(backend: Any, clock: Any) -> Any:
    ctx = backend.context(Principal("alice"), clock=clock)
    return backend.tracking(ctx), backend.registry(ctx)


def test_experiment_pages_survive_inserts_between_fetches(services: Any, clock: Any) -> None:
    tracking, _ = services
    for name in ("b", "d", "f", "h", "j", "l"):
        tracking.create_experiment(name)

    def insert(page: int) -> None:
        clock.advance(1)
        # one name before the pages read so far, one after: only the second belongs to a later page
        tracking.create_experiment(f"a{page}")
        tracking.create_experiment(f"z{page}")

    found = _walk(
        lambda token: tracking.search_experiments(
            max_results=2, order_by=["name ASC"], page_token=token, filter_string="name != 'Default'"
        ),
        insert,
    )
    names = [e.name for e in found]
    assert len(names) == len(set(names)), f"an experiment came twice: {names}"
    assert names == ["b", "d", "f", "h", "j", "l", "z1", "z2", "z3", "z4"]


def test_run_pages_survive_inserts_between_fetches(services: Any, clock: Any) -> None:
    tracking, _ = services
    experiment_id = tracking.create_experiment("runs")
    first = [tracking.create_run(experiment_id, start_time=t).info.run_id for t in (10, 20, 30, 40, 50)]

    def insert(page: int) -> None:
        tracking.create_run(experiment_id, start_time=100 + page)  # newest: before the pages read so far

    found = _walk(
        lambda token: tracking.search_runs([experiment_id], max_results=2, page_token=token),
        insert,
    )
    assert [r.info.run_id for r in found] == first[::-1]


def test_model_and_version_pages_survive_inserts_between_fetches(services: Any, clock: Any) -> None:
    tracking, registry = services
    for name in ("m-b", "m-d", "m-f", "m-h"):
        registry.create_registered_model(name)

    found = _walk(
        lambda token: registry.search_registered_models(max_results=1, order_by=["name ASC"], page_token=token),
        lambda page: registry.create_registered_model(f"m-a{page}"),
    )
    assert [m.name for m in found] == ["m-b", "m-d", "m-f", "m-h"]

    run_id = tracking.create_run(tracking.create_experiment("versions")).info.run_id
    registry.artifacts.log_artifact(run_id, "model/MLmodel", [b"flavors: {}\n"])
    for _ in range(4):
        clock.advance(1)
        registry.create_model_version("m-b", f"runs:/{run_id}/model")

    def register(page: int) -> None:
        clock.advance(1)
        registry.create_model_version("m-b", f"runs:/{run_id}/model")  # newest: sorts first

    found = _walk(lambda token: registry.search_model_versions("name = 'm-b'", 1, None, token), register)
    assert [v.version for v in found] == ["4", "3", "2", "1"]


def test_a_token_opens_only_the_listing_it_came_from(services: Any) -> None:
    tracking, registry = services
    for name in ("x1", "x2", "x3"):
        tracking.create_experiment(name)
        registry.create_registered_model(name)
    token = tracking.search_experiments(max_results=1, order_by=["name ASC"]).next_page_token
    assert token is not None
    with pytest.raises(InvalidInput, match="different search"):
        tracking.search_experiments(max_results=1, order_by=["name DESC"], page_token=token)
    with pytest.raises(InvalidInput, match="different search"):
        registry.search_registered_models(max_results=1, order_by=["name ASC"], page_token=token)
    with pytest.raises(InvalidInput, match="Invalid page token"):
        registry.search_registered_models(max_results=1, page_token="bm9wZQ")
