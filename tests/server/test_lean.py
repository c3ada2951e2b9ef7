"""The request threads of runstone.server.lean: what a sync endpoint handed to them gets back."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable

import pytest

from runstone.backend import Backend
from runstone.config import Settings
from runstone.server.lean import _Workers, on_thread

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def test_a_call_answers_on_another_thread_with_the_callers_context():
    async def main() -> tuple[str, str, int]:
        request_id.set("r-1")
        return await on_thread(lambda a, b=0: (request_id.get(), threading.current_thread().name, a + b), 2, b=3)

    seen, thread, total = asyncio.run(main())
    assert (seen, total) == ("r-1", 5)
    assert thread != threading.main_thread().name


def test_an_error_is_raised_to_the_awaiting_request_and_the_thread_goes_on():
    def fail() -> None:
        raise ValueError("bad row")

    async def main() -> int:
        with pytest.raises(ValueError, match="bad row"):
            await on_thread(fail)
        return int(await on_thread(lambda: 7))

    assert asyncio.run(main()) == 7


def test_more_calls_than_threads_wait_their_turn_and_all_answer():
    workers = _Workers(3)
    running = 0
    most = 0
    lock = threading.Lock()
    gate = threading.Event()

    def call(i: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        gate.wait(5)
        with lock:
            running -= 1
        return i * i

    async def main() -> list[int]:
        futures = [workers.submit(lambda i=i: call(i)) for i in range(10)]
        await asyncio.sleep(0.2)
        gate.set()
        return list(await asyncio.gather(*futures))

    assert asyncio.run(main()) == [i * i for i in range(10)]
    assert most == 3  # never more threads than the limit, and the limit is reached


def test_a_request_that_stops_waiting_leaves_the_threads_working():
    workers = _Workers(1)
    release = threading.Event()

    async def main() -> str:
        slow = asyncio.ensure_future(workers.submit(lambda: release.wait(5)))
        await asyncio.sleep(0.05)
        slow.cancel()  # the client went away
        release.set()
        return str(await workers.submit(lambda: "next"))

    assert asyncio.run(main()) == "next"


def test_native_routes_that_answer_ready_responses_are_answered_lean_and_still_checked(
    settings: Settings,
    backend: Backend,
    bearer: Callable[..., dict[str, dict[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The native upload is answered without FastAPI's solver (its endpoint returns a ready
    answer), and it still asks who is calling first: no credential 401, a reader 403 with nothing
    stored, the owner 200 with the file's answer; on SQLite and PostgreSQL."""
    from fastapi.testclient import TestClient

    import runstone.server.lean as lean
    from runstone.server.app import create_app

    built: list[tuple[str, bool]] = []
    original = lean.lean_handler

    def recording(route, fallback, **kwargs):  # type: ignore[no-untyped-def]
        handler = original(route, fallback, **kwargs)
        if kwargs.get("answers_only"):
            built.append((f"{sorted(route.methods)[0]} {route.path}", handler is not None))
        return handler

    monkeypatch.setattr(lean, "lean_handler", recording)
    app = create_app(settings.model_copy(update={"auth": True}), backend=backend)
    as_ = bearer("alice", "bob").__getitem__
    with TestClient(app) as client:
        exp_id = client.post("/api/v1/experiments", json={"name": "e"}, headers=as_("alice")).json()["experiment"][
            "experiment_id"
        ]
        run_id = client.post("/api/v1/runs", json={"experiment_id": exp_id}, headers=as_("alice")).json()["run"][
            "info"
        ]["run_id"]
        grant = {"resource_type": "experiment", "resource_id": exp_id, "principal": "bob", "permission": "READ"}
        assert client.post("/api/v1/permissions/grant", json=grant, headers=as_("alice")).is_success
        url = f"/api/v1/runs/{run_id}/artifacts/notes/a.txt"
        assert client.put(url, content=b"hello").status_code == 401
        refused = client.put(url, content=b"hello", headers=as_("bob"))
        assert refused.status_code == 403, refused.text
        listed = client.get(f"/api/v1/runs/{run_id}/artifacts", params={"recursive": "true"}, headers=as_("alice"))
        assert listed.json()["files"] == []
        stored = client.put(url, content=b"hello", headers=as_("alice"))
        assert stored.status_code == 200, stored.text
        assert stored.json()["file"] == {
            "path": "notes/a.txt",
            "is_dir": False,
            "file_size": 5,
            "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        }
        assert client.get(url, headers=as_("bob")).content == b"hello"
    assert ("PUT /api/v1/runs/{run_id}/artifacts/{path:path}", True) in built
    # A route with a response model keeps FastAPI's handler, which filters what it answers.
    assert ("GET /api/v1/runs/{run_id}/artifacts", False) in built
