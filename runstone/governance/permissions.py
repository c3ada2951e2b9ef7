"""Who may do what once auth is on: per-resource permissions, groups and team prefix grants.

Every experiment and registered model has, for each user, a level READ < EDIT < MANAGE (or
NONE), and APPROVE (approving the model's registry requests; MANAGE implies it). A user's
level is the highest of its own grants, its groups' grants and the server's default
(``auth_default_permission``, NONE unless configured). Admins hold everything. The creator of
an experiment or model gets MANAGE on it, and every group with a team prefix grant matching the
new name gets that grant. With auth off nothing here is consulted: everyone may do everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from runstone.errors import InvalidInput, PermissionDenied
from runstone.governance.context import Context, Principal
from runstone.store import permissions as store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

RESOURCE_TYPES = ("experiment", "model")
PRINCIPAL_TYPES = ("user", "group")
_GROUP_RE = re.compile(r"^[\w.@+\-]{1,256}$")


class Permission(IntEnum):
    NONE = 0
    READ = 1
    EDIT = 2
    MANAGE = 3
    APPROVE = 10  # not a level: a right on a registered model's requests, beside the level

    @classmethod
    def parse(cls, value: str) -> Permission:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise InvalidInput(f"A permission is one of READ, EDIT, MANAGE, APPROVE; not {value!r}.") from None


LEVELS = (Permission.READ, Permission.EDIT, Permission.MANAGE)
_LEVEL_NAMES = tuple(p.name for p in LEVELS)


@dataclass(frozen=True)
class Standing:
    """What one user holds on one resource."""

    level: Permission
    approve: bool

    def allows(self, needed: Permission) -> bool:
        if needed == Permission.APPROVE:
            return self.approve
        return self.level >= needed


FULL = Standing(Permission.MANAGE, True)


def default_level(principal: Principal) -> Permission:
    return (
        Permission[principal.default_permission]
        if principal.default_permission in Permission.__members__
        else Permission.NONE
    )


def unrestricted(principal: Principal) -> bool:
    """True when no grant needs reading: auth off, or an admin."""
    return not principal.authenticated or principal.is_admin


def standing(session: Session, principal: Principal, resource_type: str, resource_id: str) -> Standing:
    if unrestricted(principal):
        return FULL
    held = store.permissions_of(session, principal.user, resource_type, resource_id)
    level = max([default_level(principal), *(Permission[p] for p in held if p in _LEVEL_NAMES)])
    return Standing(level, "APPROVE" in held or level >= Permission.MANAGE)


def describe(resource_type: str, resource_id: str) -> str:
    return f"experiment {resource_id}" if resource_type == "experiment" else f"registered model {resource_id!r}"


def require(session: Session, principal: Principal, needed: Permission, resource_type: str, resource_id: str) -> None:
    """Raise PermissionDenied (403, naming what is missing) unless the caller holds ``needed``."""
    if standing(session, principal, resource_type, resource_id).allows(needed):
        return
    raise PermissionDenied(
        f"User {principal.user!r} needs {needed.name} permission on {describe(resource_type, resource_id)}.",
        {"permission": needed.name, "resource_type": resource_type, "resource_id": resource_id},
    )


def visible(session: Session, principal: Principal, resource_type: str) -> set[str] | None:
    """The ids of the resources the caller may read, or None when it may read every one."""
    if unrestricted(principal) or default_level(principal) >= Permission.READ:
        return None
    return store.resources_of(session, principal.user, resource_type, (*_LEVEL_NAMES, "APPROVE"))


def on_create(session: Session, ctx: Context, resource_type: str, resource_id: str, name: str) -> None:
    """The creator's MANAGE grant and the team prefix grants of a resource just made."""
    if not ctx.principal.authenticated:
        return
    now = ctx.clock()
    store.set_grant(session, resource_type, resource_id, "user", ctx.user, "MANAGE", now, replaces=_LEVEL_NAMES)
    for _, prefix, group, permission in store.prefix_grants(session, resource_type):
        if name.startswith(prefix):
            replaces = _LEVEL_NAMES if permission in _LEVEL_NAMES else ()
            store.set_grant(session, resource_type, resource_id, "group", group, permission, now, replaces=replaces)


def in_group(session: Session, user: str, group: str) -> bool:
    return group in store.groups_of(session, user)


def check_group_name(name: str) -> str:
    if not _GROUP_RE.match(name):
        raise InvalidInput("A group name is 1-256 letters, digits or . @ + - _ characters (no spaces).")
    return name


def _check_resource(resource_type: str, principal_type: str) -> None:
    if resource_type not in RESOURCE_TYPES:
        raise InvalidInput(f"A resource type is experiment or model, not {resource_type!r}.")
    if principal_type not in PRINCIPAL_TYPES:
        raise InvalidInput(f"A grant goes to a user or a group, not {principal_type!r}.")


class PermissionService:
    """Groups, grants and team prefix grants; every change is an audit event.

    Admins manage groups and prefix grants; a grant on one resource may be given or taken by an
    admin or by a holder of MANAGE on that resource.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _admin(self, what: str) -> None:
        if not unrestricted(self.ctx.principal):
            raise PermissionDenied(f"Only an admin may {what}; {self.ctx.user!r} is not an admin.")

    # Groups ------------------------------------------------------------------------------------
    def create_group(self, name: str) -> None:
        self._admin("create groups")
        check_group_name(name)
        with self.ctx.transaction(write=True) as s:
            store.insert_group(s, name, self.ctx.clock())
            self.ctx.audit.write(s, "group.create", "group", name)

    def delete_group(self, name: str) -> None:
        self._admin("delete groups")
        with self.ctx.transaction(write=True) as s:
            store.delete_group(s, name)
            self.ctx.audit.write(s, "group.delete", "group", name)

    def add_member(self, group: str, user: str) -> None:
        self._admin("change group members")
        with self.ctx.transaction(write=True) as s:
            if store.add_member(s, group, user):
                self.ctx.audit.write(s, "group.add_member", "group", group, after={"user": user})

    def remove_member(self, group: str, user: str) -> None:
        self._admin("change group members")
        with self.ctx.transaction(write=True) as s:
            if store.remove_member(s, group, user):
                self.ctx.audit.write(s, "group.remove_member", "group", group, before={"user": user})

    def groups(self) -> dict[str, list[str]]:
        with self.ctx.transaction() as s:
            return store.groups(s)

    # Grants ------------------------------------------------------------------------------------
    def grant(
        self, resource_type: str, resource_id: str, principal_type: str, principal_name: str, permission: str
    ) -> None:
        _check_resource(resource_type, principal_type)
        perm = Permission.parse(permission)
        if perm == Permission.NONE:
            raise InvalidInput("Grant READ, EDIT, MANAGE or APPROVE; to take a permission away, revoke it.")
        if perm == Permission.APPROVE and resource_type != "model":
            raise InvalidInput("APPROVE is a permission on a registered model's requests, not on an experiment.")
        with self.ctx.transaction(write=True) as s:
            resource_id = self._resource(s, resource_type, resource_id)
            require(s, self.ctx.principal, Permission.MANAGE, resource_type, resource_id)
            replaces = _LEVEL_NAMES if perm in LEVELS else ()
            store.set_grant(
                s,
                resource_type,
                resource_id,
                principal_type,
                principal_name,
                perm.name,
                self.ctx.clock(),
                replaces=replaces,
            )
            self.ctx.audit.write(
                s,
                "permission.grant",
                resource_type,
                resource_id,
                after={"principal_type": principal_type, "principal": principal_name, "permission": perm.name},
            )

    def revoke(
        self,
        resource_type: str,
        resource_id: str,
        principal_type: str,
        principal_name: str,
        permission: str | None = None,
    ) -> int:
        _check_resource(resource_type, principal_type)
        perm = Permission.parse(permission).name if permission else None
        with self.ctx.transaction(write=True) as s:
            resource_id = self._resource(s, resource_type, resource_id)
            require(s, self.ctx.principal, Permission.MANAGE, resource_type, resource_id)
            gone = store.delete_grant(s, resource_type, resource_id, principal_type, principal_name, perm)
            self.ctx.audit.write(
                s,
                "permission.revoke",
                resource_type,
                resource_id,
                before={"principal_type": principal_type, "principal": principal_name, "permission": perm or "ALL"},
            )
        return gone

    def grants(
        self,
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        principal_type: str | None = None,
        principal_name: str | None = None,
    ) -> list[store.Grant]:
        """Grants, filtered; a non-admin sees the grants of the resources it may read."""
        with self.ctx.transaction() as s:
            found = store.grants(
                s,
                resource_type=resource_type,
                resource_id=resource_id,
                principal_type=principal_type,
                principal_name=principal_name,
            )
            if unrestricted(self.ctx.principal):
                return found
            readable = {t: visible(s, self.ctx.principal, t) for t in RESOURCE_TYPES}
            return [g for g in found if (seen := readable[g[0]]) is None or g[1] in seen]

    def standing(self, resource_type: str, resource_id: str) -> Standing:
        _check_resource(resource_type, "user")
        with self.ctx.transaction() as s:
            return standing(s, self.ctx.principal, resource_type, self._resource(s, resource_type, resource_id))

    def groups_of(self, user: str) -> list[str]:
        with self.ctx.transaction() as s:
            return store.groups_of(s, user)

    # Team prefix grants ------------------------------------------------------------------------
    def set_prefix_grant(self, resource_type: str, prefix: str, group: str, permission: str) -> None:
        self._admin("set team prefix grants")
        _check_resource(resource_type, "group")
        perm = Permission.parse(permission)
        if perm == Permission.NONE or (perm == Permission.APPROVE and resource_type != "model"):
            raise InvalidInput("A team prefix grant gives READ, EDIT, MANAGE (or APPROVE on models).")
        if not 1 <= len(prefix) <= 256:
            raise InvalidInput("A name prefix is 1-256 characters.")
        with self.ctx.transaction(write=True) as s:
            store.set_prefix_grant(s, resource_type, prefix, group, perm.name, self.ctx.clock())
            self.ctx.audit.write(
                s,
                "permission.prefix_grant",
                "group",
                group,
                after={"resource_type": resource_type, "prefix": prefix, "permission": perm.name},
            )

    def delete_prefix_grant(self, resource_type: str, prefix: str, group: str) -> int:
        self._admin("remove team prefix grants")
        with self.ctx.transaction(write=True) as s:
            gone = store.delete_prefix_grant(s, resource_type, prefix, group)
            self.ctx.audit.write(
                s, "permission.prefix_revoke", "group", group, before={"resource_type": resource_type, "prefix": prefix}
            )
        return gone

    def prefix_grants(self) -> list[tuple[str, str, str, str]]:
        with self.ctx.transaction() as s:
            return store.prefix_grants(s)

    def _resource(self, s: Session, resource_type: str, resource_id: str) -> str:
        """The resource's id as grants key it; it must exist."""
        if resource_type == "experiment":
            return str(store.experiment_pk(s, resource_id))
        store.model_pk(s, resource_id)
        return resource_id
