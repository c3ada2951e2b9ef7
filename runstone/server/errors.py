"""Errors to responses, in one place: ``{"error": {"code", "message", "details"}}``.

Unknown exceptions answer a generic 500 that carries the request id; the traceback goes to
the server log only.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from runstone.artifacts.base import storage_error
from runstone.errors import HttpError, InvalidInput, MethodNotAllowed, NotFound, RunstoneError
from runstone.server.http import JSON

log = logging.getLogger("runstone.server")


def error_response(error: RunstoneError, request: Request) -> JSON:
    body = {"error": error.to_dict()}
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["error"]["request_id"] = request_id
    return JSON(body, status_code=error.status)


def _describe(errors: list[dict]) -> str:
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        message = e.get("msg", "invalid")
        if e.get("type") == "json_invalid":
            detail = (e.get("ctx") or {}).get("error", "")
            parts.append(f"Request body is not valid JSON{': ' + str(detail) if detail else ''}")
        elif where:
            parts.append(f"{where}: {message}")
        else:
            parts.append(message)
    return "; ".join(parts) or "Invalid request."


def install(app: FastAPI) -> None:
    @app.exception_handler(RunstoneError)
    async def _runstone(request: Request, exc: RunstoneError) -> JSON:
        return error_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSON:
        errors = [dict(e) for e in exc.errors()]
        for e in errors:
            e.pop("input", None)
            e.pop("url", None)
            if "ctx" in e:
                e["ctx"] = {k: str(v) for k, v in e["ctx"].items()}
        return error_response(InvalidInput(_describe(errors), {"errors": errors}), request)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSON:
        kind = {404: NotFound, 405: MethodNotAllowed}.get(exc.status_code, HttpError)
        error = kind(str(exc.detail))
        error.status = exc.status_code
        return error_response(error, request)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> JSON:
        # The client closed the connection before its body ended: nothing of the request was
        # carried out. One line in the log (the client's doing, not a server error); the answer
        # is for the request log, as no one is left to read it.
        request_id = getattr(request.state, "request_id", "-")
        log.info("request %s: the client closed the connection before its body ended; nothing was done", request_id)
        gone = InvalidInput("The request body ended before its declared length: the client closed the connection.")
        return error_response(gone, request)

    @app.exception_handler(Exception)
    async def _unknown(request: Request, exc: Exception) -> JSON:
        request_id = getattr(request.state, "request_id", "-")
        # A full or read-only disk under the upload spool or another server file: say so,
        # without the path, instead of an opaque 500.
        storage = storage_error(exc, "The server's storage") if isinstance(exc, OSError) else None
        if storage is not None:
            log.error("storage error in request %s: %s", request_id, exc)
            return error_response(storage, request)
        log.exception("unhandled error in request %s", request_id)
        return error_response(RunstoneError(f"Internal server error (request {request_id})."), request)
