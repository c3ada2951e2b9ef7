"""The two REST APIs under test, behind one small interface the workloads drive.

Each target speaks its own server's native protocol: runstone's ``/api/v1`` and MLflow's
``/api/2.0/mlflow``. Request bodies that a workload times are serialized before the clock
starts (:meth:`Target.batch`), so the measurement is the server's work, not the client's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from bench.servers import BenchError

# (key, value, timestamp in ms, step)
Point = tuple[str, float, int, int]


@dataclass(frozen=True)
class Prepared:
    """A serialized POST, ready to send."""

    path: str
    body: bytes


def post_prepared(http: httpx.Client, request: Prepared) -> httpx.Response:
    return http.post(request.path, content=request.body, headers={"content-type": "application/json"})


def checked(response: httpx.Response) -> Any:
    if response.status_code >= 300:
        raise BenchError(
            f"{response.request.method} {response.request.url.path} -> HTTP {response.status_code}: "
            f"{response.text[:500]}"
        )
    return orjson.loads(response.content) if response.content else None


class Target(ABC):
    """One server's REST API over one kept-alive HTTP connection."""

    name: str

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=600)

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, payload: Any) -> Any:
        return checked(post_prepared(self.http, Prepared(path, orjson.dumps(payload))))

    def send(self, request: Prepared) -> None:
        checked(post_prepared(self.http, request))

    @abstractmethod
    def create_experiment(self, name: str) -> str: ...

    @abstractmethod
    def create_run(self, experiment_id: str, run_name: str) -> str: ...

    @abstractmethod
    def batch(
        self,
        run_id: str,
        metrics: Sequence[Point],
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Prepared: ...

    @abstractmethod
    def search(self, experiment_id: str, filter_string: str, order_by: str, max_results: int) -> list[str]:
        """Names of the matching runs, in order."""

    @abstractmethod
    def history(self, run_id: str, key: str) -> int:
        """Fetch a metric's whole history; return the number of points."""


def _key_values(items: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in (items or {}).items()]


def _metrics(points: Sequence[Point]) -> list[dict[str, Any]]:
    return [{"key": k, "value": v, "timestamp": t, "step": s} for k, v, t, s in points]


class Runstone(Target):
    name = "runstone"

    def create_experiment(self, name: str) -> str:
        return str(self.post("/api/v1/experiments", {"name": name})["experiment"]["experiment_id"])

    def create_run(self, experiment_id: str, run_name: str) -> str:
        body = self.post("/api/v1/runs", {"experiment_id": experiment_id, "run_name": run_name})
        return str(body["run"]["info"]["run_id"])

    def batch(
        self,
        run_id: str,
        metrics: Sequence[Point],
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Prepared:
        payload = {"metrics": _metrics(metrics), "params": _key_values(params), "tags": _key_values(tags)}
        return Prepared(f"/api/v1/runs/{run_id}/batch", orjson.dumps(payload))

    def search(self, experiment_id: str, filter_string: str, order_by: str, max_results: int) -> list[str]:
        body = self.post(
            "/api/v1/runs/search",
            {
                "experiment_ids": [experiment_id],
                "filter": filter_string,
                "order_by": [order_by],
                "max_results": max_results,
            },
        )
        return [run["info"]["run_name"] for run in body["runs"]]

    def history(self, run_id: str, key: str) -> int:
        body = checked(self.http.get(f"/api/v1/runs/{run_id}/metric-history", params={"key": key}))
        return len(body["steps"])


class Mlflow(Target):
    name = "MLflow"
    # The page size the stock mlflow client asks for when it reads a metric history.
    HISTORY_PAGE = 25_000

    def create_experiment(self, name: str) -> str:
        return str(self.post("/api/2.0/mlflow/experiments/create", {"name": name})["experiment_id"])

    def create_run(self, experiment_id: str, run_name: str) -> str:
        body = self.post("/api/2.0/mlflow/runs/create", {"experiment_id": experiment_id, "run_name": run_name})
        return str(body["run"]["info"]["run_id"])

    def batch(
        self,
        run_id: str,
        metrics: Sequence[Point],
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Prepared:
        payload = {
            "run_id": run_id,
            "metrics": _metrics(metrics),
            "params": _key_values(params),
            "tags": _key_values(tags),
        }
        return Prepared("/api/2.0/mlflow/runs/log-batch", orjson.dumps(payload))

    def search(self, experiment_id: str, filter_string: str, order_by: str, max_results: int) -> list[str]:
        body = self.post(
            "/api/2.0/mlflow/runs/search",
            {
                "experiment_ids": [experiment_id],
                "filter": filter_string,
                "order_by": [order_by],
                "max_results": max_results,
            },
        )
        return [run["info"]["run_name"] for run in body.get("runs", [])]

    def history(self, run_id: str, key: str) -> int:
        count = 0
        token = ""
        while True:
            query = f"run_id={run_id}&metric_key={quote(key)}&max_results={self.HISTORY_PAGE}"
            if token:
                query += f"&page_token={quote(token)}"
            body = checked(self.http.get(f"/api/2.0/mlflow/metrics/get-history?{query}"))
            count += len(body.get("metrics", []))
            token = body.get("next_page_token", "")
            if not token:
                return count
