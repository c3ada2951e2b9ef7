"""HTTP plumbing: orjson in both directions, and the one rule by which every route reads JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from runstone.errors import InvalidInput


def _text_only(value: object) -> None:
    """Refuse strings that are not Unicode text: a lone surrogate ("\\ud800") cannot be stored."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput(
                    "Malformed request body: a string holds a lone surrogate (such as \\ud800), which is not "
                    "Unicode text."
                ) from None
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


# Where a request's JSON body, once decoded (``runstone.server.access`` reads the ids a route's
# permission names from it), is kept in the ASGI scope for the route to read instead of decoding it again.
PARSED_JSON = "runstone.parsed_json"


def decode_json(body: bytes, *, nan_literals: bool = False) -> Any:
    """A request body as JSON, by one rule for every route: UTF-8, strings that are Unicode text
    (a lone surrogate is refused, never stored or turned into a 500), nesting at most 1024 deep.
    With ``nan_literals`` (MLflow's routes), the bare NaN and Infinity that Python's JSON writer
    emits are read too. Bad input raises InvalidInput."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if not nan_literals:
            raise InvalidInput(f"Malformed request body: {exc}") from None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"Malformed request body: {exc}") from None
    _text_only(data)
    return data


class JSON(JSONResponse):
    """JSON answers written by orjson (a JSONResponse, so the OpenAPI document shows each route's
    response model)."""

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


class _OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            # orjson rejects invalid UTF-8, NaN literals and nesting deeper than 1024 levels.
            self._json = orjson.loads(await self.body())
        return self._json


class Route(APIRoute):
    """Routes that parse JSON bodies with orjson. A key a route leaves out of its answer stays out
    (``response_model_exclude_unset``): optional keys of a response model are not sent as null."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        # A route that needs nothing of FastAPI's solver and answers a ready response (an
        # upload, say) is answered without it. (Imported here: runstone.server.lean imports
        # this module.)
        from runstone.server.lean import lean_handler, route_state

        handler = lean_handler(route_state(self), handler, answers_only=True) or handler

        async def route(request: Request) -> Response:
            return await handler(_OrjsonRequest(request.scope, request.receive))

        return route


def binary(media_type: str = "application/octet-stream") -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of an answer that is a file's bytes (give with ``response_class=Response``)."""
    return {
        200: {"description": "The bytes", "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}
    }
