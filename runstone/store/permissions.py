"""Groups, grants and team prefix grants (the rules are in runstone.governance.permissions)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Select, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from runstone.errors import AlreadyExists, NotFound
from runstone.store import experiments, raw, registry
from runstone.store.engine import rowcount
from runstone.store.identity_tables import UserRow
from runstone.store.permission_tables import GrantRow, GroupMemberRow, GroupRow, PrefixGrantRow

# One grant as listed: resource type, resource id, principal type, principal name, permission.
Grant = tuple[str, str, str, str, str]


# ------------------------------------------------------------------ groups
def insert_group(session: Session, name: str, now: int) -> None:
    if session.scalar(select(GroupRow.id).where(GroupRow.name == name)) is not None:
        raise AlreadyExists(f"A group named {name!r} already exists.")
    session.add(GroupRow(name=name, creation_time=now))
    session.flush()


def _group(session: Session, name: str) -> GroupRow:
    row = session.scalar(select(GroupRow).where(GroupRow.name == name))
    if row is None:
        raise NotFound(f"No group named {name!r}.")
    return row


def _user_id(session: Session, name: str) -> int:
    found = session.scalar(select(UserRow.id).where(UserRow.name == name))
    if found is None:
        raise NotFound(f"No user or service account named {name!r}.")
    return found


def delete_group(session: Session, name: str) -> None:
    row = _group(session, name)
    session.execute(delete(GroupMemberRow).where(GroupMemberRow.group_id == row.id))
    session.execute(delete(GrantRow).where(GrantRow.principal_type == "group", GrantRow.principal_name == name))
    session.execute(delete(PrefixGrantRow).where(PrefixGrantRow.group_name == name))
    session.delete(row)


def add_member(session: Session, group: str, user: str) -> bool:
    """True when the user was not a member yet."""
    group_id, user_id = _group(session, group).id, _user_id(session, user)
    key = (GroupMemberRow.group_id == group_id, GroupMemberRow.user_id == user_id)
    if session.scalar(select(GroupMemberRow.user_id).where(*key)) is not None:
        return False
    session.add(GroupMemberRow(group_id=group_id, user_id=user_id))
    session.flush()
    return True


def remove_member(session: Session, group: str, user: str) -> bool:
    group_id, user_id = _group(session, group).id, _user_id(session, user)
    gone = session.execute(
        delete(GroupMemberRow).where(GroupMemberRow.group_id == group_id, GroupMemberRow.user_id == user_id)
    )
    return bool(rowcount(gone))


def groups(session: Session) -> dict[str, list[str]]:
    """Every group and its members' names."""
    out: dict[str, list[str]] = {name: [] for name in session.scalars(select(GroupRow.name).order_by(GroupRow.name))}
    members = (
        select(GroupRow.name, UserRow.name)
        .join(GroupMemberRow, GroupMemberRow.group_id == GroupRow.id)
        .join(UserRow, UserRow.id == GroupMemberRow.user_id)
        .order_by(UserRow.name)
    )
    for group, user in session.execute(members):
        out[group].append(user)
    return out


def _groups_of(user: str) -> Select[str]:
    return (
        select(GroupRow.name)
        .join(GroupMemberRow, GroupMemberRow.group_id == GroupRow.id)
        .join(UserRow, UserRow.id == GroupMemberRow.user_id)
        .where(UserRow.name == user)
    )


def groups_of(session: Session, user: str) -> list[str]:
    return list(session.scalars(_groups_of(user).order_by(GroupRow.name)))


# ------------------------------------------------------------------ grants
# The reads of a permission check (which experiment a run is in, what a user holds on one
# resource, which resources it may see), built once on the tables' columns and run on the session's connection:
# a check that missed the server's cache, or a search, then costs indexed reads, not the building of ORM queries.
_grants, _members, _groups, _users = (
    GrantRow.__table__,
    GroupMemberRow.__table__,
    GroupRow.__table__,
    UserRow.__table__,
)
# Grants held by the user named by the bind parameter "user", directly or through a group.
_HOLDER = or_(
    (_grants.c.principal_type == "user") & (_grants.c.principal_name == bindparam("user")),
    (_grants.c.principal_type == "group")
    & _grants.c.principal_name.in_(
        select(_groups.c.name)
        .join(_members, _members.c.group_id == _groups.c.id)
        .join(_users, _users.c.id == _members.c.user_id)
        .where(_users.c.name == bindparam("user"))
    ),
)
_HELD = select(_grants.c.permission).where(
    _grants.c.resource_type == bindparam("resource_type"), _grants.c.resource_id == bindparam("resource_id"), _HOLDER
)
# Every search and list with auth on reads this (which resources the caller may see).
_HELD_RESOURCES = select(_grants.c.resource_id).where(
    _grants.c.resource_type == bindparam("resource_type"),
    _grants.c.permission.in_(bindparam("permissions", expanding=True)),
    _HOLDER,
)
# On the path of a log-batch whose run the permission cache does not know: plain SQL (runstone.store.raw).
_RUN_EXPERIMENT = "SELECT experiment_id FROM runs WHERE uuid = ?"


def permissions_of(session: Session, user: str, resource_type: str, resource_id: str) -> set[str]:
    """The permissions granted to a user on one resource, directly or through its groups."""
    params = {"resource_type": resource_type, "resource_id": resource_id, "user": user}
    return set(session.connection().execute(_HELD, params).scalars())


def experiment_of_run(session: Session, run_uuid: str) -> int:
    """The id of the experiment a run is in (NotFound when there is no such run)."""
    found = raw.first(session, _RUN_EXPERIMENT, (run_uuid,))
    if found is None:
        raise NotFound(f"No run with id {run_uuid!r}.")
    return int(found[0])


def resources_of(session: Session, user: str, resource_type: str, permissions: Collection[str]) -> set[str]:
    """The ids of the resources of a type on which a user holds one of the permissions."""
    params = {"resource_type": resource_type, "permissions": list(permissions), "user": user}
    return set(session.connection().execute(_HELD_RESOURCES, params).scalars())


def set_grant(
    session: Session,
    resource_type: str,
    resource_id: str,
    principal_type: str,
    principal_name: str,
    permission: str,
    now: int,
    *,
    replaces: Collection[str] = (),
) -> None:
    """Grant a permission; the principal's grants among ``replaces`` on that resource go."""
    if principal_type == "group":
        _group(session, principal_name)
    else:
        _user_id(session, principal_name)
    key = (
        GrantRow.resource_type == resource_type,
        GrantRow.resource_id == resource_id,
        GrantRow.principal_type == principal_type,
        GrantRow.principal_name == principal_name,
    )
    others = [p for p in replaces if p != permission]
    if others:
        session.execute(delete(GrantRow).where(*key, GrantRow.permission.in_(others)))
    if session.scalar(select(GrantRow.id).where(*key, GrantRow.permission == permission)) is None:
        session.add(
            GrantRow(
                resource_type=resource_type,
                resource_id=resource_id,
                principal_type=principal_type,
                principal_name=principal_name,
                permission=permission,
                creation_time=now,
            )
        )
        session.flush()


def delete_grant(
    session: Session,
    resource_type: str,
    resource_id: str,
    principal_type: str,
    principal_name: str,
    permission: str | None,
) -> int:
    query = delete(GrantRow).where(
        GrantRow.resource_type == resource_type,
        GrantRow.resource_id == resource_id,
        GrantRow.principal_type == principal_type,
        GrantRow.principal_name == principal_name,
    )
    if permission is not None:
        query = query.where(GrantRow.permission == permission)
    return int(rowcount(session.execute(query)))


def grants(
    session: Session,
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    principal_type: str | None = None,
    principal_name: str | None = None,
) -> list[Grant]:
    query = select(
        GrantRow.resource_type,
        GrantRow.resource_id,
        GrantRow.principal_type,
        GrantRow.principal_name,
        GrantRow.permission,
    )
    if resource_type is not None:
        query = query.where(GrantRow.resource_type == resource_type)
    if resource_id is not None:
        query = query.where(GrantRow.resource_id == resource_id)
    if principal_type is not None:
        query = query.where(GrantRow.principal_type == principal_type)
    if principal_name is not None:
        query = query.where(GrantRow.principal_name == principal_name)
    order = (
        GrantRow.resource_type,
        GrantRow.resource_id,
        GrantRow.principal_type,
        GrantRow.principal_name,
        GrantRow.id,
    )
    return [tuple(row) for row in session.execute(query.order_by(*order))]  # type: ignore[misc]


def rename_resource(session: Session, resource_type: str, old: str, new: str) -> None:
    session.execute(
        update(GrantRow)
        .where(GrantRow.resource_type == resource_type, GrantRow.resource_id == old)
        .values(resource_id=new)
    )


def drop_resource(session: Session, resource_type: str, resource_id: str) -> None:
    session.execute(
        delete(GrantRow).where(GrantRow.resource_type == resource_type, GrantRow.resource_id == resource_id)
    )


# ------------------------------------------------------------------ team prefix grants
def set_prefix_grant(session: Session, resource_type: str, prefix: str, group: str, permission: str, now: int) -> None:
    _group(session, group)
    key = (
        PrefixGrantRow.resource_type == resource_type,
        PrefixGrantRow.prefix == prefix,
        PrefixGrantRow.group_name == group,
    )
    row = session.scalar(select(PrefixGrantRow).where(*key))
    if row is None:
        session.add(
            PrefixGrantRow(
                resource_type=resource_type, prefix=prefix, group_name=group, permission=permission, creation_time=now
            )
        )
        session.flush()
    else:
        row.permission = permission


def delete_prefix_grant(session: Session, resource_type: str, prefix: str, group: str) -> int:
    query = delete(PrefixGrantRow).where(
        PrefixGrantRow.resource_type == resource_type,
        PrefixGrantRow.prefix == prefix,
        PrefixGrantRow.group_name == group,
    )
    return int(rowcount(session.execute(query)))


def prefix_grants(session: Session, resource_type: str | None = None) -> list[tuple[str, str, str, str]]:
    """(resource type, prefix, group, permission) of every team prefix grant."""
    query = select(
        PrefixGrantRow.resource_type, PrefixGrantRow.prefix, PrefixGrantRow.group_name, PrefixGrantRow.permission
    )
    if resource_type is not None:
        query = query.where(PrefixGrantRow.resource_type == resource_type)
    return [tuple(r) for r in session.execute(query.order_by(PrefixGrantRow.prefix, PrefixGrantRow.group_name))]  # type: ignore[misc]


def experiment_pk(session: Session, experiment_id: str) -> int:
    """An experiment's id, checked to exist."""
    return experiments.get_row(session, experiments.parse_id(experiment_id)).id


def model_pk(session: Session, name: str) -> int:
    return registry.model_row(session, name).id
