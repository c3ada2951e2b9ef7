"""The request threads of runstone.server.lean: what a sync endpoint handed to them gets back."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

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
