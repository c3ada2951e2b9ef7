"""A tiny OpenID Connect provider for tests, on a loopback port: discovery document, JWKS,
an authorization endpoint that signs in whoever the test names (no consent screen), and a token
endpoint that checks the client's secret and the PKCE verifier and answers with an ID token
signed by a test RSA key (joserfc)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "runstone-test"
CLIENT_SECRET = "secret of the test client"


@dataclass
class Provider:
    url: str = ""
    # Who the next sign-in is: the claims the ID token carries besides the standard ones.
    user: dict[str, Any] = field(default_factory=dict)
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, private=True, auto_kid=True))
    # Set: ID tokens are signed with this key, which the JWKS does not publish (a forgery).
    forged_key: RSAKey | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens_issued: int = 0

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": grant["nonce"],
                  "sub": grant["user"].get("preferred_username", "someone"), **grant["user"]}  # fmt: skip
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.forged_key or self.key)


def _handler(provider: Provider) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parsed.query))
            if parsed.path == "/.well-known/openid-configuration":
                self._json(200, {"issuer": provider.url, "authorization_endpoint": provider.url + "/authorize",
                                 "token_endpoint": provider.url + "/token", "jwks_uri": provider.url + "/jwks",
                                 "response_types_supported": ["code"], "id_token_signing_alg_values_supported": ["RS256"],
                                 "code_challenge_methods_supported": ["S256"]})  # fmt: skip
            elif parsed.path == "/jwks":
                self._json(200, {"keys": [provider.key.as_dict(private=False)]})
            elif parsed.path == "/authorize":
                if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
                    self._json(400, {"error": "invalid_request"})
                    return
                code = secrets.token_urlsafe(16)
                provider.codes[code] = {"nonce": query.get("nonce"), "challenge": query.get("code_challenge"),
                                        "redirect_uri": query["redirect_uri"], "user": dict(provider.user)}  # fmt: skip
                target = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if self.path != "/token":
                self._json(404, {"error": "not found"})
                return
            auth = self.headers.get("Authorization", "")
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if auth != expected:
                self._json(401, {"error": "invalid_client"})
                return
            grant = provider.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if grant is None or grant["challenge"] != challenge or grant["redirect_uri"] != form.get("redirect_uri"):
                self._json(400, {"error": "invalid_grant"})
                return
            provider.tokens_issued += 1
            self._json(200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                             "id_token": provider.id_token(grant)})  # fmt: skip

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def start(port: int) -> tuple[Provider, http.server.ThreadingHTTPServer]:
    provider = Provider(url=f"http://127.0.0.1:{port}")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), _handler(provider))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return provider, httpd
