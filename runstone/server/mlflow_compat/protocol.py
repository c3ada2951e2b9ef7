"""MLflow's wire conventions: reading requests, writing answers, reporting errors.

Requests: a GET carries its fields in the query string (a repeated field as repeated keys); a
POST, PATCH or DELETE carries a JSON body (also DELETE; an empty body is an empty message; a
body that is a JSON string holding JSON, as old clients send, is decoded twice). Answers are
proto-JSON: snake_case names, int64 as numbers, unset fields left out, ``{}`` for nothing,
NaN and infinities as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.

Errors answer ``{"error_code": ..., "message": ...}`` with MLflow's status for the code. The
runstone exception classes map as MLflow's client expects: a duplicate name is
RESOURCE_ALREADY_EXISTS with status 400; a deleted run or any other state conflict is
INVALID_PARAMETER_VALUE 400 (MLflow's INVALID_STATE answers 500, which its client retries for
minutes).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from runstone.artifacts.base import storage_error
from runstone.codec import float_out, special_float
from runstone.errors import (
    AlreadyExists,
    Immutable,
    InsufficientStorage,
    InvalidInput,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RunstoneError,
    SchemaOutOfDate,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)
from runstone.server.http import JSON, PARSED_JSON, decode_json
from runstone.server.lean import lean_handler, route_state

log = logging.getLogger("runstone.server")

# The MLflow release whose client protocol this layer serves (its clients are tested against it).
# MLflow's clients ask GET /version before using newer endpoints: 3.4 and later send a trace's
# spans to OTLP's /v1/traces as they end, which distributed tracing needs.
MLFLOW_PROTOCOL_VERSION = "3.17.0"
# Every request of MLflow's Python client carries this header.
MLFLOW_CLIENT_HEADER = "x-mlflow-client-version"

# The operator's limits on artifact bytes (runstone.config): exceeding one answers 413 here too.
ARTIFACT_LIMITS = ("max_artifact_bytes", "max_run_artifact_bytes")
_API_DOCS = " See the API docs for more information about request parameters."


def mlflow_error(error: RunstoneError) -> tuple[str, int]:
    """MLflow's error code and HTTP status for a runstone error."""
    if isinstance(error, NotFound):
        return "RESOURCE_DOES_NOT_EXIST", 404
    if isinstance(error, AlreadyExists):
        return "RESOURCE_ALREADY_EXISTS", 400
    if isinstance(error, Immutable):  # a registered version's files: a conflict, not a bad parameter
        return "RESOURCE_CONFLICT", 409
    if isinstance(error, (InvalidInput, InvalidState)):
        return "INVALID_PARAMETER_VALUE", 400
    if isinstance(error, PermissionDenied):
        return "PERMISSION_DENIED", 403
    if isinstance(error, Unauthenticated):
        return "UNAUTHENTICATED", 401
    if isinstance(error, TooManyRequests):
        return "REQUEST_LIMIT_EXCEEDED", 429
    if isinstance(error, (SchemaOutOfDate, Unavailable)):
        return "TEMPORARILY_UNAVAILABLE", 503
    if isinstance(error, InsufficientStorage):
        return "RESOURCE_EXHAUSTED", 507
    return "INTERNAL_ERROR", 500


# MLflow's routes (their clients read errors only in MLflow's envelope).
PATHS = r"^/(?:api|ajax-api)/[23]\.0/mlflow(?:-artifacts)?/"
_MLFLOW_PATH = re.compile(PATHS)


def refusal_body(error: RunstoneError, request_id: str, path: str) -> bytes:
    """The JSON body of an error answered in front of the routes (the auth gate, the origin check,
    the body limit): MLflow's envelope on MLflow's routes, runstone's everywhere else, as the
    routes themselves answer."""
    if _MLFLOW_PATH.match(path):
        return orjson.dumps({"error_code": mlflow_error(error)[0], "message": error.message})
    return orjson.dumps({"error": {**error.to_dict(), "request_id": request_id}})


def error_response(code: str, message: str, status: int) -> JSON:
    return JSON({"error_code": code, "message": message}, status_code=status)


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def _answered(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint``, answering the dict it returns as JSON itself.

    Left to FastAPI, a dict returned by a route is validated against the route's return
    annotation and serialized again, in a trip to the thread pool of its own for a route that is
    not async: about a tenth of a millisecond per request, for a check that cannot fail (the
    routes build MLflow's proto-JSON themselves)."""
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def answer_async(*args: Any, **kwargs: Any) -> Any:
            result = await endpoint(*args, **kwargs)
            return JSON(result) if isinstance(result, dict) else result

        return answer_async

    @functools.wraps(endpoint)
    def answer(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        return JSON(result) if isinstance(result, dict) else result

    return answer


class MlflowRoute(APIRoute):
    """Routes that answer errors in MLflow's envelope instead of runstone's, and answer the dicts
    their endpoints return as JSON without a response model (see ``_answered``)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model"] = None
        self.unanswered = endpoint  # as declared, for adding the route again under a prefix
        super().__init__(path, _answered(endpoint), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        handler = lean_handler(route_state(self), handler) or handler

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RunstoneError as exc:
                code, status = mlflow_error(exc)
                if isinstance(exc, PayloadTooLarge) and exc.details.get("setting") in ARTIFACT_LIMITS:
                    status = 413  # artifact bytes over an operator limit, as an oversized body answers
                if status == 500:
                    log.exception("unhandled error in request %s", _request_id(request))
                    return error_response(code, f"Internal server error (request {_request_id(request)}).", 500)
                return error_response(code, exc.message, status)
            except ClientDisconnect:
                raise  # no one to answer: the app's handler notes it (runstone.server.errors)
            except Exception as exc:
                storage = storage_error(exc, "The server's storage") if isinstance(exc, OSError) else None
                if storage is not None:
                    log.error("storage error in request %s: %s", _request_id(request), exc)
                    code, status = mlflow_error(storage)
                    return error_response(code, storage.message, status)
                log.exception("unhandled error in request %s", _request_id(request))
                return error_response("INTERNAL_ERROR", f"Internal server error (request {_request_id(request)}).", 500)

        return route


# ------------------------------------------------------------------ doubles
# A double as proto-JSON writes it: NaN and the infinities by name.
double = float_out


# ------------------------------------------------------------------ requests
def missing(name: str) -> InvalidInput:
    return InvalidInput(f"Missing value for required parameter '{name}'.{_API_DOCS}")


def invalid(name: str, value: object, hint: str | None = None) -> InvalidInput:
    shown = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    detail = hint if hint is not None else f" Hint: Value was of type '{type(value).__name__}'."
    return InvalidInput(f"Invalid value {shown} for parameter '{name}' supplied: {detail}{_API_DOCS}")


class Message:
    """The fields of one request, read with MLflow's rules and messages."""

    def __init__(self, fields: dict[str, Any], *, from_query: bool = False) -> None:
        self.fields = fields
        # Query values are all strings, and every key may repeat.
        self.from_query = from_query

    def raw(self, name: str) -> Any:
        value = self.fields.get(name)
        if self.from_query and isinstance(value, list):
            return value[0] if value else None
        return value

    def has(self, name: str) -> bool:
        return self.raw(name) is not None

    def string(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.raw(name)
        if value is None or (required and value == ""):
            if required:
                raise missing(name)
            return default
        if not isinstance(value, str):
            raise invalid(name, value)
        return value

    def required(self, name: str) -> str:
        value = self.string(name, required=True)
        assert value is not None
        return value

    def run_id(self) -> str:
        """``run_id``, or the deprecated ``run_uuid`` older clients send."""
        value = self.string("run_id") or self.string("run_uuid")
        if not value:
            raise missing("run_id")
        return value

    def integer(self, name: str, *, required: bool = False, default: int | None = None) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return default
        if isinstance(value, bool):
            raise invalid(name, value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):  # int64 may travel as a string in proto-JSON, and always in a query
            try:
                return int(value)
            except ValueError:
                pass
        raise invalid(name, value)

    def number(self, name: str, *, required: bool = False) -> float | None:
        return parse_double(self.raw(name), name, required=required)

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidInput(f"Invalid boolean value: {value}, must be 'true' or 'false'.")

    def strings(self, name: str) -> list[str]:
        value = self.fields.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            value = [value]
        if not all(isinstance(v, str) for v in value):
            raise invalid(name, value)
        return value

    def objects(self, name: str) -> list[dict[str, Any]]:
        value = self.fields.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise invalid(name, value)
        return value

    def pairs(self, name: str) -> list[tuple[str, str]]:
        """A repeated ``{key, value}`` field (tags, params) as (key, value) pairs."""
        out = []
        for i, entry in enumerate(self.objects(name)):
            key, value = entry.get("key"), entry.get("value", "")
            if key is None or key == "":
                raise missing(f"{name}[{i}].key")
            if not isinstance(key, str):
                raise invalid(f"{name}[{i}].key", key)
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise invalid(f"{name}[{i}].value", value)
            out.append((key, value))
        return out

    def enum(self, name: str, names: dict[int, str], default: str) -> str:
        """An enum field given by name or by number."""
        value = self.raw(name)
        if value is None or value == "":
            return default
        if isinstance(value, int) and not isinstance(value, bool) and value in names:
            return names[value]
        if isinstance(value, str):
            if value.isdigit() and int(value) in names:
                return names[int(value)]
            if value.upper() in names.values():
                return value.upper()
        raise invalid(name, value)


def parse_double(value: object, name: str, *, required: bool = False) -> float | None:
    if value is None or value == "":
        if required:
            raise missing(name)
        return None
    if isinstance(value, bool):
        raise invalid(name, value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        special = special_float(value)
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise invalid(name, value)


def _decode(body: bytes) -> Any:
    return decode_json(body, nan_literals=True)


async def read_message(request: Request) -> Message:
    """The request's fields: its query string for a GET, its JSON body otherwise."""
    if request.method == "GET":
        query = request.query_params
        return Message({key: query.getlist(key) for key in query}, from_query=True)
    data: object
    if PARSED_JSON in request.scope:  # decoded by the permission check, by the same rules
        data = request.scope[PARSED_JSON]
    else:
        body = await request.body()
        if not body.strip():
            data = {}
        else:
            data = _decode(body)
            if isinstance(data, str):
                data = _decode(data.encode()) if data.strip() else {}
    if not isinstance(data, dict):
        raise InvalidInput("Malformed request body: expected a JSON object.")
    return Message(data)
