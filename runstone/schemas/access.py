"""Wire models of users, API tokens, groups and permissions."""

from __future__ import annotations

from pydantic import Field

from runstone.entities import ApiToken, User
from runstone.schemas.common import Model, Public


class UserCreate(Model):
    name: str
    password: str | None = None
    kind: str = "user"
    admin: bool = False


class UserUpdate(Model):
    password: str | None = None
    disabled: bool | None = None
    admin: bool | None = None


class TokenCreate(Model):
    name: str
    user: str | None = None  # default: the caller; another user's token only by an admin
    read_only: bool = False
    resources: list[str] | None = Field(default=None, description="Fence the token to experiment:<id> / model:<name>")
    expiry_time: int | None = None


class GroupCreate(Model):
    name: str


class GrantIn(Model):
    resource_type: str = Field(description="experiment or model")
    resource_id: str = Field(description="An experiment id or a registered model name")
    principal_type: str = Field(default="user", description="user or group")
    principal: str
    permission: str | None = Field(default=None, description="READ, EDIT, MANAGE or APPROVE (revoke: all when unset)")


class PrefixGrantIn(Model):
    resource_type: str
    prefix: str
    group: str
    permission: str = "READ"


def user_public(u: User, groups: list[str] | None = None) -> dict[str, object]:
    out: dict[str, object] = {
        "name": u.name,
        "kind": u.kind,
        "admin": u.is_admin,
        "creation_time": u.creation_time,
        "disabled_time": u.disabled_time,
    }
    if groups is not None:
        out["groups"] = groups
    return out


def token_public(t: ApiToken) -> dict[str, object]:
    return dict(t.__dict__)


def grant_public(g: tuple[str, str, str, str, str]) -> dict[str, str]:
    return dict(zip(("resource_type", "resource_id", "principal_type", "principal", "permission"), g, strict=True))


class UserPublic(Public):
    name: str
    kind: str
    admin: bool
    creation_time: int
    disabled_time: int | None
    groups: list[str] | None = None  # only for the signed-in caller (/users/me)


class UserAnswer(Public):
    user: UserPublic


class UserList(Public):
    users: list[UserPublic]


class TokenPublic(Public):
    """An API token as listed: never its secret."""

    token_id: str
    user: str
    name: str
    read_only: bool
    resources: list[str] | None
    creation_time: int
    expiry_time: int | None = None
    revoked_time: int | None = None
    last_used_time: int | None = None


class TokenAnswer(Public):
    token: TokenPublic


class TokenCreated(Public):
    token: TokenPublic
    secret: str


class TokenList(Public):
    tokens: list[TokenPublic]


class GroupPublic(Public):
    name: str
    members: list[str]


class GroupAnswer(Public):
    group: GroupPublic


class GroupList(Public):
    groups: list[GroupPublic]


class GrantPublic(Public):
    resource_type: str
    resource_id: str
    principal_type: str
    principal: str
    permission: str


class GrantList(Public):
    permissions: list[GrantPublic]


class Standing(Public):
    """What the caller holds on one resource."""

    permission: str
    approve: bool


class RevokedCount(Public):
    revoked: int


class PrefixGrantPublic(Public):
    resource_type: str
    prefix: str
    group: str
    permission: str


class PrefixGrantList(Public):
    prefix_grants: list[PrefixGrantPublic]


class PrefixGrantDeleted(Public):
    deleted: int
