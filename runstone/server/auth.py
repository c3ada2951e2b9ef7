"""Authentication of every request when the setting ``auth`` is on.

An ASGI middleware in front of every route (native API, MLflow routes under every prefix,
artifacts, UI pages, docs): a request without a valid credential gets 401 with
``WWW-Authenticate`` and reaches no route. Credentials are read as the stock clients send them:
``Authorization: Bearer <token>`` (RUNSTONE_TRACKING_TOKEN, MLFLOW_TRACKING_TOKEN) and
``Authorization: Basic`` with a user name and either the password or an API token as password
(MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, a browser's sign-in dialog). Without an
Authorization header, the UI's session cookie is read (a session token made at sign-in on
/ui/login, see ``runstone.ui.session``). Only the liveness and readiness probes, the sign-in page
and the UI's static scripts and styles answer without a credential; a UI page asked for without
one redirects to the sign-in page (API routes keep answering 401).

The verified caller is kept in the ASGI scope; ``runstone.deps.principal_of`` reads it and
ignores X-Runstone-User.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from urllib.parse import urlencode

import anyio.to_thread
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from runstone.backend import Backend
from runstone.deps import AUTH_SCOPE_KEY
from runstone.errors import PermissionDenied, RunstoneError, TooManyRequests, Unauthenticated
from runstone.governance.context import Principal
from runstone.governance.guessing import WrongPasswords
from runstone.governance.identity import Authenticated, IdentityService
from runstone.server.mlflow_compat.protocol import refusal_body

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Searches that MLflow's protocol and the native API send as POST: a read-only token may send them.
READ_POSTS = re.compile(r"/(search|get-history-bulk-interval)$")
OPEN_PATHS = frozenset({"/health", "/health/ready"})
# The UI's sign-in page, and its own scripts and styles (nothing secret), answer without a credential.
LOGIN_PATH = "/ui/login"
LOGOUT_PATH = "/ui/logout"
OPEN_UI = frozenset({LOGIN_PATH, "/ui/login/oidc", "/ui/login/oidc/callback"})
STATIC_PREFIX = "/ui/static/"
# The UI's sign-in: an HttpOnly cookie holding a session token (an API token made at sign-in,
# expiring, revoked at sign-out), read when a request carries no Authorization header.
SESSION_COOKIE = "runstone_session"
CHALLENGE = b'Basic realm="runstone", charset="UTF-8", Bearer realm="runstone"'
# A verified password is remembered this long (by a salted digest, never in clear), so a client
# that signs in with a password on every request, as MLflow's does, pays argon2 once a minute.
PASSWORD_CACHE_SECONDS = 60.0  # API tokens: the setting auth_token_cache_seconds
_PASSWORD_CACHE_SIZE = 1024


class AuthGate:
    def __init__(
        self,
        app: ASGIApp,
        *,
        backend: Backend,
        token_cache_seconds: float = 5.0,
        wrong_passwords: WrongPasswords | None = None,
    ) -> None:
        self.app = app
        self.backend = backend
        self.token_cache_seconds = token_cache_seconds
        # Shared with the UI's sign-in form (runstone.governance.guessing).
        self._wrong = wrong_passwords if wrong_passwords is not None else WrongPasswords()
        self._verified: dict[bytes, tuple[float, Authenticated]] = {}
        self._salt = secrets.token_bytes(16)
        self._passwords: dict[bytes, tuple[float, Authenticated]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path in OPEN_UI or path.startswith(STATIC_PREFIX):
            await self.app(scope, receive, send)
            return
        authorization = None
        cookies = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"cookie":
                cookies = value.decode("latin-1")
        session = cookie_parser(cookies).get(SESSION_COOKIE) if authorization is None and cookies else None
        if session:
            authorization = f"Bearer {session}"
        client = scope.get("client")
        address = str(client[0])[:64] if client else None
        try:
            if authorization is None:
                raise Unauthenticated("This server requires a credential: an API token or a user name and password.")
            if self._wrong and authorization[:6].lower() == "basic ":  # someone gave a wrong password lately
                self._refuse_guessing(authorization, address)
            # A credential verified moments ago is answered here, on the event loop: no thread
            # switch and no database read on the hot path.
            who = self._recent(authorization)
            if who is None:
                who = await anyio.to_thread.run_sync(self._authenticate, authorization, address)
        except TooManyRequests as exc:
            await _refuse(send, exc, scope)
            return
        except Unauthenticated as exc:
            if path == "/ui" or path.startswith("/ui/"):
                await _to_login(send, scope, expired=bool(session))
            else:
                await _refuse(send, exc, scope)
            return
        refusal = _scope_refusal(who, scope["method"], scope["path"])
        if refusal is not None:
            await _refuse(send, refusal, scope)
            return
        scope[AUTH_SCOPE_KEY] = who
        await self.app(scope, receive, send)
        if session and path == LOGOUT_PATH:  # signing out revoked the session: forget it at once
            self._verified.pop(hashlib.sha256(self._salt + f"Bearer {session}".encode()).digest(), None)

    def _authenticate(self, authorization: str, client: str | None = None) -> Authenticated:
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        # Failed and successful sign-ins are audit events that carry the client's address.
        identity = IdentityService(self.backend.context(Principal("anonymous", client=client)))
        if scheme.lower() == "bearer" and credential:
            return self._remember(authorization, identity.authenticate_token(credential))
        if scheme.lower() == "basic" and credential:
            try:
                name, sep, password = base64.b64decode(credential, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthenticated("The Basic credential is not base64 of user:password.") from None
            if not sep:
                raise Unauthenticated("The Basic credential is not base64 of user:password.")
            if password.startswith("rst_"):
                who = identity.authenticate_token(password)
                if name and name != who.user.name:
                    raise Unauthenticated("The API token belongs to another user than the one named.")
                return self._remember(authorization, who)
            try:
                who = self._password(identity, name, password)
            except Unauthenticated:
                self._wrong.add(client, name)
                raise
            return self._remember(authorization, who)
        raise Unauthenticated("The Authorization header must be 'Bearer <token>' or 'Basic <user:password>'.")

    def _refuse_guessing(self, authorization: str, client: str | None) -> None:
        try:
            decoded = base64.b64decode(authorization.strip()[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return  # refused as malformed by _authenticate
        name, _, password = decoded.partition(":")
        if password.startswith("rst_"):
            return
        wait = self._wrong.wait(client, name)
        if wait is not None:
            raise TooManyRequests(
                f"Too many wrong passwords for {name[:256]!r} from this address: try again in {wait} s.",
                {"retry_after": wait},
            )

    def _recent(self, authorization: str) -> Authenticated | None:
        if self.token_cache_seconds <= 0:
            return None
        cached = self._verified.get(hashlib.sha256(self._salt + authorization.encode()).digest())
        if cached is None or cached[0] <= time.monotonic():
            return None
        expiry = cached[1].token.expiry_time if cached[1].token is not None else None
        return cached[1] if expiry is None or expiry > int(time.time() * 1000) else None

    def _remember(self, authorization: str, who: Authenticated) -> Authenticated:
        if self.token_cache_seconds > 0:
            if len(self._verified) >= _PASSWORD_CACHE_SIZE:
                self._verified.clear()
            key = hashlib.sha256(self._salt + authorization.encode()).digest()
            self._verified[key] = (time.monotonic() + self.token_cache_seconds, who)
        return who

    def _password(self, identity: IdentityService, name: str, password: str) -> Authenticated:
        key = hashlib.sha256(self._salt + name.encode() + b"\0" + password.encode()).digest()
        now = time.monotonic()
        cached = self._passwords.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        who = identity.authenticate_password(name, password)
        if len(self._passwords) >= _PASSWORD_CACHE_SIZE:
            self._passwords.clear()
        self._passwords[key] = (now + PASSWORD_CACHE_SECONDS, who)
        return who


def _scope_refusal(who: Authenticated, method: str, path: str) -> PermissionDenied | None:
    token = who.token
    if token is None:
        return None
    if token.read_only and method not in READ_METHODS and not READ_POSTS.search(path):
        return PermissionDenied(
            f"The API token {token.token_id} is read-only: it may read and search, not {method} {path[:200]}.",
            {"token_id": token.token_id},
        )
    return None


async def _to_login(send: Send, scope: Scope, *, expired: bool) -> None:
    """A browser without a (valid) session is sent to the sign-in page, and comes back after."""
    target = scope["path"]
    if scope["method"] == "GET" and scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    if scope["method"] != "GET":
        target = "/ui/"
    location = f"{LOGIN_PATH}?{urlencode({'next': target})}"
    headers = [(b"location", location.encode("latin-1")), (b"content-length", b"0"), (b"cache-control", b"no-store")]
    if expired:  # a revoked or expired session: drop the cookie
        headers.append((b"set-cookie", f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax".encode()))
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send, error: RunstoneError, scope: Scope) -> None:
    path: str = scope["path"]
    body = refusal_body(error, scope.get("state", {}).get("request_id", ""), path)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if isinstance(error, Unauthenticated):
        headers.append((b"www-authenticate", CHALLENGE))
    if isinstance(error, TooManyRequests):
        headers.append((b"retry-after", str(error.details.get("retry_after", 1)).encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
