"""Bad input found by trying a running server from outside (issue "Access control", bad input):
listing paths that leave the run, keys MLflow refuses, and lone surrogates. Each is a clear 4xx on
the native and the MLflow routes, under every prefix, and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from e2e_support import Server, Servers

pytestmark = pytest.mark.e2e

# Listing paths as the server receives them (httpx percent-encodes '%', so '%2e' arrives as '%2e').
ESCAPING_PATHS = [
    "/etc",
    "//srv/share",
    "../x",
    "d/../../x",
    "%2e%2e/x",
    "%252e%252e/x",  # percent-encoded twice
    "..%2fx",
    "d\\..\\x",
    "\\\\srv\\share",
    "C:\\Windows",
    "C:/Windows",
    "a\x00b",
    "..%00x",  # '..' to a decoder that ends the name at the NUL
    "%2e%2e%2500/x",
    "..%5cx",  # '..' to a decoder that takes '\\' for a separator
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pool = Servers(tmp_path_factory.mktemp("outside"))
    try:
        yield pool.start()
    finally:
        pool.stop_all()
    assert "Traceback" not in pool.started[0].log(), pool.started[0].log()[-20_000:]


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="module")
def run(http: httpx.Client) -> dict[str, str]:
    info = http.post("/api/v1/runs", json={"experiment_id": "0"}).json()["run"]["info"]
    put = http.put(f"/api/v1/runs/{info['run_id']}/artifacts/d/a.txt", content=b"x",
                   headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert put.status_code == 200, put.text
    return {"run_id": info["run_id"], "experiment_id": info["experiment_id"]}


def listings(run: dict[str, str], path: str) -> list[tuple[str, dict[str, Any]]]:
    """Every route that lists a run's artifacts, under every prefix, asked for ``path``."""
    rid, eid = run["run_id"], run["experiment_id"]
    routes: list[tuple[str, dict[str, Any]]] = [(f"/api/v1/runs/{rid}/artifacts", {"path": path})]
    for prefix in ("/api", "/ajax-api"):
        routes.append((f"{prefix}/2.0/mlflow/artifacts/list", {"run_id": rid, "path": path}))
        routes.append((f"{prefix}/2.0/mlflow-artifacts/artifacts", {"path": f"{eid}/{rid}/artifacts/{path}"}))
    return routes


def test_the_listing_of_a_real_folder_still_works(http, run):
    for url, params in listings(run, "d"):
        answer = http.get(url, params=params)
        assert answer.status_code == 200, (url, answer.text)
        assert "a.txt" in answer.text, url


def test_a_file_name_with_percent_signs_is_kept_as_it_is(http, run):
    """MLflow's log_image names its files 'key%step%N%timestamp%T%uuid.png': the '%xx' in them
    decode to control characters, a NUL or '\\' for a layer that decodes again, yet they name
    nothing outside the run, so they are stored, listed and read back under their own name."""
    name = "k%step%5%timestamp%1700000000000%005c2e2e-2f.png"
    sent = quote(name)  # as a client sends it: '%' as '%25'
    put = http.put(f"/api/v1/runs/{run['run_id']}/artifacts/pct/{sent}", content=b"img",
                   headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert put.status_code == 200, put.text
    for url, params in listings(run, "pct"):
        answer = http.get(url, params=params)
        assert answer.status_code == 200, (url, answer.text)
        assert name in answer.text, (url, answer.text)
    got = http.get(f"/api/2.0/mlflow-artifacts/artifacts/{run['experiment_id']}/{run['run_id']}/artifacts/pct/{sent}")
    assert got.status_code == 200 and got.content == b"img"


@pytest.mark.parametrize("path", ESCAPING_PATHS)
def test_a_listing_path_that_leaves_the_run_is_refused_on_every_route(http, run, path):
    for url, params in listings(run, path):
        answer = http.get(url, params=params)
        assert answer.status_code == 400, (url, answer.status_code, answer.text)
        message = answer.json()["message"] if "/mlflow" in url else answer.json()["error"]["message"]
        assert "Artifact path" in message, (url, message)


BAD_KEYS = ["a//b", "a/", "./a", "a/./b", "a/../b", "/a", "a\tb", "a;b", "a\ud800"]


def _raw_json(value: str) -> str:
    """A JSON string literal with non-ASCII written as \\u escapes (a lone surrogate stays one)."""
    return '"' + "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else f"\\u{ord(c):04x}" for c in value) + '"'


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_mlflow_refuses_are_refused_and_nothing_is_logged(http, run, key):
    rid = run["run_id"]
    k = _raw_json(key)
    native = (f"/api/v1/runs/{rid}/batch",
              f'{{"metrics": [{{"key": {k}, "value": 1, "timestamp": 1, "step": 0}}], "params": {{}}, "tags": {{}}}}')  # fmt: skip
    attempts = [
        native,
        (f"/api/v1/runs/{rid}/batch", f'{{"params": {{{k}: "v"}}}}'),
        ("/api/2.0/mlflow/runs/log-parameter", f'{{"run_id": "{rid}", "key": {k}, "value": "v"}}'),
        ("/api/2.0/mlflow/runs/set-tag", f'{{"run_id": "{rid}", "key": {k}, "value": "v"}}'),
        (
            "/ajax-api/2.0/mlflow/runs/log-metric",
            f'{{"run_id": "{rid}", "key": {k}, "value": 1, "timestamp": 1, "step": 0}}',
        ),
    ]
    for url, body in attempts:
        answer = http.post(url, content=body.encode(), headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, (url, answer.status_code, answer.text)
    data = http.get(f"/api/v1/runs/{rid}").json()["run"]["data"]
    assert data["metrics"] == {} and data["params"] == {}
    assert not any(t.startswith("a") for t in data["tags"])


@pytest.mark.parametrize("url", ["/api/2.0/mlflow/runs/set-tag", "/api/2.0/mlflow/runs/log-parameter"])
def test_a_lone_surrogate_in_a_value_is_a_400_not_a_500(http, run, url):
    body = f'{{"run_id": "{run["run_id"]}", "key": "surrogate", "value": "\\ud800x"}}'.encode()
    answer = http.post(url, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    native = http.post(f"/api/v1/runs/{run['run_id']}/batch", content=b'{"tags": {"surrogate": "\\ud800x"}}',
                       headers={"Content-Type": "application/json"})  # fmt: skip
    assert native.status_code == 400, native.text
    assert "surrogate" not in http.get(f"/api/v1/runs/{run['run_id']}").json()["run"]["data"]["tags"]
