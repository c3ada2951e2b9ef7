"""The SDK's HTTP transport: the tracking operations over the native REST API.

``HttpTracking`` has the method names and signatures of ``TrackingService``, so the client
works the same against a server or the embedded store. Connection failures are retried with
backoff; writes that could have reached the server are retried only when they carry an
idempotency key.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
import random
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from runstone.artifacts.base import clean_path
from runstone.codec import float_out
from runstone.entities import Dataset, FileInfo, Metric, PagedList, ViewType
from runstone.errors import InvalidInput, RunstoneError, Unavailable, from_code
from runstone.schemas.tracking import ExperimentPublic, FilePublic, MetricHistoryPublic, RunPublic
from runstone.sdk.protocols import Progress
from runstone.version import VERSION


def _file_from_json(d: object) -> FileInfo:
    return FilePublic.model_validate(d).to_entity()


class Transport:
    """One keep-alive HTTP connection pool to a runstone server."""

    def __init__(
        self,
        base_url: str,
        *,
        user: str,
        authorization: str | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        # Sent with each request rather than set on a client that may be shared: two clients
        # acting as two people (a requester and an approver) must never swap identities.
        self.headers = {"User-Agent": f"runstone/{VERSION}", "X-Runstone-User": user}
        if authorization is not None:
            self.headers["Authorization"] = authorization
        if client is None:
            client = httpx.Client(base_url=self.base_url, timeout=timeout, headers=self.headers)
        self.client = client
        self._local = threading.local()

    @contextlib.contextmanager
    def fail_fast(self) -> Iterator[None]:
        """Requests in this block (this thread only) are not retried: an absent server is known at once."""
        self._local.retries = 0
        try:
            yield
        finally:
            del self._local.retries

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        safe = method == "GET" if idempotent is None else idempotent
        retries = getattr(self._local, "retries", self.retries)
        attempt = 0
        while True:
            try:
                response = self.client.request(
                    method, path, json=json, params=params, content=content, headers={**self.headers, **(headers or {})}
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing reached the server: always safe to try again.
                error: Exception = exc
            except httpx.TransportError as exc:
                if not safe:
                    raise Unavailable(f"Lost the connection to {self.base_url} during {method} {path}: {exc}") from exc
                error = exc
            else:
                if response.status_code in (502, 503, 504) and safe and attempt < retries:
                    error = Unavailable(f"{self.base_url} answered {response.status_code}")
                else:
                    if response.status_code >= 400:
                        raise _error_from(response)
                    return response
            if attempt >= retries:
                raise Unavailable(f"Cannot reach the runstone server at {self.base_url}: {error}") from error
            time.sleep(min(8.0, 0.2 * 2**attempt) * (0.5 + random.random()))
            attempt += 1

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def close(self) -> None:
        self.client.close()


def _error_from(response: httpx.Response) -> RunstoneError:
    try:
        body = response.json()["error"]
        return from_code(body.get("code", "error"), body.get("message", response.text), body.get("details"))
    except Exception:
        error = RunstoneError(f"HTTP {response.status_code} from the server: {response.text[:500]}")
        error.status = response.status_code
        return error


def _quote(segment: str) -> str:
    from urllib.parse import quote

    # '.' and '..' are percent-encoded: left bare, the HTTP client would resolve them and send
    # the request to another route (another run's artifacts, say) instead of letting the
    # server refuse the path.
    return "/".join("%2E" * len(part) if part in (".", "..") else quote(part, safe="") for part in segment.split("/"))


class HttpTracking:
    """TrackingService's operations, over HTTP."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport

    # experiments
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        body = self.t.json("POST", "/api/v1/experiments", json={"name": name, "tags": dict(tags or {})})
        return str(body["experiment"]["experiment_id"])

    def get_experiment(self, experiment_id: str) -> ExperimentPublic:
        body = self.t.json("GET", f"/api/v1/experiments/{_quote(str(experiment_id))}")
        return ExperimentPublic.model_validate(body["experiment"])

    def get_experiment_by_name(self, name: str) -> ExperimentPublic:
        body = self.t.json("GET", "/api/v1/experiments/by-name", params={"name": name})
        return ExperimentPublic.model_validate(body["experiment"])

    def search_experiments(
        self,
        *,
        view_type: str | ViewType | None = None,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ExperimentPublic]:
        body = self.t.json(
            "POST",
            "/api/v1/experiments/search",
            json={
                "view_type": view_type.value if isinstance(view_type, ViewType) else view_type,
                "filter": filter_string,
                "max_results": max_results,
                "order_by": list(order_by or []),
                "page_token": page_token,
            },
            idempotent=True,
        )
        return PagedList([ExperimentPublic.model_validate(e) for e in body["experiments"]], body.get("next_page_token"))

    def experiment_run_counts(self, experiment_ids: Sequence[str]) -> dict[str, int]:
        body = self.t.json(
            "GET", "/api/v1/experiments", params={"with_counts": "true", "view_type": "all", "max_results": 50000}
        )
        wanted = set(map(str, experiment_ids))
        return {e["experiment_id"]: e.get("run_count", 0) for e in body["experiments"] if e["experiment_id"] in wanted}

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.t.json("PATCH", f"/api/v1/experiments/{_quote(str(experiment_id))}", json={"name": new_name})

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.t.json(
            "PUT",
            f"/api/v1/experiments/{_quote(str(experiment_id))}/tags/{_quote(key)}",
            json={"value": value},
            idempotent=True,
        )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.t.json("DELETE", f"/api/v1/experiments/{_quote(str(experiment_id))}/tags/{_quote(key)}")

    def delete_experiment(self, experiment_id: str) -> None:
        self.t.json("POST", f"/api/v1/experiments/{_quote(str(experiment_id))}/delete")

    def restore_experiment(self, experiment_id: str) -> None:
        self.t.json("POST", f"/api/v1/experiments/{_quote(str(experiment_id))}/restore")

    # runs
    def create_run(
        self,
        experiment_id: str | None = None,
        *,
        run_name: str | None = None,
        start_time: int | None = None,
        tags: Mapping[str, str] | None = None,
        user_id: str | None = None,
        parent_run_id: str | None = None,
        run_id: str | None = None,
    ) -> RunPublic:
        body = self.t.json(
            "POST",
            "/api/v1/runs",
            idempotent=run_id is not None,
            json={
                "run_id": run_id,
                "experiment_id": experiment_id,
                "run_name": run_name,
                "start_time": start_time,
                "tags": dict(tags or {}),
                "user_id": user_id,
                "parent_run_id": parent_run_id,
            },
        )
        return RunPublic.model_validate(body["run"])

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        self.t.json("POST", "/api/v1/runs/heartbeat", json={"run_ids": list(run_ids)}, idempotent=True)

    def get_run(self, run_id: str) -> RunPublic:
        return RunPublic.model_validate(self.t.json("GET", f"/api/v1/runs/{_quote(run_id)}")["run"])

    def child_run_ids(self, run_id: str) -> list[str]:
        return list(self.t.json("GET", f"/api/v1/runs/{_quote(run_id)}/children")["run_ids"])

    def update_run(
        self, run_id: str, *, status: str | None = None, end_time: int | None = None, run_name: str | None = None
    ) -> RunPublic:
        body = self.t.json(
            "PATCH",
            f"/api/v1/runs/{_quote(run_id)}",
            json={"status": status, "end_time": end_time, "run_name": run_name},
            idempotent=True,
        )
        return RunPublic.model_validate(body["run"])

    def set_terminated(self, run_id: str, status: str = "FINISHED", end_time: int | None = None) -> RunPublic:
        return self.update_run(
            run_id, status=status, end_time=end_time if end_time is not None else int(time.time() * 1000)
        )

    def delete_run(self, run_id: str) -> None:
        self.t.json("POST", f"/api/v1/runs/{_quote(run_id)}/delete")

    def restore_run(self, run_id: str) -> None:
        self.t.json("POST", f"/api/v1/runs/{_quote(run_id)}/restore")

    def move_run(self, run_id: str, experiment_id: str) -> RunPublic:
        body = self.t.json(
            "POST", f"/api/v1/runs/{_quote(run_id)}/move", json={"experiment_id": str(experiment_id)}, idempotent=True
        )
        return RunPublic.model_validate(body["run"])

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        tags: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        idempotency_key: str | None = None,
    ) -> None:
        param_items = params.items() if isinstance(params, Mapping) else params
        tag_items = tags.items() if isinstance(tags, Mapping) else tags
        body = {
            "metrics": [
                {"key": m.key, "value": float_out(m.value), "timestamp": m.timestamp, "step": m.step} for m in metrics
            ],
            "params": [{"key": k, "value": v} for k, v in param_items],
            "tags": [{"key": k, "value": v} for k, v in tag_items],
        }
        key = idempotency_key or uuid.uuid4().hex
        self.t.json(
            "POST", f"/api/v1/runs/{_quote(run_id)}/batch", json=body, headers={"Idempotency-Key": key}, idempotent=True
        )

    def log_metric(self, run_id: str, key: str, value: float, *, step: int = 0, timestamp: int | None = None) -> None:
        self.log_batch(
            run_id, metrics=[Metric(key, value, timestamp if timestamp is not None else int(time.time() * 1000), step)]
        )

    def log_param(self, run_id: str, key: str, value: object) -> None:
        self.log_batch(run_id, params={key: str(value)})

    def set_tag(self, run_id: str, key: str, value: object) -> None:
        self.log_batch(run_id, tags={key: str(value)})

    def delete_tag(self, run_id: str, key: str) -> None:
        self.t.json("DELETE", f"/api/v1/runs/{_quote(run_id)}/tags/{_quote(key)}")

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        *,
        max_points: int | None = None,
        start_step: int | None = None,
        end_step: int | None = None,
        limit: int | None = None,
    ) -> MetricHistoryPublic:
        params: dict[str, str | int] = {"key": key}
        named = (("max_points", max_points), ("start_step", start_step), ("end_step", end_step), ("limit", limit))
        for name, value in named:
            if value is not None:
                params[name] = value
        body = self.t.json("GET", f"/api/v1/runs/{_quote(run_id)}/metric-history", params=params)
        return MetricHistoryPublic.model_validate(body)

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Dataset, Mapping[str, str]]]) -> None:
        self.t.json(
            "POST",
            f"/api/v1/runs/{_quote(run_id)}/inputs",
            json={
                "datasets": [
                    {
                        "dataset": {
                            "name": d.name,
                            "digest": d.digest,
                            "source_type": d.source_type,
                            "source": d.source,
                            "schema": d.schema,
                            "profile": d.profile,
                        },
                        "tags": dict(tags),
                    }
                    for d, tags in datasets
                ]
            },
            idempotent=True,
        )

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        run_view_type: str | ViewType | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        experiment_names: Sequence[str] | None = None,
        params: Sequence[str] | None = None,
        metrics: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> PagedList[RunPublic]:
        body = self.t.json(
            "POST",
            "/api/v1/runs/search",
            json={
                "experiment_ids": [str(e) for e in experiment_ids or []],
                "experiment_names": list(experiment_names or []),
                "filter": filter_string,
                "run_view_type": run_view_type.value if isinstance(run_view_type, ViewType) else run_view_type,
                "max_results": max_results,
                "order_by": list(order_by or []),
                "page_token": page_token,
                "params": None if params is None else list(params),
                "metrics": None if metrics is None else list(metrics),
                "tags": None if tags is None else list(tags),
            },
            idempotent=True,
        )
        return PagedList([RunPublic.model_validate(r) for r in body["runs"]], body.get("next_page_token"))

    def gc(
        self,
        *,
        older_than_ms: int | None = None,
        dry_run: bool = False,
        run_ids: Sequence[str] | None = None,
        experiment_ids: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, object] = {"older_than_ms": older_than_ms, "dry_run": dry_run}
        if run_ids is not None:
            body["run_ids"] = list(run_ids)
        if experiment_ids is not None:
            body["experiment_ids"] = [str(e) for e in experiment_ids]
        return dict(self.t.json("POST", "/api/v1/gc", json=body))

    def audit_events(self, **params: object) -> list[dict[str, Any]]:
        return list(
            self.t.json("GET", "/api/v1/audit", params={k: v for k, v in params.items() if v is not None})["events"]
        )

    def audit_verify(self) -> dict[str, object]:
        return dict(self.t.json("GET", "/api/v1/audit/verify"))


class _FileBody:
    """A local file as a request body of a declared length, read afresh each time it is iterated.

    With its length declared, the body goes out as it is read, with no chunked framing (which
    would copy every chunk once more). A file that grows while it is sent (a log still being
    written) is sent as long as it was when the upload began; one that shrinks fails the upload,
    and the server, short of the declared bytes, keeps nothing."""

    def __init__(self, path: Path, progress: Progress | None = None) -> None:
        self.path = path
        self.progress = progress
        self.size = path.stat().st_size

    def __iter__(self) -> Iterator[bytes]:
        left = self.size
        with open(self.path, "rb") as src:
            while left:
                chunk = src.read(min(left, 1024 * 1024))
                if not chunk:
                    break
                left -= len(chunk)
                if self.progress is not None:
                    self.progress(len(chunk))
                yield chunk
            if left:
                raise InvalidInput(f"{self.path} became shorter while it was being uploaded; upload it again.")


def _safe_file(d: object) -> FileInfo:
    """A file entry from the server, refused if its path could lead a download outside its folder."""
    info = _file_from_json(d)
    try:
        clean_path(info.path)
    except InvalidInput:
        raise InvalidInput(f"The server listed an unsafe artifact path {info.path!r}; refusing to use it.") from None
    return info


class HttpArtifacts:
    """Artifact transfer over HTTP, streamed in both directions, for the artifacts of runs
    (``/api/v1/runs``) or of logged models (``/api/v1/logged-models``)."""

    def __init__(self, transport: Transport, base: str = "/api/v1/runs") -> None:
        self.t = transport
        self.base = base

    def upload(self, run_id: str, path: str, local_file: Path, progress: Progress | None = None) -> FileInfo:
        # A re-sent PUT stores the same bytes again: safe to retry, as long as every attempt sends
        # the whole file (a generator would be half-consumed by the failed attempt).
        file = _FileBody(local_file, progress)
        body = self.t.json(
            "PUT", f"{self.base}/{_quote(run_id)}/artifacts/{_quote(path)}", content=file, idempotent=True,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(file.size)},
        )  # fmt: skip
        return _file_from_json(body["file"])

    def list_dir(self, run_id: str, path: str = "") -> list[FileInfo]:
        body = self.t.json("GET", f"{self.base}/{_quote(run_id)}/artifacts", params={"path": path})
        return [_safe_file(f) for f in body["files"]]

    def files(self, run_id: str, path: str = "") -> list[FileInfo]:
        body = self.t.json("GET", f"{self.base}/{_quote(run_id)}/artifacts", params={"path": path, "recursive": "true"})
        return [_safe_file(f) for f in body["files"]]

    def download(self, run_id: str, path: str, dest: Path, progress: Progress | None = None) -> None:
        url = f"{self.base}/{_quote(run_id)}/artifacts/{_quote(path)}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        digest = _Digest()
        try:
            with self.t.client.stream("GET", url, headers=self.t.headers) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_from(response)
                expected = response.headers.get("x-checksum-sha256")
                with open(tmp, "wb") as out:
                    # Chunks as they arrive: asked for chunks of a fixed size, httpx copies every
                    # byte twice more to cut them (a fifth of a large download's time).
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        out.write(chunk)
                        if progress is not None:
                            progress(len(chunk))
            if expected and digest.hexdigest() != expected:
                raise InvalidInput(f"Downloaded {path!r} does not match its recorded SHA-256; try again.")
            os.replace(tmp, dest)
        finally:
            digest.close()
            tmp.unlink(missing_ok=True)


class _Digest:
    """SHA-256 of a download, computed on a thread of its own while the next chunks arrive:
    hashing releases the interpreter lock, so checking a large file costs almost no extra time.
    Chunks are hashed in order, a batch of at least ``_BATCH`` bytes at a time (a hand-over per
    network-sized chunk would cost more than it saves); what is left at the end is hashed in place."""

    _BATCH = 1024 * 1024

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._last: concurrent.futures.Future[None] | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0

    def update(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        if self._pending_size < self._BATCH:
            return
        batch, self._pending, self._pending_size = self._pending, [], 0
        if self._last is not None:
            self._last.result()
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="runstone-download-hash")
        self._last = self._pool.submit(self._hash, batch)

    def _hash(self, batch: list[bytes]) -> None:
        for chunk in batch:
            self._sha.update(chunk)

    def hexdigest(self) -> str:
        if self._last is not None:
            self._last.result()
            self._last = None
        self._hash(self._pending)
        self._pending, self._pending_size = [], 0
        return self._sha.hexdigest()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
