"""Registry webhooks: HMAC-signed deliveries from an outbox, with retries, never to private
addresses unless the operator allows it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
    return WebhookService(registry.tracking, allow_private=True)


def deliver(registry, clock) -> int:
    return deliver_due(registry.db, allow_private=True, clock=clock)


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
    strict = WebhookService(registry.tracking, allow_private=False)
    with pytest.raises(InvalidInput, match="non-public address"):
        strict.create_webhook("x", "http://127.0.0.1:9/x", ["*"])
    with pytest.raises(InvalidInput, match="Unknown webhook events"):
        WebhookService(registry.tracking, allow_private=True).create_webhook("x", "http://127.0.0.1:9/", ["nope"])


def test_a_rolled_back_change_announces_nothing(registry, hooks, receiver, clock):
    """Deliveries are written in the change's transaction: a failed change queues none."""
    hooks.create_webhook("all", receiver.url, ["*"])
    with pytest.raises(InvalidInput):
        registry.create_model_version("nope-model", "file:///x")
    assert deliver(registry, clock) == 0
