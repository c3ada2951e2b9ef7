"""Where an import reads from: a live MLflow tracking server (its REST API) or its database.

Both hand out MLflow's REST shapes (proto-JSON dicts), so the importer does not care which.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import httpx

from runstone.errors import InvalidInput, NotFound, Unavailable
from runstone.store import mlflow_messages as msg

PAGE = 1000
HISTORY_PAGE = 25_000


class Source(Protocol):
    """An MLflow store, read-only."""

    description: str

    @property
    def base_url(self) -> str | None:
        """The server's URL, whose artifact proxy can be read; None for a database."""

    def experiments(self) -> list[msg.Experiment]: ...

    def runs(self, experiment_id: str) -> Iterator[msg.Run]: ...

    def metric_history(self, run_id: str, key: str) -> list[msg.Metric]: ...

    def logged_models(self, experiment_id: str) -> list[msg.LoggedModel]: ...

    def registered_models(self) -> list[msg.RegisteredModel]: ...

    def model_versions(self, name: str) -> list[msg.ModelVersion]: ...

    def close(self) -> None: ...


class RestSource:
    """A running MLflow tracking server, read through its REST API."""

    def __init__(self, url: str, http: httpx.Client | None = None, *, timeout: float = 120) -> None:
        self.url = url.rstrip("/")
        self.description = self.url
        self.http = http or httpx.Client(base_url=self.url, timeout=timeout)
        self._owned = http is None

    @property
    def base_url(self) -> str | None:
        return self.url

    def close(self) -> None:
        if self._owned:
            self.http.close()

    def call(self, method: str, endpoint: str, **fields: Any) -> dict[str, Any]:
        url = f"/api/2.0/mlflow/{endpoint}"
        try:
            if method == "GET":
                response = self.http.get(url, params={k: v for k, v in fields.items() if v is not None})
            else:
                response = self.http.request(method, url, json=fields)
        except httpx.TransportError as exc:
            raise Unavailable(f"MLflow server {self.url} could not be reached: {exc}") from None
        if response.status_code == 200:
            return response.json()
        try:
            body = response.json()
            code, message = body.get("error_code", ""), body.get("message", response.text)
        except ValueError:
            code, message = "", response.text[:500]
        if response.status_code == 404 or code in ("RESOURCE_DOES_NOT_EXIST", "ENDPOINT_NOT_FOUND"):
            raise NotFound(f"MLflow server {self.url}: {endpoint}: {message}")
        raise InvalidInput(f"MLflow server {self.url} answered {response.status_code} to {endpoint}: {message}")

    def _pages(self, method: str, endpoint: str, items: str, **fields: object) -> Iterator[Any]:
        """The items of every page: MLflow's JSON, taken as the message the endpoint answers with."""
        token = None
        while True:
            page = self.call(method, endpoint, **fields, **({"page_token": token} if token else {}))
            yield from page.get(items, [])
            token = page.get("next_page_token")
            if not token:
                return

    def experiments(self) -> list[msg.Experiment]:
        return list(self._pages("POST", "experiments/search", "experiments", max_results=PAGE, view_type="ALL"))

    def runs(self, experiment_id: str) -> Iterator[msg.Run]:
        return self._pages(
            "POST", "runs/search", "runs", experiment_ids=[experiment_id], run_view_type="ALL", max_results=PAGE
        )

    def metric_history(self, run_id: str, key: str) -> list[msg.Metric]:
        return list(
            self._pages(
                "GET", "metrics/get-history", "metrics", run_id=run_id, metric_key=key, max_results=HISTORY_PAGE
            )
        )

    def logged_models(self, experiment_id: str) -> list[msg.LoggedModel]:
        try:
            return list(
                self._pages("POST", "logged-models/search", "models", experiment_ids=[experiment_id], max_results=100)
            )
        except NotFound:  # an MLflow 2 server: no logged models
            return []

    def registered_models(self) -> list[msg.RegisteredModel]:
        try:
            return list(self._pages("GET", "registered-models/search", "registered_models", max_results=PAGE))
        except NotFound:
            return []

    def model_versions(self, name: str) -> list[msg.ModelVersion]:
        quoted = "'" + name.replace("'", "\\'") + "'"
        return list(self._pages("GET", "model-versions/search", "model_versions", filter=f"name = {quoted}"))


class DatabaseSource:
    """An MLflow tracking database (SQLite, PostgreSQL, MySQL), read directly."""

    def __init__(self, url: str) -> None:
        from runstone.store.mlflow_db import MlflowDatabase

        try:
            self.db = MlflowDatabase(url)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        self.description = self.db.engine.url.render_as_string(hide_password=True)

    @property
    def base_url(self) -> str | None:
        return None

    def experiments(self) -> list[msg.Experiment]:
        return self.db.experiments()

    def runs(self, experiment_id: str) -> Iterator[msg.Run]:
        return self.db.runs(experiment_id)

    def metric_history(self, run_id: str, key: str) -> list[msg.Metric]:
        return self.db.metric_history(run_id, key)

    def logged_models(self, experiment_id: str) -> list[msg.LoggedModel]:
        return self.db.logged_models(experiment_id)

    def registered_models(self) -> list[msg.RegisteredModel]:
        return self.db.registered_models()

    def model_versions(self, name: str) -> list[msg.ModelVersion]:
        return self.db.model_versions(name)

    def close(self) -> None:
        self.db.close()


def open_source(uri: str) -> Source:
    """A server for http(s) URIs, a database for SQLAlchemy URLs."""
    if uri.startswith(("http://", "https://")):
        return RestSource(uri)
    if "://" not in uri:
        raise InvalidInput(
            f"Import from {uri!r}: give the MLflow tracking server's URL (http://host:port) or its database URL "
            "(sqlite:////path/mlflow.db, postgresql://...)."
        )
    return DatabaseSource(uri)
