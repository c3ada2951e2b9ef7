"""The one exception tree of runstone.

    RunstoneError                  code             HTTP
    ├── InvalidInput               invalid_input    400
    │   └── PayloadTooLarge        payload_too_large 413
    ├── Unauthenticated            unauthenticated  401
    ├── PermissionDenied           permission_denied 403
    ├── TooManyRequests            too_many_requests 429
    ├── NotFound                   not_found        404
    ├── AlreadyExists              already_exists   409
    ├── InvalidState               invalid_state    409
    │   ├── Immutable              immutable        409
    │   └── ManifestMismatch       manifest_mismatch 409
    ├── SchemaOutOfDate            schema_out_of_date 503
    ├── Unavailable                unavailable      503
    ├── InsufficientStorage        insufficient_storage 507
    └── InternalError              internal_error   500

Every class carries a stable ``code`` and an HTTP ``status``. The server maps them in one
place; the SDK rebuilds the same class from the code it receives.
"""

from __future__ import annotations

from collections.abc import Mapping


class RunstoneError(Exception):
    """Any runstone error; unexpected ones answer a generic 500 with the request id."""

    code = "error"
    status = 500

    def __init__(self, message: str, details: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(RunstoneError):
    """The request was malformed or broke a rule; the message says what to change."""

    code = "invalid_input"
    status = 400


class PayloadTooLarge(InvalidInput):
    """The request or batch is larger than the server accepts."""

    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(InvalidInput):
    """The request body is not of a type this route takes (API bodies are JSON)."""

    code = "unsupported_media_type"
    status = 415


class MethodNotAllowed(RunstoneError):
    """The path exists but does not answer this HTTP method."""

    code = "method_not_allowed"
    status = 405


class HttpError(RunstoneError):
    """The HTTP layer refused the request; the status says why."""

    code = "http_error"
    status = 400


class Unauthenticated(RunstoneError):
    """No valid credentials were presented."""

    code = "unauthenticated"
    status = 401


class PermissionDenied(RunstoneError):
    """The caller may not do this."""

    code = "permission_denied"
    status = 403


class TooManyRequests(RunstoneError):
    """Too many wrong passwords from this address for this user: wait the seconds of Retry-After."""

    code = "too_many_requests"
    status = 429


class NotFound(RunstoneError):
    """The named experiment, run, artifact or other object does not exist."""

    code = "not_found"
    status = 404


class AlreadyExists(RunstoneError):
    """An object with that name already exists."""

    code = "already_exists"
    status = 409


class InvalidState(RunstoneError):
    """The object is not in a state that allows this (e.g. a deleted run)."""

    code = "invalid_state"
    status = 409


class Immutable(InvalidState):
    """The files of a registered model version cannot be changed or deleted."""

    code = "immutable"
    status = 409


class ManifestMismatch(InvalidState):
    """A model package's files differ from the manifest recorded when its version was registered."""

    code = "manifest_mismatch"
    status = 409


class SchemaOutOfDate(RunstoneError):
    """The database schema does not match this runstone; run `runstone db upgrade`."""

    code = "schema_out_of_date"
    status = 503


class Unavailable(RunstoneError):
    """The server or database could not be reached; the request may be retried."""

    code = "unavailable"
    status = 503


class InsufficientStorage(RunstoneError):
    """The artifact store or the database has no room left (a full disk, a quota, a file size limit)."""

    code = "insufficient_storage"
    status = 507


class InternalError(RunstoneError):
    """An unexpected failure on the server."""

    code = "internal_error"
    status = 500


def _all_classes() -> list[type[RunstoneError]]:
    found: list[type[RunstoneError]] = []
    pending: list[type[RunstoneError]] = [RunstoneError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


ERROR_CLASSES: dict[str, type[RunstoneError]] = {cls.code: cls for cls in _all_classes()}


def from_code(code: str, message: str, details: Mapping[str, object] | None = None) -> RunstoneError:
    """Rebuild the exception a server reported, falling back to the base class."""
    return ERROR_CLASSES.get(code, RunstoneError)(message, details)
