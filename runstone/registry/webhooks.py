"""Webhooks on registry events: HMAC-signed JSON, delivered from an outbox with retries.

Deliveries are written in the same transaction as the event they announce (so an event that
did not happen is never announced and one that did is never lost) and sent afterwards by
:func:`deliver_due`, which the server runs in the background. Target URLs must not point at
private, loopback or link-local addresses — checked when the webhook is created and again
before each delivery — unless the operator allows it (RUNSTONE_WEBHOOK_ALLOW_PRIVATE).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import socket
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runstone.entities import Webhook
from runstone.errors import InvalidInput, NotFound
from runstone.governance.context import Context
from runstone.periodic import Periodic
from runstone.store import webhooks as store
from runstone.store.engine import Database
from runstone.store.registry import MAX_INTEGER

if TYPE_CHECKING:
    import httpx  # imported where a delivery is sent: a server that sends none starts without it

log = logging.getLogger("runstone.webhooks")

EVENTS = (
    "registered_model.created",
    "model_version.created",
    "model_version.stage_changed",
    "model_version.alias_changed",
    "request.opened",
    "request.approved",
    "request.rejected",
    "monitoring.alert",
)
# Seconds to wait before the 2nd, 3rd, ... attempt; after the last, the delivery has failed.
BACKOFF = (1, 5, 30, 120, 600)
_LEASE_MS = 60_000


MAX_URL_LENGTH = 2000


def check_url(url: str, *, allow_private: bool) -> str:
    """Refuse URLs that would make the server call itself or its private network."""
    resolve_target(url, allow_private=allow_private)
    return url


def resolve_target(url: str, *, allow_private: bool) -> list[str]:
    """The addresses ``url`` may be sent to: all of its host's, each public unless the operator
    allows private ones (then none are listed: the host is resolved when sending)."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"Webhook URL must be an http:// or https:// URL of at most {MAX_URL_LENGTH} characters.")
    try:
        parsed = urllib.parse.urlparse(url)
        host, port = parsed.hostname, parsed.port
    except ValueError as exc:  # a malformed IPv6 literal, a port out of range, ...
        raise InvalidInput(f"Webhook URL {url!r} is not a valid URL: {exc}.") from None
    if parsed.scheme not in ("http", "https") or not host:
        raise InvalidInput(f"Webhook URL {url!r} must be an http:// or https:// URL with a host.")
    if allow_private:
        return []
    try:
        infos = socket.getaddrinfo(host, port or (443 if parsed.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InvalidInput(f"Webhook host {host!r} does not resolve.") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        # An IPv6 address that carries an IPv4 one reaches that IPv4 host: judge it as that host.
        if isinstance(address, ipaddress.IPv6Address):
            address = _embedded_ipv4(address) or address
        # Not global: private, loopback, link-local, shared (100.64/10), reserved, unspecified.
        if not address.is_global or address.is_multicast:
            raise InvalidInput(
                f"Webhook URL {url!r} resolves to the non-public address {address}; an operator can allow "
                "private targets with RUNSTONE_WEBHOOK_ALLOW_PRIVATE=true."
            )
        addresses.append(str(address))
    return addresses


_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known NAT64 prefix (RFC 6052)
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215): never public


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4, Teredo), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64_LOCAL:
        return ipaddress.IPv4Address("0.0.0.0")  # not global, whatever it carries
    return None


def _pinned(url: str, address: str | None) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The request to send to ``url`` over a connection to ``address``, the address that was
    checked: resolving the name again could give another one (DNS rebinding)."""
    import httpx

    target = httpx.URL(url)
    if address is None:
        return target, {}, {}
    headers = {"Host": target.netloc.decode("ascii")}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return target.copy_with(host=address), headers, extensions


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class CreatedWebhook:
    webhook: Webhook
    secret: str


class WebhookService:
    def __init__(self, ctx: Context, *, allow_private: bool) -> None:
        self.ctx = ctx
        self.allow_private = allow_private

    def create_webhook(
        self, name: str, url: str, events: Sequence[str], *, model_name: str | None = None, secret: str | None = None
    ) -> CreatedWebhook:
        if not name or len(name) > 256:
            raise InvalidInput("Webhook name must be 1-256 characters.")
        if model_name is not None and not 0 < len(model_name) <= 256:
            raise InvalidInput("A webhook's model name must be 1-256 characters.")
        if secret is not None and not 16 <= len(secret) <= 256:
            raise InvalidInput("A webhook secret must be 16-256 characters (leave it out to get a random one).")
        unknown = [e for e in events if e != "*" and e not in EVENTS]
        if unknown or not events:
            raise InvalidInput(f"Unknown webhook events {unknown}; choose from {', '.join(EVENTS)} or '*'.")
        check_url(url, allow_private=self.allow_private)
        secret = secret or secrets.token_hex(32)
        with self.ctx.transaction(write=True) as s:
            hook = store.insert(
                s, name=name, url=url, events=events, secret=secret, model_name=model_name,
                user=self.ctx.user, now=self.ctx.clock(),
            )  # fmt: skip
            self.ctx.audit.write(s, "webhook.create", "webhook", str(hook.id), None,
                                {"name": name, "url": url, "events": list(events), "model": model_name})  # fmt: skip
        return CreatedWebhook(hook, secret)

    def list_webhooks(self) -> list[Webhook]:
        with self.ctx.transaction() as s:
            return store.all_webhooks(s)

    def delete_webhook(self, webhook_id: int) -> None:
        if not 0 < webhook_id <= MAX_INTEGER:
            raise NotFound(f"Webhook {webhook_id} not found.")
        with self.ctx.transaction(write=True) as s:
            store.remove(s, webhook_id)
            self.ctx.audit.write(s, "webhook.delete", "webhook", str(webhook_id), {"id": webhook_id}, None)

    def deliveries(self, webhook_id: int | None = None) -> list[dict[str, Any]]:
        if webhook_id is not None and not 0 < webhook_id <= MAX_INTEGER:
            raise NotFound(f"Webhook {webhook_id} not found.")
        with self.ctx.transaction() as s:
            return store.deliveries(s, webhook_id)


def deliver_due(
    db: Database, *, allow_private: bool, clock: Callable[[], int], client: httpx.Client | None = None
) -> int:
    """Send every delivery that is due; returns how many were attempted."""
    now = clock()
    with db.transaction() as s:
        due = [(d.id, d.event, d.payload, d.attempts, h.url, h.secret) for d, h in store.due(s, now)]
    if not due:
        return 0
    import httpx

    own = client is None
    http = client or httpx.Client(timeout=5.0, follow_redirects=False)
    attempted = 0
    try:
        for delivery_id, event, payload, attempts, url, secret in due:
            with db.transaction(write=True) as s:
                claimed = store.claim(s, delivery_id, now, now + _LEASE_MS)
            if not claimed:
                continue  # another replica took it
            attempted += 1
            error, status_code = None, None
            try:
                addresses = resolve_target(url, allow_private=allow_private)
                target, pinned_headers, extensions = _pinned(url, addresses[0] if addresses else None)
                body = payload.encode()
                response = http.post(
                    target,
                    content=body,
                    headers={
                        **pinned_headers,
                        "Content-Type": "application/json",
                        "X-Runstone-Event": event,
                        "X-Runstone-Delivery": str(delivery_id),
                        "X-Runstone-Signature": sign(secret, body),
                    },
                    extensions=extensions,
                )
                status_code = response.status_code
                if not 200 <= response.status_code < 300:
                    error = f"HTTP {response.status_code}"
            except (httpx.HTTPError, InvalidInput) as exc:
                error = str(exc) or type(exc).__name__
            tries = attempts + 1
            if error is None:
                state, next_time = "delivered", now
            elif tries > len(BACKOFF):
                state, next_time = "failed", now
                log.warning("webhook delivery %s failed for good after %s attempts: %s", delivery_id, tries, error)
            else:
                state, next_time = "pending", now + BACKOFF[tries - 1] * 1000
            with db.transaction(write=True) as s:
                store.record_attempt(
                    s, delivery_id, status=state, attempts=tries, next_attempt_time=next_time, error=error,
                    response_status=status_code,
                )  # fmt: skip
    finally:
        if own:
            http.close()
    return attempted


class Dispatcher(Periodic):
    """Runs deliver_due every few seconds in a daemon thread of the server process."""

    name = "runstone-webhooks"
    join_seconds = 5.0

    def __init__(self, db: Database, *, allow_private: bool, interval: float, clock: Callable[[], int]) -> None:
        super().__init__(interval)
        self.db = db
        self.allow_private = allow_private
        self.clock = clock

    def round(self) -> int:
        return deliver_due(self.db, allow_private=self.allow_private, clock=self.clock)
