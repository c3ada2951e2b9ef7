"""Plumbing of the web UI: templates, security headers, CSRF tokens, flash messages, error pages.

Every page is rendered by Jinja2 with autoescaping on, so user text is escaped wherever it
lands. State-changing requests are POSTs that must carry the per-browser token of the
``runstone_csrf`` cookie in a form field (or the ``X-CSRF-Token`` header); the cookie is
SameSite=Strict and the check compares in constant time. Once a browser has signed in (auth on)
the token is derived from its session instead, so it is bound to that session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
from collections.abc import Callable, Coroutine, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.exceptions import HTTPException

from runstone.deps import AUTH_SCOPE_KEY, principal_of
from runstone.errors import InvalidInput, PermissionDenied, RunstoneError, Unauthenticated
from runstone.ui import formatting
from runstone.version import VERSION

HERE = Path(__file__).parent
STATIC = HERE / "static"
CSRF_COOKIE = "runstone_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
FLASH_COOKIE = "runstone_flash"
SESSION_COOKIE = "runstone_session"  # read by runstone.server.auth, set by runstone.ui.session

# Pages load scripts and styles from this server only, and nothing may frame them.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# plotly's parallel coordinates draw with WebGL through regl, which compiles its shaders' glue
# code with Function(): the compare page alone allows that.
WEBGL_PAGE_CSP = PAGE_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'")
# Artifacts shown inline (images, sandboxed HTML) run with no script, no network, no origin.
ARTIFACT_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; frame-ancestors 'self'"
)


def acting_user(request: Request) -> str | None:
    """Who the UI acts as: the caller the services see (None when the declared name is invalid)."""
    try:
        return principal_of(request).user
    except (InvalidInput, Unauthenticated):  # the sign-in page, before anyone signed in
        return None


def acting_admin(request: Request) -> bool:
    who = request.scope.get(AUTH_SCOPE_KEY)
    return bool(who is not None and who.user.is_admin)


@cache
def _static_version() -> str:
    """A fingerprint of the static files, so browsers may cache them for good."""
    digest = hashlib.sha256(VERSION.encode())
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/ui/static/{name}?v={_static_version()}"


def plotly_url() -> str:
    from runstone.ui import assets

    return f"/ui/vendor/plotly-{assets.plotly_version()}.min.js"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(formatting.FILTERS)
    env.globals.update(static_url=static_url, plotly_url=plotly_url, version=VERSION, quote=urllib.parse.quote)
    return env


def _session_csrf(session: str) -> str:
    """The CSRF token of a signed-in browser: derived from its session, so it changes at every
    sign-in and is worth nothing to anyone without that (HttpOnly) session cookie."""
    digest = hmac.new(session.encode(), b"runstone csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_token(request: Request) -> str:
    session = request.cookies.get(SESSION_COOKIE)
    if session and request.scope.get(AUTH_SCOPE_KEY) is not None:
        return _session_csrf(session)
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) != 43 or not token.replace("-", "").replace("_", "").isalnum():
        token = getattr(request.state, "new_csrf_token", None) or secrets.token_urlsafe(32)
        request.state.new_csrf_token = token
    return token


def _security_headers(response: Response, csp: str = PAGE_CSP) -> None:
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY" if "frame-ancestors 'none'" in csp else "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "same-origin"


def over_tls(request: Request) -> bool:
    """Whether browsers reach this server over HTTPS: directly, or behind a TLS proxy that
    ``external_url`` names (cookies are then marked Secure)."""
    external = request.app.state.settings.external_url or ""
    return request.url.scheme == "https" or external.lower().startswith("https://")


def _finish(request: Request, response: Response) -> Response:
    new = getattr(request.state, "new_csrf_token", None)
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            new,
            httponly=True,
            samesite="strict",
            secure=over_tls(request),
            path="/",
            max_age=30 * 24 * 3600,
        )
    if request.cookies.get(FLASH_COOKIE) and not getattr(request.state, "flash_set", False):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def _flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = orjson.loads(urllib.parse.unquote(raw))
        return {"kind": str(value["kind"]), "text": str(value["text"])[:2000], "place": str(value.get("place", ""))}
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None


def render(
    request: Request, template: str, context: Mapping[str, object], *, status: int = 200, csp: str = PAGE_CSP
) -> HTMLResponse:
    """Render a page. A flash message with a ``place`` is shown there when the page lists that
    place in ``placed`` (an error beside the request it concerns), else at the top."""
    token = csrf_token(request)
    values: dict[str, object] = {
        "request": request,
        "csrf_token": token,
        "csrf_field": CSRF_FIELD,
        "flash": _flash(request),
        "now_ms": int(time.time() * 1000),
        "here": here(request),
        "actor": acting_user(request),
        "actor_admin": acting_admin(request),
        "auth_on": request.app.state.settings.auth,
        "placed": (),
    }
    values.update(context)
    html = environment().get_template(template).render(**values)
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    _security_headers(response, csp)
    return _finish(request, response)  # type: ignore[return-value]


def here(request: Request) -> str:
    """This page's path and query, for forms that come back to it."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(target: str | None, fallback: str) -> str:
    """A redirect target inside the UI, never another site."""
    if not target or not target.startswith("/ui/") or target.startswith("//") or "\\" in target:
        return fallback
    parsed = urllib.parse.urlsplit(target)
    if parsed.scheme or parsed.netloc:
        return fallback
    return target


def redirect(
    request: Request, target: str, *, message: str | None = None, error: str | None = None, place: str = ""
) -> Response:
    response = RedirectResponse(target, status_code=303)
    if message or error:
        text = error or message or ""
        # A cookie holds about 4 KB: long messages (quoting a long value) are shortened.
        flash = {"kind": "error" if error else "ok", "text": text if len(text) <= 1000 else text[:1000] + "…"}
        if place:
            flash["place"] = place
        response.set_cookie(
            FLASH_COOKIE,
            urllib.parse.quote(orjson.dumps(flash).decode()),
            httponly=True,
            samesite="strict",
            path="/",
            max_age=60,
        )
        request.state.flash_set = True
    return _finish(request, response)


def act(request: Request, target: str, action: Callable[[], str], *, place: str = "") -> Response:
    """Run a form's action and go back to ``target`` with its message, or with its error."""
    try:
        message = action()
    except RunstoneError as exc:
        return redirect(request, target, error=exc.message, place=place)
    return redirect(request, target, message=message, place=place)


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request that does not carry this browser's token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("origin")
    # Browsers name the page a form came from; "null" is a sandboxed frame, never one of ours.
    if origin and urllib.parse.urlsplit(origin).netloc != request.headers.get("host"):
        raise PermissionDenied("Cross-site request refused: it came from another site.")
    session = request.cookies.get(SESSION_COOKIE)
    if session and request.scope.get(AUTH_SCOPE_KEY) is not None:
        cookie = _session_csrf(session)  # bound to the session once there is one
    else:
        cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise PermissionDenied(
            "This form has expired or did not come from this runstone server (missing or wrong CSRF token). "
            "Reload the page and try again."
        )


def tag_setter(key: str, value: str, write: Callable[[str, str], object]) -> Callable[[], str]:
    """The action of a "set tag" form: the key is required and trimmed."""

    def run() -> str:
        if not key.strip():
            raise InvalidInput("Give the tag a key.")
        write(key.strip(), value)
        return f"Set tag {key.strip()!r}."

    return run


def tag_remover(key: str, remove: Callable[[str], object]) -> Callable[[], str]:
    """The action of a "delete tag" form."""

    def run() -> str:
        remove(key)
        return f"Deleted tag {key!r}."

    return run


def error_page(request: Request, status: int, message: str, details: Mapping[str, object] | None = None) -> Response:
    return render(
        request, "error.html", {"status": status, "message": message, "details": details or {}}, status=status
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "body", "path"))
        parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid")))
    return "; ".join(parts) or "Invalid request."


class PageRoute(APIRoute):
    """UI routes: errors become HTML pages with the right status, never JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RunstoneError as exc:
                return error_page(request, exc.status, exc.message, exc.details)
            except RequestValidationError as exc:
                return error_page(request, 400, _validation_message(exc))
            except HTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))

        return route


def json_response(content: object, status: int = 200) -> Response:
    """Chart data: orjson, NaN and infinities as null (gaps in a chart)."""
    response = Response(orjson.dumps(content), status_code=status, media_type="application/json")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def positive(value: int | None, name: str, *, default: int, maximum: int) -> int:
    if value is None:
        return default
    if value < 1 or value > maximum:
        raise InvalidInput(f"{name} must be between 1 and {maximum}.")
    return value
