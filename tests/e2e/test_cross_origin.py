"""Another web page cannot drive the API of a running server (issue "Access control": the API cannot
be driven by another web page). Each attack is the request a browser sends for a hostile page, and
each must be refused before anything is created."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from e2e_support import Server, Servers

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    servers = Servers(tmp_path_factory.mktemp("cross-origin"))
    try:
        yield servers
    finally:
        servers.stop_all()


@pytest.fixture(scope="module")
def server(pool: Servers) -> Server:
    return pool.start()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def experiment_names(http: httpx.Client) -> set[str]:
    found = http.post("/api/v1/experiments/search", json={"max_results": 1000}).json()["experiments"]
    return {e["name"] for e in found}


# What a page's <form> or fetch() can send cross-origin without a preflight.
SIMPLE_BODIES = [
    pytest.param("text/plain", b'{"name": "forged-text"}', id="text-plain"),
    pytest.param("application/x-www-form-urlencoded", b"name=forged-form", id="form"),
    pytest.param("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nforged-multipart\r\n--x--\r\n', id="multipart"),
    pytest.param(None, b'{"name": "forged-untyped"}', id="no-content-type"),
]  # fmt: skip


@pytest.mark.parametrize(("content_type", "body"), SIMPLE_BODIES)
@pytest.mark.parametrize("path", ["/api/v1/experiments", "/api/2.0/mlflow/experiments/create"])
def test_an_api_write_whose_body_is_not_json_is_a_415_and_creates_nothing(http, path, content_type, body):
    before = experiment_names(http)
    headers = {"Content-Type": content_type} if content_type else {}
    answer = http.post(path, content=body, headers=headers)
    assert answer.status_code == 415, answer.text
    message = answer.json()["message"] if "mlflow" in path else answer.json()["error"]["message"]
    assert "application/json" in message
    assert experiment_names(http) == before


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
def test_a_write_from_another_origin_is_a_403_even_with_a_json_body(http, server, origin):
    before = experiment_names(http)
    answer = http.post("/api/v1/experiments", json={"name": "forged-origin"}, headers={"Origin": origin})
    assert answer.status_code == 403, answer.text
    assert "allowed_origins" in answer.json()["error"]["message"]
    mlflow = http.post("/api/2.0/mlflow/experiments/create", json={"name": "forged"}, headers={"Origin": origin})
    assert (mlflow.status_code, mlflow.json()["error_code"]) == (403, "PERMISSION_DENIED")
    assert experiment_names(http) == before


def test_the_servers_own_pages_and_clients_without_origin_still_write(http, server):
    own = http.post("/api/v1/experiments", json={"name": "from-own-page"}, headers={"Origin": server.url})
    assert own.status_code == 201, own.text
    # The stock clients and the SDK send no Origin; an artifact upload carries raw bytes.
    run = http.post("/api/v1/runs", json={"experiment_id": own.json()["experiment"]["experiment_id"]}).json()["run"]
    upload = http.put(f"/api/v1/runs/{run['info']['run_id']}/artifacts/a.bin", content=b"\x00\x01",
                      headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert upload.status_code == 200, upload.text
    assert "from-own-page" in experiment_names(http)


def test_a_rebound_host_name_is_refused_on_every_route(http, server):
    """DNS rebinding: the attacker's name now resolves to 127.0.0.1, so the browser sends it as Host."""
    for path in ("/api/v1/experiments/search", "/ui/", "/health"):
        method = "POST" if "search" in path else "GET"
        answer = http.request(
            method, path, json={} if method == "POST" else None, headers={"Host": "rebind.example:80"}
        )
        assert answer.status_code == 400, (path, answer.text)
        assert "allowed_hosts" in answer.text
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
        assert http.get("/health", headers={"Host": host}).status_code == 200


def test_allowed_hosts_and_origins_are_settings(pool):
    other = pool.start("--allowed-hosts", "ml.example,127.0.0.1", "--allowed-origins", "https://portal.example")
    with httpx.Client(base_url=other.url, timeout=30) as http:
        assert http.get("/health", headers={"Host": "ml.example"}).status_code == 200
        assert http.get("/health", headers={"Host": "localhost"}).status_code == 400
        made = http.post("/api/v1/experiments", json={"name": "portal"}, headers={"Origin": "https://portal.example"})
        assert made.status_code == 201, made.text


def test_every_answer_carries_security_headers(http):
    api = http.get("/api/v1/experiments/0")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in api.headers["content-security-policy"]
    assert api.headers["x-frame-options"] == "DENY"
    assert "server" not in api.headers  # which software answers is not told to every prober
    refused = http.post("/api/v1/experiments", content=b"x", headers={"Content-Type": "text/plain"})
    assert refused.headers["x-content-type-options"] == "nosniff"
    page = http.get("/ui/")
    assert "script-src 'self'" in page.headers["content-security-policy"]  # the UI's own policy is kept


def test_a_star_allows_any_host_name(pool):
    other = pool.start("--allowed-hosts", "*")
    with httpx.Client(base_url=other.url, timeout=30) as http:
        assert http.get("/health", headers={"Host": "ml.example"}).status_code == 200
