"""A request handler for routes whose dependencies all read only the request.

FastAPI's own handler, for every request, works out the route's endpoint context, solves its
dependency tree in general (caches, scopes, sub-dependencies, overrides, validation of every
parameter) and hands a plain function to the thread pool through anyio's capacity limiter and
cancel scopes: about a sixth of the server's CPU time for a small write such as a single
``log-metric``. Most routes need none of that generality: each dependency is an ``async``
function of the request alone (who is calling, the parsed message, a service bound to them, the
permission check), the remaining parameters are the path's own text and the request.

``lean_handler`` answers such a route with the same calls in the same order (the route's own
dependencies first, as declared, then the endpoint's), the endpoint on the event loop when it is
``async`` and on a thread (with the request's context variables) when not. Any route it cannot
answer exactly so (a query, header or body parameter, a sub-dependency, a dependency that is not
``async`` or that yields) keeps FastAPI's handler, and so does every request while the app has
dependency overrides in place.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import fastapi.routing
from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_typed_return_annotation
from fastapi.encoders import jsonable_encoder

from runstone.server.http import JSON

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# As many threads as anyio lends sync endpoints by default.
THREADS = 40


_Item = tuple[Any, "asyncio.Future[Any]", contextvars.Context, Callable[[], Any]]


class _Workers:
    """Threads that run calls handed over from the event loop and settle the loop's own future.

    What ``loop.run_in_executor`` does with a ``ThreadPoolExecutor``, without the executor's
    future in between (its lock and condition, its callbacks, the loop's wrapper chained to it):
    about 35 µs less CPU per call, which every small write pays once. A call takes an idle
    thread, else starts one (up to ``size``), else waits in the queue for the first to finish."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = 0
        self._idle = 0  # threads waiting for a call that no call has claimed yet

    def submit(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        item: _Item = (loop, future, contextvars.copy_context(), call)
        with self._lock:
            start = self._idle == 0 and self._started < self.size
            if start:
                self._started += 1
            elif self._idle:
                self._idle -= 1
        if start:
            name = f"runstone-request-{self._started}"
            threading.Thread(target=self._work, args=(item,), name=name, daemon=True).start()
        else:
            self._queue.put(item)
        return future

    def _work(self, item: _Item) -> None:
        while True:
            loop, future, context, call = item
            try:
                _settle(loop, _done, future, context.run(call))
            except BaseException as exc:  # handed to the awaiting request, as an executor does
                _settle(loop, _fail, future, exc)
            del loop, future, context, call, item  # hold nothing of a request while idle
            try:
                item = self._queue.get_nowait()  # calls that waited for a thread come first
                continue
            except queue.Empty:
                pass
            with self._lock:
                self._idle += 1
            item = self._queue.get()


def _settle(loop: Any, how: Callable[..., None], future: asyncio.Future[Any], value: Any) -> None:
    try:
        loop.call_soon_threadsafe(how, future, value)
    except RuntimeError:  # the loop closed meanwhile: no one awaits the answer
        pass


def _done(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # a cancelled request no longer waits
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


_workers = _Workers(THREADS)


async def on_thread(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)`` on one of the request threads, with the caller's context
    variables: what Starlette's ``run_in_threadpool`` does, without anyio's limiter and cancel
    scopes around it, nor an executor's future."""
    return await _workers.submit(functools.partial(call, *args, **kwargs))


def _plain(dependant: Dependant) -> bool:
    """Whether ``dependant`` takes nothing that FastAPI reads from the request for it (query,
    header, cookie or body fields) and none of its special objects (response, background tasks,
    security scopes, WebSocket or connection)."""
    return not (
        dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    )


def _only_request(dependant: Dependant) -> bool:
    """Whether ``dependant`` is an ``async def`` (not a generator) of the request alone."""
    return (
        dependant.call is not None
        and inspect.iscoroutinefunction(dependant.call)
        and dependant.request_param_name is not None
        and not dependant.dependencies
        and not dependant.path_params
        and _plain(dependant)
    )


def _answers(endpoint: Callable[..., Any]) -> bool:
    """Whether ``endpoint`` is declared to return a Response (its annotation resolved as FastAPI
    resolves it, postponed annotations included)."""
    annotation = get_typed_return_annotation(endpoint)
    return isinstance(annotation, type) and issubclass(annotation, Response)


def route_state(route: Any) -> Any:
    """Where FastAPI keeps what a route's handler is built from: the route, or (FastAPI 0.160 and
    later) the effective route of one app's inclusion of it, which carries the app's dependencies,
    while its handler is being built."""
    var = getattr(fastapi.routing, "_effective_route_context_var", None)
    effective = var.get() if var is not None else None
    if effective is not None and getattr(effective, "original_route", None) is route:
        return effective
    return route


def lean_handler(route: Any, fallback: Handler, *, answers_only: bool = False) -> Handler | None:
    """A handler for ``route`` (as :func:`route_state` gives it), or None when its parameters
    need FastAPI's own. With ``answers_only``, only for an endpoint declared to return a ready
    response (a route with a response model filters what any other returns)."""
    dependant: Dependant | None = getattr(route, "dependant", None)
    overrides = getattr(route, "dependency_overrides_provider", None)
    status_code = getattr(route, "status_code", None) or 200
    if dependant is None:
        return None
    endpoint = dependant.call
    if endpoint is None or not _plain(dependant) or not all(_only_request(d) for d in dependant.dependencies):
        return None
    signature = inspect.signature(endpoint)
    if answers_only and not _answers(endpoint):
        return None
    path_names = [field.name for field in dependant.path_params]
    for name in path_names:
        annotation = signature.parameters[name].annotation
        if annotation not in (str, "str"):
            return None  # a typed path parameter: FastAPI converts and checks it
    steps = [(d.name, d.call, d.use_cache) for d in dependant.dependencies]
    request_name = dependant.request_param_name
    is_async = inspect.iscoroutinefunction(endpoint)

    async def handle(request: Request) -> Response:
        if getattr(overrides, "dependency_overrides", None):
            return await fallback(request)
        values: dict[str, Any] = {}
        solved: dict[Any, Any] = {}
        for name, call, use_cache in steps:
            if use_cache and call in solved:
                value = solved[call]
            else:
                value = solved[call] = await call(request)  # type: ignore[misc]
            if name is not None:
                values[name] = value
        for name in path_names:
            values[name] = request.path_params[name]
        if request_name is not None:
            values[request_name] = request
        result = await endpoint(**values) if is_async else await on_thread(endpoint, **values)
        if isinstance(result, Response):
            return result
        return JSON(jsonable_encoder(result), status_code=status_code)

    return handle
