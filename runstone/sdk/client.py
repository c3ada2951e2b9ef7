"""RunstoneClient: every tracking operation by id, with MLflow's method names.

The same client talks to a server (``http(s)://`` tracking URI) or, with no URI, to the
embedded store under ``RUNSTONE_HOME`` (default ``~/.runstone``) in-process.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from runstone.config import Settings
from runstone.entities import (
    Dataset,
    Experiment,
    FileInfo,
    LoggedModel,
    Metric,
    MetricHistory,
    PagedList,
    Param,
    Run,
    RunTag,
    ViewType,
)
from runstone.errors import InvalidInput, NotFound
from runstone.schemas.tracking import LoggedModelPage
from runstone.sdk import media
from runstone.sdk.deployments import DeploymentMethods
from runstone.sdk.protocols import ArtifactsBackend, Progress, TrackingBackend
from runstone.sdk.registry import RegistryMethods
from runstone.tracking.tags import PARENT_RUN_ID

if TYPE_CHECKING:
    import httpx

    from runstone.backend import Backend
    from runstone.governance.context import Context
    from runstone.governance.permissions import PermissionService
    from runstone.sdk.access import HttpAccess
    from runstone.tracking.artifacts import ArtifactService
    from runstone.tracking.logged_models import LoggedModelService

_local_backends: dict[str, Backend] = {}
_local_lock = threading.Lock()


def close_local_backends() -> None:
    """Close the embedded stores this process opened (they reopen on next use)."""
    with _local_lock:
        backends = list(_local_backends.values())
        _local_backends.clear()
    for backend in backends:
        backend.close()


def default_user(settings: Settings) -> str:
    if settings.user:
        return settings.user
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def authorization(settings: Settings) -> str | None:
    """The Authorization header for a server with auth on: the token, else user and password."""
    if settings.tracking_token:
        return f"Bearer {settings.tracking_token}"
    if settings.tracking_username and settings.tracking_password is not None:
        import base64

        pair = f"{settings.tracking_username}:{settings.tracking_password}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"
    return None


def is_remote(uri: str | None) -> bool:
    return bool(uri) and str(uri).startswith(("http://", "https://"))


def _local_backend(uri: str | None, settings: Settings) -> Backend:
    """One embedded backend per store per process (engines are shared, not re-opened)."""
    from runstone.backend import open_backend

    if uri and "://" in uri and not uri.startswith("file://"):
        settings = settings.model_copy(update={"backend_store_uri": uri})
    elif uri:
        home = Path(uri.removeprefix("file://")).expanduser()
        settings = settings.model_copy(update={"home": home, "backend_store_uri": None, "artifacts_destination": None})
    key = f"{settings.database_uri}|{settings.artifact_root}"
    with _local_lock:
        backend = _local_backends.get(key)
        if backend is None:
            backend = _local_backends[key] = open_backend(settings)
        return backend


def _pairs(
    items: Iterable[Param | RunTag | tuple[object, object]] | Mapping[str, object] | None,
) -> list[tuple[str, str]]:
    if items is None:
        return []
    if isinstance(items, Mapping):
        return [(str(k), _str_value(v)) for k, v in items.items()]
    out = []
    for item in items:
        if isinstance(item, Param | RunTag):
            out.append((item.key, _str_value(item.value)))
        else:
            k, v = item
            out.append((str(k), _str_value(v)))
    return out


def _str_value(value: object) -> str:
    return value if isinstance(value, str) else str(value)


V = TypeVar("V")


def now_ms() -> int:
    return int(time.time() * 1000)


class RunstoneClient(RegistryMethods, DeploymentMethods):
    """Tracking operations by id. ``tracking_uri`` defaults to RUNSTONE_TRACKING_URI, then the
    embedded store."""

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        http_client: httpx.Client | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings()
        uri = tracking_uri or self.settings.tracking_uri
        self.user = default_user(self.settings)
        if is_remote(uri):
            assert uri is not None
            # httpx loads only for servers: the embedded store and `import runstone` stay lean.
            from runstone.sdk.remote import HttpArtifacts, HttpTracking, Transport

            transport = Transport(
                uri,
                user=self.user,
                authorization=authorization(self.settings),
                timeout=self.settings.http_timeout,
                retries=self.settings.http_retries,
                client=http_client,
            )
            from runstone.sdk.registry import HttpRegistry

            self._http: HttpTracking | None = HttpTracking(transport)
            self._tracking: TrackingBackend = self._http
            self._artifacts: ArtifactsBackend = HttpArtifacts(transport)
            self._model_artifacts: ArtifactsBackend = HttpArtifacts(transport, "/api/v1/logged-models")
            registry = HttpRegistry(transport)
            self._registry = registry
            self._webhooks = registry
            from runstone.sdk.deployments import HttpDeployments

            self._deployments = HttpDeployments(transport)
            self.tracking_uri = uri
        else:
            from runstone.governance.context import Principal
            from runstone.sdk.local import (
                LocalArtifacts,
                LocalDeployments,
                LocalRegistry,
                LocalTracking,
                LocalWebhooks,
            )

            backend = _local_backend(uri, self.settings)
            ctx = backend.context(Principal(self.user))
            self._http = None
            self._ctx: Context = ctx
            self._run_artifacts: ArtifactService = backend.artifacts(ctx)
            self._logged_models: LoggedModelService = backend.logged_models(ctx)
            self._tracking = LocalTracking(backend.tracking(ctx))
            self._artifacts = LocalArtifacts(self._run_artifacts)
            self._model_artifacts = LocalArtifacts(self._logged_models)
            self._registry = LocalRegistry(backend.registry(ctx))
            self._webhooks = LocalWebhooks(backend.webhooks(ctx))
            self._deployments = LocalDeployments(backend.deployments(ctx))
            self.tracking_uri = uri or str(self.settings.home)
        self.is_remote = is_remote(uri)
        self._owns_connections = self.is_remote and http_client is None

    def close(self) -> None:
        """Close the client's HTTP connections (an ``http_client`` you passed in stays open)."""
        if self._owns_connections and self._http is not None:
            self._http.t.close()

    def __enter__(self) -> RunstoneClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ experiments
    def create_experiment(self, name: str, tags: Mapping[str, object] | None = None) -> str:
        return self._tracking.create_experiment(name, {k: _str_value(v) for k, v in (tags or {}).items()})

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._tracking.get_experiment(str(experiment_id)).to_entity()

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment called ``name``, or None (as in MLflow)."""
        try:
            return self._tracking.get_experiment_by_name(name).to_entity()
        except NotFound:
            return None

    def search_experiments(
        self,
        view_type: str | ViewType = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        page = self._tracking.search_experiments(
            view_type=view_type,
            filter_string=filter_string,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
        )
        return PagedList([e.to_entity() for e in page], page.next_page_token)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._tracking.rename_experiment(str(experiment_id), new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        self._tracking.delete_experiment(str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self._tracking.restore_experiment(str(experiment_id))

    def set_experiment_tag(self, experiment_id: str, key: str, value: object) -> None:
        self._tracking.set_experiment_tag(str(experiment_id), key, _str_value(value))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._tracking.delete_experiment_tag(str(experiment_id), key)

    # ------------------------------------------------------------------- runs
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: Mapping[str, object] | None = None,
        run_name: str | None = None,
        *,
        parent_run_id: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """A new run. ``run_id`` (32 hex digits) is an id made by the client, e.g. for a run
        started offline: creating it again answers the run already there."""
        extra = {"run_id": run_id} if run_id is not None else {}
        return self._tracking.create_run(
            str(experiment_id),
            run_name=run_name,
            start_time=start_time,
            tags={k: _str_value(v) for k, v in (tags or {}).items()},
            parent_run_id=parent_run_id,
            **extra,
        ).to_entity()

    def fail_fast(self) -> contextlib.AbstractContextManager[None]:
        """Requests to a server in this block are not retried (no waiting when it is away)."""
        return self._http.t.fail_fast() if self._http is not None else contextlib.nullcontext()

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Tell the server these runs' client is alive (servers only)."""
        if self._http is not None:
            self._http.heartbeat(run_ids)

    def get_run(self, run_id: str) -> Run:
        return self._tracking.get_run(run_id).to_entity()

    def get_parent_run(self, run_id: str) -> Run | None:
        """The run that ``run_id`` is nested in, or None for a top-level run (as in MLflow)."""
        parent = self.get_run(run_id).data.tags.get(PARENT_RUN_ID)
        return self.get_run(parent) if parent else None

    def get_child_run_ids(self, run_id: str) -> list[str]:
        return self._tracking.child_run_ids(run_id)

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> Run:
        return self._tracking.update_run(run_id, status=status, run_name=name).to_entity()

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> Run:
        return self._tracking.set_terminated(run_id, status or "FINISHED", end_time).to_entity()

    def delete_run(self, run_id: str) -> None:
        self._tracking.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self._tracking.restore_run(run_id)

    def move_run(self, run_id: str, experiment_id: str) -> Run:
        """Move a run, with everything it logged, to another experiment."""
        return self._tracking.move_run(run_id, str(experiment_id)).to_entity()

    # ---------------------------------------------------------------- logging
    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric] = (),
        params: Iterable[Param | tuple[str, object]] | Mapping[str, object] = (),
        tags: Iterable[RunTag | tuple[str, object]] | Mapping[str, object] = (),
        *,
        idempotency_key: str | None = None,
    ) -> None:
        """Metrics, params and tags in one all-or-nothing write."""
        self._tracking.log_batch(
            run_id,
            list(metrics),
            _pairs(params),
            _pairs(tags),
            idempotency_key=idempotency_key,
        )

    def log_metric(
        self, run_id: str, key: str, value: float, timestamp: int | None = None, step: int | None = None
    ) -> None:
        self.log_batch(
            run_id, metrics=[Metric(key, float(value), timestamp if timestamp is not None else now_ms(), step or 0)]
        )

    def log_param(self, run_id: str, key: str, value: V) -> V:
        self.log_batch(run_id, params={key: value})
        return value

    def set_tag(self, run_id: str, key: str, value: object) -> None:
        self.log_batch(run_id, tags={key: value})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._tracking.delete_tag(run_id, key)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of a metric, as Metric objects (MLflow's shape)."""
        return self._tracking.get_metric_history(run_id, key).to_entity().to_metrics()

    def get_metric_columns(
        self,
        run_id: str,
        key: str,
        *,
        max_points: int | None = None,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> MetricHistory:
        """A metric's history column-wise (steps, timestamps, values); with ``max_points``,
        downsampled so that each bucket keeps its minimum and maximum."""
        return self._tracking.get_metric_history(
            run_id, key, max_points=max_points, start_step=start_step, end_step=end_step
        ).to_entity()

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Dataset, Mapping[str, str]]]) -> None:
        self._tracking.log_inputs(run_id, list(datasets))

    # ----------------------------------------------------------------- search
    def search_runs(
        self,
        experiment_ids: Sequence[str] | str | None = None,
        filter_string: str = "",
        run_view_type: str | ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        experiment_names: Sequence[str] | None = None,
    ) -> PagedList[Run]:
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        page = self._tracking.search_runs(
            [str(e) for e in experiment_ids or []],
            filter_string,
            run_view_type,
            max_results,
            order_by,
            page_token,
            experiment_names=experiment_names,
        )
        return PagedList([r.to_entity() for r in page], page.next_page_token)

    # -------------------------------------------------------------- artifacts
    def log_artifact(
        self,
        run_id: str,
        local_path: str | os.PathLike[str],
        artifact_path: str | None = None,
        *,
        progress: Progress | None = None,
    ) -> FileInfo:
        """Upload one file into the run's artifacts, under ``artifact_path`` if given."""
        source = Path(local_path)
        if not source.is_file():
            raise InvalidInput(f"{source} is not a file.")
        target = f"{artifact_path.strip('/')}/{source.name}" if artifact_path else source.name
        return self._artifacts.upload(run_id, target, source, progress)

    def log_artifacts(
        self,
        run_id: str,
        local_dir: str | os.PathLike[str],
        artifact_path: str | None = None,
        *,
        progress: Progress | None = None,
    ) -> list[FileInfo]:
        """Upload a folder's files, keeping their relative paths."""
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidInput(f"{root} is not a folder.")
        uploaded = []
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = file.relative_to(root).as_posix()
            target = f"{artifact_path.strip('/')}/{relative}" if artifact_path else relative
            uploaded.append(self._artifacts.upload(run_id, target, file, progress))
        return uploaded

    def log_text(self, run_id: str, text: str, artifact_file: str) -> FileInfo:
        return self._log_bytes(run_id, text.encode("utf-8"), artifact_file)

    def log_dict(self, run_id: str, dictionary: Mapping[str, object], artifact_file: str) -> FileInfo:
        return self.log_text(run_id, self.dict_text(dictionary, artifact_file), artifact_file)

    @staticmethod
    def dict_text(dictionary: Mapping[str, object], artifact_file: str) -> str:
        """A dictionary as the text of a .json, or a .yaml/.yml, file."""
        if artifact_file.endswith((".yaml", ".yml")):
            try:
                import yaml
            except ModuleNotFoundError:
                raise InvalidInput(
                    f"Writing {artifact_file!r} as YAML needs PyYAML (pip install pyyaml); or use a .json name."
                ) from None

            return str(yaml.safe_dump(dict(dictionary), sort_keys=False))
        return json.dumps(dictionary, indent=2)

    def log_figure(self, run_id: str, figure: object, artifact_file: str) -> FileInfo:
        """Save a matplotlib or plotly figure as an artifact (format from the file extension)."""
        with tempfile.TemporaryDirectory() as tmp:
            target = self.save_figure(figure, artifact_file, Path(tmp))
            return self._artifacts.upload(run_id, artifact_file, target)

    @staticmethod
    def save_figure(figure: object, artifact_file: str, folder: Path) -> Path:
        """Save a matplotlib or plotly figure into ``folder`` under the artifact's file name."""
        name = PurePosixPath(artifact_file.replace("\\", "/"))
        suffix = name.suffix.lower()
        target = folder / (name.name or "figure")
        if hasattr(figure, "savefig"):
            figure.savefig(target, format=suffix.lstrip(".") or "png")
        elif hasattr(figure, "write_html") and suffix in (".html", ".htm"):
            figure.write_html(str(target), include_plotlyjs=True)
        elif hasattr(figure, "write_json") and suffix == ".json":
            figure.write_json(str(target))
        elif hasattr(figure, "write_image"):
            figure.write_image(str(target))
        else:
            raise InvalidInput(
                f"Cannot save a {type(figure).__name__} as {artifact_file!r}; pass a matplotlib or plotly figure."
            )
        return target

    def log_image(self, run_id: str, image: object, key: str, step: int = 0, timestamp: int | None = None) -> FileInfo:
        """Log an image of ``key`` at ``step`` (PNG or JPEG bytes or file, PIL image, numpy array);
        the UI shows each key's images with a step slider."""
        data, extension = media.image_bytes(image)
        when = int(time.time() * 1000) if timestamp is None else timestamp
        return self._log_bytes(run_id, data, media.image_file(key, step, when, extension))

    def log_table(self, run_id: str, data: object, artifact_file: str) -> FileInfo:
        """Log a table (a dict of columns or a pandas DataFrame) as JSON; the UI shows it sortable
        and filterable."""
        if not artifact_file.endswith(".json"):
            raise InvalidInput(f"A table is logged as JSON: name it *.json, not {artifact_file!r}.")
        info = self.log_text(run_id, media.table_json(data), artifact_file)
        tags = self.get_run(run_id).data.tags
        self.set_tag(
            run_id, media.LOGGED_ARTIFACTS_TAG, media.with_table(tags.get(media.LOGGED_ARTIFACTS_TAG), artifact_file)
        )
        return info

    def _log_bytes(self, run_id: str, data: bytes, artifact_file: str) -> FileInfo:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "payload"
            path.write_bytes(data)
            return self._artifacts.upload(run_id, artifact_file, path)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self._artifacts.list_dir(run_id, path or "")

    def download_artifacts(
        self,
        run_id: str,
        path: str = "",
        dst_path: str | os.PathLike[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> str:
        """Download a file or folder of a run's artifacts; returns the local path."""
        return _download(self._artifacts, run_id, f"Run {run_id}", path, dst_path, progress)

    def download_logged_model_artifacts(
        self, model_id: str, path: str = "", dst_path: str | os.PathLike[str] | None = None
    ) -> str:
        """Download the files of a logged model (as MLflow 3's ``log_model`` stores them)."""
        return _download(self._model_artifacts, model_id, f"Logged model {model_id}", path, dst_path, None)

    def publish_run_model(self, run_id: str, path: str) -> str:
        """Record the model at ``runs:/<run_id>/<path>`` as a logged model of the run too (what
        MLflow 3's client lists and loads); its id."""
        if self._http is not None:
            answer = self._http.t.json("POST", f"/api/v1/runs/{run_id}/logged-models", json={"path": path})
            return str(answer["logged_model"]["model_id"])
        from runstone.tracking import run_models

        return run_models.publish(self._logged_models, self._run_artifacts, run_id, path).model_id

    def search_logged_models(
        self, experiment_ids: Sequence[str], filter_string: str | None = None, max_results: int | None = None
    ) -> list[LoggedModel]:
        """Logged models of the experiments (those MLflow 3's client logged included), newest first."""
        if self._http is None:
            return list(self._logged_models.search(experiment_ids, filter_string, max_results=max_results))
        body = {"experiment_ids": list(experiment_ids), "filter": filter_string, "max_results": max_results}
        answer = self._http.t.json("POST", "/api/v1/logged-models/search", json=body)
        return LoggedModelPage.model_validate(answer).to_entities()

    # ----------------------------------------------------------------- traces
    def prune_traces(
        self,
        *,
        older_than_ms: int | None = None,
        experiment_ids: Sequence[str] | None = None,
        dry_run: bool = False,
    ) -> dict[str, int]:
        """Delete old traces: those that started at least ``older_than_ms`` ago or, without it,
        those older than their experiment's retention (``runstone.traces.retentionDays``). Only
        in ``experiment_ids`` (EDIT on each is enough), else in every experiment (an admin's
        call). Returns how many were deleted (or, with ``dry_run``, would be) by experiment id."""
        if self._http is None:
            from runstone.tracking.traces import TraceService

            return TraceService(self._ctx).prune(
                older_than_ms=older_than_ms, experiment_ids=experiment_ids, dry_run=dry_run
            )
        body = {"older_than_ms": older_than_ms, "dry_run": dry_run}
        if experiment_ids is None:
            return dict(self._http.t.json("POST", "/api/v1/traces/prune", json=body)["deleted"])
        deleted: dict[str, int] = {}
        for experiment_id in experiment_ids:
            path = f"/api/v1/experiments/{quote(str(experiment_id), safe='')}/traces/prune"
            deleted.update(self._http.t.json("POST", path, json=body)["deleted"])
        return deleted

    # ----------------------------------------------------------------- admin
    def gc(
        self,
        *,
        older_than_ms: int | None = None,
        dry_run: bool = False,
        run_ids: Sequence[str] | None = None,
        experiment_ids: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Permanently remove deleted runs and experiments, with their artifacts.

        With ``run_ids`` or ``experiment_ids``, only those (each must be deleted); otherwise
        everything deleted at least ``older_than_ms`` ago (everything deleted when None).
        """
        if self._http is not None:
            return self._http.gc(
                older_than_ms=older_than_ms, dry_run=dry_run, run_ids=run_ids, experiment_ids=experiment_ids
            )
        from runstone.tracking.gc import collect

        report = collect(
            self._ctx,
            self._run_artifacts.store,
            older_than_ms=older_than_ms,
            dry_run=dry_run,
            run_ids=run_ids,
            experiment_ids=experiment_ids,
        )
        return dict(report.__dict__)

    def audit_events(
        self,
        *,
        target_type: str | None = None,
        target_id: str | None = None,
        after: int = 0,
        limit: int = 1000,
        actor: str | None = None,
        action: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[dict[str, Any]]:
        filters: dict[str, Any] = {"target_type": target_type, "target_id": target_id, "actor": actor}
        filters.update(action=action, since=since, until=until)
        if self._http is not None:
            return self._http.audit_events(after=after, limit=limit, **filters)
        from runstone.governance.audit import AuditService

        events = AuditService(self._ctx.db).events(after_seq=after, limit=limit, **filters)
        return [dict(e.__dict__) for e in events]

    def access(self) -> HttpAccess | PermissionService:
        """Groups, grants and team prefix grants: over HTTP, or on the embedded store (which has no auth: everything is allowed)."""
        if self._http is not None:
            from runstone.sdk.access import HttpAccess

            return HttpAccess(self._http.t)
        from runstone.governance.permissions import PermissionService

        return PermissionService(self._ctx)

    def verify_audit(self) -> dict[str, object]:
        if self._http is not None:
            return self._http.audit_verify()
        from runstone.governance.audit import AuditService

        return dict(AuditService(self._ctx.db).verify().__dict__)


def _download(
    artifacts: ArtifactsBackend,
    owner: str,
    label: str,
    path: str,
    dst_path: str | os.PathLike[str] | None,
    progress: Progress | None,
) -> str:
    """Download a file or a folder from a run's or a logged model's artifacts."""
    dest_root = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="runstone-"))
    clean = path.strip("/")
    files = artifacts.files(owner, clean)
    if not files and clean:
        raise NotFound(f"{label} has no artifact at {clean!r}.")
    if len(files) == 1 and files[0].path == clean and clean:
        target = dest_root / Path(clean).name
        artifacts.download(owner, clean, target, progress)
        return str(target)
    base = dest_root / Path(clean).name if clean else dest_root
    base.mkdir(parents=True, exist_ok=True)
    for f in files:
        relative = f.path[len(clean) + 1 :] if clean else f.path
        artifacts.download(owner, f.path, base / relative, progress)
    return str(base)
