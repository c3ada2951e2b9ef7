"""A scoring server that wants a bearer token (``runstone models serve --token-file``).

Every route but the /ping and /health probes answers 401 with ``WWW-Authenticate: Bearer``
unless the request carries ``Authorization: Bearer <token>``. The server keeps only the
token's SHA-256 (its worker processes receive that, never the token), and compares in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from runstone.errors import InvalidInput

OPEN_PATHS = frozenset({"/ping", "/health"})
_BODY = b'{"error_code": "UNAUTHENTICATED", "message": "This scoring server requires Authorization: Bearer <token>."}'


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def read_token_file(path: Path) -> str:
    """The digest of the token in ``path`` (its first line)."""
    try:
        token = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read the token file {path}: {exc}") from None
    if len(token) < 16 or any(c.isspace() for c in token):
        raise InvalidInput(f"The token file {path} must hold one token of at least 16 characters, no spaces.")
    return digest(token)


class TokenGate:
    def __init__(self, app: ASGIApp, *, token_sha256: str) -> None:
        self.app = app
        self.expected = token_sha256.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_BODY)).encode()),
            (b"www-authenticate", b'Bearer realm="runstone-scoring"'),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": _BODY})

    def _allowed(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").strip().partition(" ")
                presented = digest(token.strip()).encode()
                return scheme.lower() == "bearer" and hmac.compare_digest(presented, self.expected)
        return False
