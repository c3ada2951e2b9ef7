"""What each route needs, declared next to the route (``runstone.server.access`` enforces it).

- ``@needs(Permission.EDIT, "run", "run_id")``: the caller must hold EDIT on the experiment of
  the run named by ``run_id``. A field is looked up as a path parameter, a query parameter, a
  JSON body field or a form field, in that order; several names may be given and the first
  present counts; ``a.b`` reads a nested field, ``a[].b`` every element of a list,
  ``header:<name>`` a request header and ``default:<value>`` is used when nothing else is
  present. A list value needs the permission on every element. ``optional=True`` skips the
  check when the field is absent (another declaration of the route covers that case).
  Declarations stack: a route may need several things.
- ``in_transaction=True``: when the check must read the database (an object's experiment not
  remembered, a decision not made lately), it is made at the start of the route's first
  transaction, in that transaction, instead of before the route. Only for routes that do nothing
  but read and validate the request before that transaction (the logging routes): their hot path
  then pays no thread switch and no transaction of its own. ``tests/server/test_route_permissions.py``
  lists them and checks that each refuses a caller without the permission and writes nothing.
- ``@signed_in``: any signed-in user. The route itself shows only what the caller may read
  (searches and lists filter) or creates something the caller will own.
- ``@admin_only``: admins only.

Kept in governance so that the web UI's routes can declare what they need without importing
the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from runstone.governance.permissions import Permission
from runstone.governance.resources import KINDS

F = TypeVar("F", bound=Callable[..., Any])
NEEDS_ATTR = "__runstone_needs__"


@dataclass(frozen=True)
class Need:
    """One declared need: a permission on the resource a request field names, any signed-in
    user (``permission`` None), or an admin."""

    permission: Permission | None = None
    kind: str | None = None
    fields: tuple[str, ...] = ()
    admin: bool = False
    optional: bool = False
    in_transaction: bool = False

    def describe(self) -> str:
        if self.admin:
            return "admin"
        if self.permission is None:
            return "signed in"
        return f"{self.permission.name} on the {self.kind} named by {' or '.join(self.fields)}"


def _declare(need: Need) -> Callable[[F], F]:
    def mark(endpoint: F) -> F:
        setattr(endpoint, NEEDS_ATTR, (*getattr(endpoint, NEEDS_ATTR, ()), need))
        return endpoint

    return mark


def needs(
    permission: Permission, kind: str, *fields: str, optional: bool = False, in_transaction: bool = False
) -> Callable[[F], F]:
    if kind not in KINDS or not fields:
        raise ValueError(f"needs() takes a resource kind of {KINDS} and at least one field")
    return _declare(Need(permission, kind, fields, optional=optional, in_transaction=in_transaction))


def signed_in(endpoint: F) -> F:
    return _declare(Need())(endpoint)


def admin_only(endpoint: F) -> F:
    return _declare(Need(admin=True))(endpoint)


def needs_of(endpoint: Callable[..., Any] | None) -> tuple[Need, ...]:
    return getattr(endpoint, NEEDS_ATTR, ())
