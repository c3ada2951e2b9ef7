"""Helpers of the MLflow compatibility tests: MLflow's REST protocol spoken as its client does."""

from __future__ import annotations

from typing import Any

import httpx

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


class Mlflow:
    """Calls MLflow endpoints the way the stock client does: GET with a query, else a JSON body."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def call(self, method: str, endpoint: str, expect: int | None = 200, **fields: Any) -> Any:
        url = endpoint if endpoint.startswith("/") else f"{API}/{endpoint}"
        # A GET carries its fields in the query string; everything else in a JSON body.
        is_get = method == "GET"
        response = self.http.get(url, params=fields) if is_get else self.http.request(method, url, json=fields)
        if expect is not None:
            assert response.status_code == expect, f"{method} {url}: {response.status_code} {response.text}"
        return response.json()

    def get(self, endpoint: str, **fields: Any) -> Any:
        return self.call("GET", endpoint, **fields)

    def post(self, endpoint: str, **fields: Any) -> Any:
        return self.call("POST", endpoint, **fields)

    def error(self, method: str, endpoint: str, status: int, **fields: Any) -> dict[str, Any]:
        body = self.call(method, endpoint, expect=status, **fields)
        assert set(body) == {"error_code", "message"}, body
        return body  # type: ignore[no-any-return]

    def create_run(self, experiment_id: str = "0", **fields: Any) -> dict[str, Any]:
        return self.post("runs/create", experiment_id=experiment_id, start_time=1000, **fields)["run"]  # type: ignore[no-any-return]

    def upload(self, key: str, path: str, content: bytes) -> None:
        response = self.http.put(f"{ARTIFACTS}/{key}/{path}", content=content)
        assert response.status_code == 200, response.text
        assert response.json() == {}
