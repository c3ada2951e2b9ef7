"""The unit of work every service command runs in.

A :class:`Context` is built once per HTTP request (the server's ``context`` dependency) and once
per client in embedded mode. It carries who is acting (the :class:`Principal`), the clock, the
metadata database whose :meth:`Context.transaction` opens the one transaction of a command, and
the audit writer that records the command's event inside that same transaction. Services take
a Context; none borrows another service's database, clock or caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from runstone.store import audit as audit_store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from runstone.store.engine import Database


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Principal:
    """Who is acting: recorded on runs and audit events."""

    user: str
    # The id the HTTP layer gave this request (X-Request-Id), recorded on audit events.
    request_id: str | None = None
    # Set by clients on writes they may retry: a repeated key is applied once.
    idempotency_key: str | None = None
    # With auth on: the API token the caller presented (its public id, never the secret).
    token_id: str | None = None
    # True when a credential proved who this is (auth on); names that clients declare then count for nothing.
    authenticated: bool = False
    # With auth on: an admin may do everything; others hold what grants give them, and at least
    # ``default_permission`` (the setting auth_default_permission) on every experiment and model.
    is_admin: bool = False
    default_permission: str = "NONE"
    # With auth on: the client's address as the server saw it, recorded on audit events.
    client: str | None = None


SYSTEM = Principal("system")

# A JSON-able mapping recorded as an audit event's before or after state.
AuditState = Mapping[str, object]


@dataclass(frozen=True)
class AuditWriter:
    """Appends events to the hash-chained audit trail, inside the caller's transaction."""

    db: Database
    principal: Principal
    clock: Callable[[], int]

    def write(
        self,
        session: Session,
        action: str,
        target_type: str,
        target_id: str,
        before: AuditState | None = None,
        after: AuditState | None = None,
    ) -> None:
        self.db.lock_audit_chain(session)
        audit_store.append(
            session,
            time=self.clock(),
            actor=self.principal.user,
            action=action,
            target_type=target_type,
            target_id=target_id,
            before=dict(before) if before is not None else None,
            after=dict(after) if after is not None else None,
            request_id=self.principal.request_id,
            token_id=self.principal.token_id,
            client=self.principal.client,
        )


class Owed:
    """Permission checks a request still owes, settled at the start of its first transaction,
    in that transaction (``runstone.server.access`` leaves them here for the routes that declare
    ``in_transaction``): a check that must read the database then costs one indexed read in the
    route's own transaction, not a thread switch and a transaction of its own."""

    def __init__(self) -> None:
        self._checks: list[Callable[[Session], None]] = []

    def add(self, check: Callable[[Session], None]) -> None:
        self._checks.append(check)

    def settle(self, session: Session) -> None:
        while self._checks:
            self._checks.pop(0)(session)


@dataclass(frozen=True)
class Context:
    """Database, principal, clock and audit writer of one request or SDK call."""

    db: Database
    principal: Principal = SYSTEM
    clock: Callable[[], int] = now_ms
    # The request's permission checks still owed (with auth on), settled by its first transaction.
    owed: Owed | None = field(default=None, repr=False, compare=False)
    audit: AuditWriter = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "audit", AuditWriter(self.db, self.principal, self.clock))

    @property
    def user(self) -> str:
        return self.principal.user

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Session]:
        """The one transaction of a service command: committed on success, rolled back on error."""
        with self.db.transaction(write=write) as session:
            if self.owed is not None:
                self.owed.settle(session)  # refused: nothing of the command is read or written
            yield session

    def acting_as(self, principal: Principal) -> Context:
        return replace(self, principal=principal)
