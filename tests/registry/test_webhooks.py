"""Registry webhooks: HMAC-signed deliveries from an outbox, with retries, never to private
addresses unless the operator allows it."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from runstone.errors import InvalidInput
from runstone.registry.webhooks import BACKOFF, WebhookService, check_url, deliver_due


class Receiver:
    """A real HTTP endpoint on loopback that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def hooks(registry) -> WebhookService:
    return WebhookService(registry.ctx, allow_private=True)


def deliver(registry, clock) -> int:
    return deliver_due(registry.ctx.db, allow_private=True, clock=clock)


def test_signed_delivery_of_registry_events(registry, hooks, receiver, logged_model, clock):
    created = hooks.create_webhook("ci", receiver.url, ["model_version.created", "model_version.alias_changed"])
    registry.create_registered_model("fraud")
    registry.create_model_version("fraud", logged_model())
    registry.set_registered_model_alias("fraud", "champion", "1")
    assert deliver(registry, clock) == 2
    events = []
    for headers, body in receiver.received:
        expected = "sha256=" + hmac.new(created.secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Runstone-Signature"] == expected
        payload = json.loads(body)
        assert payload["model"] == "fraud" and payload["actor"] == "alice"
        events.append((headers["X-Runstone-Event"], payload["data"].get("version")))
    assert events == [("model_version.created", "1"), ("model_version.alias_changed", "1")]
    assert {d["status"] for d in hooks.deliveries(created.webhook.id)} == {"delivered"}
    assert deliver(registry, clock) == 0, "a delivered event is not sent again"


def test_failed_deliveries_are_retried_with_backoff_then_given_up(registry, hooks, receiver, clock):
    hook = hooks.create_webhook("flaky", receiver.url, ["*"]).webhook
    receiver.status = 500
    registry.create_registered_model("m")
    assert deliver(registry, clock) == 1
    assert deliver(registry, clock) == 0, "not due again before its backoff"
    for wait in BACKOFF:
        clock.advance(wait * 1000)
        assert deliver(registry, clock) == 1
    [delivery] = hooks.deliveries(hook.id)
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == len(BACKOFF) + 1
    assert delivery["last_error"] == "HTTP 500"

    receiver.status = 200
    registry.create_registered_model("m2")
    assert deliver(registry, clock) == 1
    assert hooks.deliveries(hook.id)[0]["status"] == "delivered"


def test_webhooks_can_be_limited_to_one_model(registry, hooks, receiver, clock):
    hooks.create_webhook("only-fraud", receiver.url, ["registered_model.created"], model_name="fraud")
    registry.create_registered_model("churn")
    registry.create_registered_model("fraud")
    deliver(registry, clock)
    assert [json.loads(body)["model"] for _, body in receiver.received] == ["fraud"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://10.1.2.3/x",
        "http://192.168.0.5/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://0.0.0.0/x",
    ],
)
def test_private_targets_are_refused_by_default(url):
    with pytest.raises(InvalidInput, match="non-public address"):
        check_url(url, allow_private=False)
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http://", "not a url"])
def test_malformed_targets(url):
    with pytest.raises(InvalidInput, match="must be an http"):
        check_url(url, allow_private=True)


def test_registration_rules(registry):
    strict = WebhookService(registry.ctx, allow_private=False)
    with pytest.raises(InvalidInput, match="non-public address"):
        strict.create_webhook("x", "http://127.0.0.1:9/x", ["*"])
    with pytest.raises(InvalidInput, match="Unknown webhook events"):
        WebhookService(registry.ctx, allow_private=True).create_webhook("x", "http://127.0.0.1:9/", ["nope"])


def test_a_rolled_back_change_announces_nothing(registry, hooks, receiver, clock):
    """Deliveries are written in the change's transaction: a failed change queues none."""
    hooks.create_webhook("all", receiver.url, ["*"])
    with pytest.raises(InvalidInput):
        registry.create_model_version("nope-model", "file:///x")
    assert deliver(registry, clock) == 0


class Resolver:
    """The name service as the server sees it: answers can change between two lookups."""

    def __init__(self, address: str) -> None:
        self.address = address

    def __call__(self, host: str, port: object, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        if host != "hooks.example.com":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.address, port))]


@pytest.fixture
def resolver(monkeypatch) -> Resolver:
    fake = Resolver("93.184.216.34")
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_deliveries_go_to_the_address_that_was_checked(registry, resolver, clock, scheme):
    """A name that resolves to a public address when checked is not looked up again to send:
    a second answer (DNS rebinding to 127.0.0.1) could reach the server's own network."""
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        resolver.address = "127.0.0.1"  # the name now points inside
        return httpx.Response(204)

    WebhookService(registry.ctx, allow_private=False).create_webhook(
        "ci", f"{scheme}://hooks.example.com:8443/hook?x=1", ["*"]
    )
    registry.create_registered_model("m")
    registry.create_registered_model("m2")
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        assert deliver_due(registry.ctx.db, allow_private=False, clock=clock, client=client) == 2

    first = sent[0]
    assert (first.url.host, first.url.port, first.url.raw_path) == ("93.184.216.34", 8443, b"/hook?x=1")
    assert first.headers["Host"] == "hooks.example.com:8443"
    if scheme == "https":
        assert first.extensions["sni_hostname"] == "hooks.example.com"  # the certificate is checked for the name
    assert len(sent) == 1, "the second delivery, now resolving to loopback, is refused"
    statuses = {d["status"]: d for d in WebhookService(registry.ctx, allow_private=False).deliveries()}
    assert "non-public address 127.0.0.1" in statuses["pending"]["last_error"]


def test_names_that_do_not_resolve_are_refused(resolver):
    with pytest.raises(InvalidInput, match="does not resolve"):
        check_url("https://nowhere.invalid/hook", allow_private=False)
    assert check_url("https://hooks.example.com/hook", allow_private=False) == "https://hooks.example.com/hook"


@pytest.mark.parametrize(
    "url", ["http://[::1/x", "http://host:99999/x", "http://host:port/x", "http://h/" + "x" * 2001]
)
def test_malformed_urls_are_bad_input_not_crashes(url):
    with pytest.raises(InvalidInput, match=r"not a valid URL|at most 2000"):
        check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "fe80::1%eth0",
        "100.64.0.1",
        "::127.0.0.1",  # IPv4-compatible
        "::10.1.2.3",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254, a cloud metadata service
        "64:ff9b:1::a00:1",  # local-use NAT64
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    ],
)
def test_mapped_and_scoped_private_addresses_are_refused(monkeypatch, address):
    family = socket.AF_INET if "." in address and ":" not in address else socket.AF_INET6
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(family, socket.SOCK_STREAM, 6, "", (address, 80))])
    with pytest.raises(InvalidInput, match="non-public address"):
        check_url("http://hooks.example.com/x", allow_private=False)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"])
def test_ipv6_forms_of_a_public_ipv4_address_are_allowed(monkeypatch, address):
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 80))]
    )
    assert check_url("http://hooks.example.com/x", allow_private=False) == "http://hooks.example.com/x"
