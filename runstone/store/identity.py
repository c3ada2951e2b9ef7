"""Users, service accounts and API tokens."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from runstone.entities import ApiToken, User
from runstone.errors import AlreadyExists, NotFound
from runstone.store.identity_tables import ApiTokenRow, UserRow


def _user(row: UserRow) -> User:
    return User(row.id, row.name, row.kind, row.is_admin, row.creation_time, row.disabled_time)


def _token(row: ApiTokenRow, user: str) -> ApiToken:
    resources = json.loads(row.resources) if row.resources is not None else None
    return ApiToken(
        row.token_id,
        user,
        row.name,
        row.read_only,
        resources,
        row.creation_time,
        row.expiry_time,
        row.revoked_time,
        row.last_used_time,
    )


def insert_user(session: Session, *, name: str, kind: str, password_hash: str | None, is_admin: bool, now: int) -> User:
    if session.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
        raise AlreadyExists(f"A user or service account named {name!r} already exists.")
    row = UserRow(name=name, kind=kind, password_hash=password_hash, is_admin=is_admin, creation_time=now)
    session.add(row)
    session.flush()
    return _user(row)


def _user_row(session: Session, name: str) -> UserRow:
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    if row is None:
        raise NotFound(f"No user or service account named {name!r}.")
    return row


def get_user(session: Session, name: str) -> User:
    return _user(_user_row(session, name))


def find_user(session: Session, name: str) -> tuple[User, str | None] | None:
    """The user and its password hash, or None when there is no such user."""
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    return None if row is None else (_user(row), row.password_hash)


def all_users(session: Session) -> list[User]:
    return [_user(r) for r in session.scalars(select(UserRow).order_by(UserRow.name))]


def count_admins(session: Session) -> int:
    return len(session.scalars(select(UserRow.id).where(UserRow.is_admin.is_(True))).all())


def set_password_hash(session: Session, name: str, password_hash: str) -> None:
    _user_row(session, name).password_hash = password_hash


def set_disabled(session: Session, name: str, when: int | None) -> User:
    row = _user_row(session, name)
    row.disabled_time = when
    return _user(row)


def set_admin(session: Session, name: str, is_admin: bool) -> User:
    row = _user_row(session, name)
    row.is_admin = is_admin
    return _user(row)


def insert_token(
    session: Session,
    *,
    token_id: str,
    user: str,
    name: str,
    secret_hash: str,
    read_only: bool,
    resources: Sequence[str] | None,
    expiry_time: int | None,
    now: int,
) -> ApiToken:
    owner = _user_row(session, user)
    row = ApiTokenRow(
        token_id=token_id,
        user_id=owner.id,
        name=name,
        secret_hash=secret_hash,
        read_only=read_only,
        resources=json.dumps(sorted(resources)) if resources is not None else None,
        creation_time=now,
        expiry_time=expiry_time,
    )
    session.add(row)
    session.flush()
    return _token(row, owner.name)


def find_token(session: Session, token_id: str) -> tuple[ApiToken, str, User] | None:
    """The token, its secret's hash and its owner, or None."""
    found = session.execute(
        select(ApiTokenRow, UserRow)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .where(ApiTokenRow.token_id == token_id)
    ).first()
    if found is None:
        return None
    token, owner = found
    return _token(token, owner.name), token.secret_hash, _user(owner)


def tokens(session: Session, user: str | None = None) -> list[ApiToken]:
    query = select(ApiTokenRow, UserRow.name).join(UserRow, UserRow.id == ApiTokenRow.user_id)
    if user is not None:
        query = query.where(UserRow.name == user)
    return [_token(t, name) for t, name in session.execute(query.order_by(ApiTokenRow.id))]


def revoke_token(session: Session, token_id: str, now: int) -> ApiToken:
    found = session.execute(
        select(ApiTokenRow, UserRow.name)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .where(ApiTokenRow.token_id == token_id)
    ).first()
    if found is None:
        raise NotFound(f"No API token with id {token_id!r}.")
    row, owner = found
    if row.revoked_time is None:
        row.revoked_time = now
    return _token(row, owner)


def touch_token(session: Session, token_id: str, now: int) -> None:
    session.execute(update(ApiTokenRow).where(ApiTokenRow.token_id == token_id).values(last_used_time=now))
