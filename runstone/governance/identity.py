"""Who may sign in: users (argon2id passwords), service accounts and API tokens.

A token reads ``rst_<id>_<secret>``: the id is public (listings, audit events), the secret is
shown once when the token is made and kept only as its SHA-256. A password is kept only as an
argon2id hash made by argon2-cffi. Every change here is an audit event; so is a failed sign-in.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from runstone.entities import ApiToken, User
from runstone.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from runstone.extras import require
from runstone.governance.context import Context
from runstone.store import identity as store

if TYPE_CHECKING:
    from argon2 import PasswordHasher

USER_KINDS = ("user", "service")
# The name of the API tokens that carry UI sessions (a new password ends them).
SESSION_TOKEN_NAME = "UI session"
_NAME_RE = re.compile(r"^[\w.@+\-]{1,256}$")
_TOKEN_RE = re.compile(r"^rst_([0-9a-f]{16})_([\w\-]{43})$")
_RESOURCE_RE = re.compile(r"^(experiment:\d{1,18}|model:.{1,250})$")
MIN_PASSWORD = 12
# A token's last-used time is written at most this often, so a busy client costs no write per request.
TOUCH_INTERVAL_MS = 60_000


@functools.cache
def _hasher() -> PasswordHasher:
    """argon2id with the library's recommended parameters. argon2-cffi comes with the server
    extra: a client install lists users and tokens, and asks for the extra to hash a password."""
    require("server", "Hashing or checking a password")
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so a wrong name takes as long as a wrong password."""
    return _hasher().hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Authenticated:
    """A verified caller: the user or service account, and the token when one was used."""

    user: User
    token: ApiToken | None = None


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``secret`` is the whole token string, shown this once."""

    token: ApiToken
    secret: str


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise InvalidInput("A user name is 1-256 letters, digits or . @ + - _ characters (no spaces).")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"A password needs at least {MIN_PASSWORD} characters.")
    if len(password) > 1024:
        raise InvalidInput("A password has at most 1024 characters.")
    return password


def generate_password() -> str:
    return secrets.token_urlsafe(18)


class IdentityService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # Users and service accounts -------------------------------------------------------------

    def create_user(self, name: str, *, password: str | None = None, kind: str = "user", admin: bool = False) -> User:
        check_name(name)
        if kind not in USER_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(USER_KINDS)}, not {kind!r}.")
        if kind == "service" and password is not None:
            raise InvalidInput("A service account signs in with API tokens only; it has no password.")
        hashed = _hasher().hash(check_password(password)) if password is not None else None
        with self.ctx.transaction(write=True) as s:
            user = store.insert_user(
                s, name=name, kind=kind, password_hash=hashed, is_admin=admin, now=self.ctx.clock()
            )
            self.ctx.audit.write(s, "user.create", "user", name, after={"kind": kind, "admin": admin})
        return user

    def users(self) -> list[User]:
        with self.ctx.transaction() as s:
            return store.all_users(s)

    def get_user(self, name: str) -> User:
        with self.ctx.transaction() as s:
            return store.get_user(s, name)

    def set_password(self, name: str, password: str) -> int:
        """Set a user's password and end their UI sessions (whoever knew the old password is
        signed out); the number of sessions ended."""
        hashed = _hasher().hash(check_password(password))
        with self.ctx.transaction(write=True) as s:
            if store.get_user(s, name).kind == "service":
                raise InvalidInput("A service account signs in with API tokens only; it has no password.")
            store.set_password_hash(s, name, hashed)
            self.ctx.audit.write(s, "user.password", "user", name)
            ended = 0
            for token in store.tokens(s, name):
                if token.name == SESSION_TOKEN_NAME and token.revoked_time is None:
                    store.revoke_token(s, token.token_id, self.ctx.clock())
                    self.ctx.audit.write(s, "token.revoke", "token", token.token_id, after={"user": name})
                    ended += 1
        return ended

    def set_disabled(self, name: str, disabled: bool) -> User:
        with self.ctx.transaction(write=True) as s:
            user = store.set_disabled(s, name, self.ctx.clock() if disabled else None)
            self.ctx.audit.write(s, "user.disable" if disabled else "user.enable", "user", name)
        return user

    def set_admin(self, name: str, admin: bool) -> User:
        with self.ctx.transaction(write=True) as s:
            user = store.set_admin(s, name, admin)
            self.ctx.audit.write(s, "user.admin", "user", name, after={"admin": admin})
        return user

    def ensure_admin(self, name: str = "admin", password: str | None = None) -> str | None:
        """Create the first admin when there is none; returns the password made up for it, if any."""
        with self.ctx.transaction() as s:
            if store.count_admins(s) > 0:
                return None
        made_up = password is None
        password = password if password is not None else generate_password()
        self.create_user(name, password=password, admin=True)
        return password if made_up else None

    # Tokens ------------------------------------------------------------------------------------

    def create_token(
        self,
        user: str,
        name: str,
        *,
        read_only: bool = False,
        resources: Sequence[str] | None = None,
        expiry_time: int | None = None,
    ) -> NewToken:
        self._own_or_admin(user, "create the tokens")
        if not 1 <= len(name) <= 250:
            raise InvalidInput("A token name is 1-250 characters.")
        if resources is not None:
            for r in resources:
                if not _RESOURCE_RE.match(r):
                    raise InvalidInput(f"A token's resource is experiment:<id> or model:<name>, not {r!r}.")
        now = self.ctx.clock()
        if expiry_time is not None and expiry_time <= now:
            raise InvalidInput("A token's expiry time must be in the future.")
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        with self.ctx.transaction(write=True) as s:
            token = store.insert_token(
                s,
                token_id=token_id,
                user=user,
                name=name,
                secret_hash=_secret_hash(secret),
                read_only=read_only,
                resources=resources,
                expiry_time=expiry_time,
                now=now,
            )
            self.ctx.audit.write(
                s,
                "token.create",
                "token",
                token_id,
                after={
                    "user": user,
                    "name": name,
                    "read_only": read_only,
                    "resources": token.resources,
                    "expiry_time": expiry_time,
                },
            )
        return NewToken(token, f"rst_{token_id}_{secret}")

    def _own_or_admin(self, user: str, what: str) -> None:
        principal = self.ctx.principal
        if principal.authenticated and not principal.is_admin and user != principal.user:
            raise PermissionDenied(
                f"Only an admin may {what} of another user; {principal.user!r} asked for {user!r}'s."
            )

    def visible_tokens(self, user: str | None = None) -> list[ApiToken]:
        """Tokens as the caller may see them: its own, or anyone's (filtered by ``user``) for an admin."""
        principal = self.ctx.principal
        if principal.authenticated and not principal.is_admin:
            self._own_or_admin(user or principal.user, "list the tokens")
            user = principal.user
        return self.tokens(user)

    def tokens(self, user: str | None = None) -> list[ApiToken]:
        with self.ctx.transaction() as s:
            return store.tokens(s, user)

    def revoke_token(self, token_id: str) -> ApiToken:
        with self.ctx.transaction(write=True) as s:
            found = store.find_token(s, token_id)
            if found is None:
                raise NotFound(f"No API token with id {token_id!r}.")
            self._own_or_admin(found[2].name, "revoke the tokens")
            token = store.revoke_token(s, token_id, self.ctx.clock())
            self.ctx.audit.write(s, "token.revoke", "token", token_id, after={"user": token.user})
        return token

    # Signing in --------------------------------------------------------------------------------

    def authenticate_password(self, name: str, password: str) -> Authenticated:
        with self.ctx.transaction() as s:
            found = store.find_user(s, name)
        user, hashed = found if found is not None else (None, None)
        hasher, dummy = _hasher(), _dummy_hash()
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            hasher.verify(hashed or dummy, password)
            ok = hashed is not None and user is not None and user.disabled_time is None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or user is None:
            self._failed("password", name)
            raise Unauthenticated("Wrong user name or password.")
        # A password is verified once per sign-in (the server then trusts it a while), so this
        # records sign-ins, not every request.
        signed_in = self.ctx.acting_as(replace(self.ctx.principal, user=name))
        with signed_in.transaction(write=True) as s:
            signed_in.audit.write(s, "login.success", "user", name, after={"method": "password"})
        return Authenticated(user)

    def authenticate_token(self, token: str) -> Authenticated:
        match = _TOKEN_RE.match(token)
        if match is None:
            self._failed("token", None)
            raise Unauthenticated("The API token is not a runstone token (rst_...).")
        token_id, secret = match.groups()
        with self.ctx.transaction() as s:
            found = store.find_token(s, token_id)
        now = self.ctx.clock()
        if found is None or not hmac.compare_digest(found[1], _secret_hash(secret)):
            self._failed("token", token_id)
            raise Unauthenticated("The API token is not valid.")
        entity, _, user = found
        if entity.revoked_time is not None:
            self._failed("token", token_id)
            raise Unauthenticated(f"The API token {token_id} was revoked.")
        if entity.expiry_time is not None and entity.expiry_time <= now:
            self._failed("token", token_id)
            raise Unauthenticated(f"The API token {token_id} has expired.")
        if user.disabled_time is not None:
            self._failed("token", token_id)
            raise Unauthenticated(f"The user {user.name} is disabled.")
        if entity.last_used_time is None or now - entity.last_used_time >= TOUCH_INTERVAL_MS:
            with self.ctx.transaction(write=True) as s:
                store.touch_token(s, token_id, now)
        return Authenticated(user, entity)

    def _failed(self, method: str, who: str | None) -> None:
        with self.ctx.transaction(write=True) as s:
            self.ctx.audit.write(
                s,
                "login.failed",
                "user" if method == "password" else "token",
                (who or "-")[:256],
                after={"method": method},
            )
