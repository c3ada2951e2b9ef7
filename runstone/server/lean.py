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
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fastapi.routing
from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder

from runstone.server.http import JSON

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# As many threads as anyio lends sync endpoints by default.
THREADS = 40
_executor: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(THREADS, thread_name_prefix="runstone-request")
    return _executor


async def on_thread(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)`` on one of the request threads, with the caller's context
    variables: what Starlette's ``run_in_threadpool`` does, without anyio's limiter and cancel
    scopes around it."""
    context = contextvars.copy_context()
    task = functools.partial(context.run, call, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_threads(), task)


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


def route_state(route: Any) -> Any:
    """Where FastAPI keeps what a route's handler is built from: the route, or (FastAPI 0.160 and
    later) the effective route of one app's inclusion of it, which carries the app's dependencies,
    while its handler is being built."""
    var = getattr(fastapi.routing, "_effective_route_context_var", None)
    effective = var.get() if var is not None else None
    if effective is not None and getattr(effective, "original_route", None) is route:
        return effective
    return route


def lean_handler(route: Any, fallback: Handler) -> Handler | None:
    """A handler for ``route`` (as :func:`route_state` gives it), or None when its parameters
    need FastAPI's own."""
    dependant: Dependant | None = getattr(route, "dependant", None)
    overrides = getattr(route, "dependency_overrides_provider", None)
    status_code = getattr(route, "status_code", None) or 200
    if dependant is None:
        return None
    endpoint = dependant.call
    if endpoint is None or not _plain(dependant) or not all(_only_request(d) for d in dependant.dependencies):
        return None
    signature = inspect.signature(endpoint)
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
