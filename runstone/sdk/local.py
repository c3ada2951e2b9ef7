"""The embedded backend: the services in-process, on the SQLite file and artifact folder.

Each class here implements one Protocol of ``sdk/protocols.py`` over a service bound to the
client's Context, answering with the same wire models as the HTTP backend: the services'
entities go through the models the server would have sent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from runstone.entities import (
    Alert,
    Dataset,
    FileInfo,
    Metric,
    PagedList,
    Policy,
    Rule,
    StoredProfile,
    ViewType,
    Window,
)
from runstone.errors import InvalidInput
from runstone.schemas.deployments import DeploymentPublic
from runstone.schemas.registry import (
    ApprovalRequestPublic,
    AssignmentPublic,
    DeliveryPublic,
    ManifestPublic,
    ModelVersionPublic,
    PolicyPublic,
    RegisteredModelPublic,
    WebhookPublic,
)
from runstone.schemas.tracking import ExperimentPublic, MetricHistoryPublic, RunPublic
from runstone.sdk.protocols import Progress

if TYPE_CHECKING:
    from runstone.monitoring.service import MonitoringService
    from runstone.registry.approvals import GovernedRegistry
    from runstone.registry.deployments import DeploymentService
    from runstone.registry.webhooks import WebhookService
    from runstone.tracking.artifacts import ArtifactService
    from runstone.tracking.logged_models import LoggedModelService
    from runstone.tracking.service import TrackingService

M = TypeVar("M", bound=BaseModel)


def _page(page: PagedList, model: type[M]) -> PagedList[M]:
    return PagedList([model.model_validate(item) for item in page], page.next_page_token)


class LocalTracking:
    """TrackingBackend over the in-process TrackingService."""

    def __init__(self, service: TrackingService) -> None:
        self.service = service

    # experiments
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        return self.service.create_experiment(name, tags)

    def get_experiment(self, experiment_id: str) -> ExperimentPublic:
        return ExperimentPublic.model_validate(self.service.get_experiment(experiment_id))

    def get_experiment_by_name(self, name: str) -> ExperimentPublic:
        return ExperimentPublic.model_validate(self.service.get_experiment_by_name(name))

    def search_experiments(
        self,
        *,
        view_type: str | ViewType | None = None,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ExperimentPublic]:
        page = self.service.search_experiments(
            view_type=view_type,
            filter_string=filter_string,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
        )
        return _page(page, ExperimentPublic)

    def experiment_run_counts(self, experiment_ids: Sequence[str]) -> dict[str, int]:
        return self.service.experiment_run_counts(experiment_ids)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.service.rename_experiment(experiment_id, new_name)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.service.set_experiment_tag(experiment_id, key, value)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.service.delete_experiment_tag(experiment_id, key)

    def delete_experiment(self, experiment_id: str) -> None:
        self.service.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.service.restore_experiment(experiment_id)

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
        run = self.service.create_run(
            experiment_id,
            run_name=run_name,
            start_time=start_time,
            tags=tags,
            user_id=user_id,
            parent_run_id=parent_run_id,
            run_id=run_id,
        )
        return RunPublic.model_validate(run)

    def get_run(self, run_id: str) -> RunPublic:
        return RunPublic.model_validate(self.service.get_run(run_id))

    def child_run_ids(self, run_id: str) -> list[str]:
        return self.service.child_run_ids(run_id)

    def update_run(
        self, run_id: str, *, status: str | None = None, end_time: int | None = None, run_name: str | None = None
    ) -> RunPublic:
        return RunPublic.model_validate(
            self.service.update_run(run_id, status=status, end_time=end_time, run_name=run_name)
        )

    def set_terminated(self, run_id: str, status: str = "FINISHED", end_time: int | None = None) -> RunPublic:
        return RunPublic.model_validate(self.service.set_terminated(run_id, status, end_time))

    def delete_run(self, run_id: str) -> None:
        self.service.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.service.restore_run(run_id)

    def move_run(self, run_id: str, experiment_id: str) -> RunPublic:
        return RunPublic.model_validate(self.service.move_run(run_id, experiment_id))

    # logging
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        tags: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        idempotency_key: str | None = None,
    ) -> None:
        self.service.log_batch(run_id, metrics, params, tags, idempotency_key=idempotency_key)

    def log_metric(self, run_id: str, key: str, value: float, *, step: int = 0, timestamp: int | None = None) -> None:
        self.service.log_metric(run_id, key, value, step=step, timestamp=timestamp)

    def log_param(self, run_id: str, key: str, value: object) -> None:
        self.service.log_param(run_id, key, value)

    def set_tag(self, run_id: str, key: str, value: object) -> None:
        self.service.set_tag(run_id, key, value)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.service.delete_tag(run_id, key)

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
        history = self.service.get_metric_history(
            run_id, key, max_points=max_points, start_step=start_step, end_step=end_step, limit=limit
        )
        return MetricHistoryPublic.model_validate(history)

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Dataset, Mapping[str, str]]]) -> None:
        self.service.log_inputs(run_id, datasets)

    # search
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
        page = self.service.search_runs(
            experiment_ids,
            filter_string,
            run_view_type,
            max_results,
            order_by,
            page_token,
            experiment_names=experiment_names,
            params=params,
            metrics=metrics,
            tags=tags,
        )
        return _page(page, RunPublic)


class LocalDeployments:
    """DeploymentsBackend over the in-process DeploymentService."""

    def __init__(self, service: DeploymentService) -> None:
        self.service = service

    def record_deployment(
        self, name: str, model_name: str, version: str | int, *, target: str = "", description: str = ""
    ) -> DeploymentPublic:
        recorded = self.service.record_deployment(name, model_name, version, target=target, description=description)
        return DeploymentPublic.model_validate(recorded)

    def end_deployment(self, deployment_id: int) -> DeploymentPublic:
        return DeploymentPublic.model_validate(self.service.end_deployment(deployment_id))

    def get_deployment(self, deployment_id: int) -> DeploymentPublic:
        return DeploymentPublic.model_validate(self.service.get_deployment(deployment_id))

    def list_deployments(
        self,
        model_name: str | None = None,
        version: str | int | None = None,
        name: str | None = None,
        active_only: bool = False,
    ) -> list[DeploymentPublic]:
        found = self.service.list_deployments(model_name, version, name, active_only)
        return [DeploymentPublic.model_validate(d) for d in found]


class LocalRegistry:
    """RegistryBackend over the in-process GovernedRegistry."""

    def __init__(self, service: GovernedRegistry) -> None:
        self.service = service

    # registered models
    def create_registered_model(
        self, name: str, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModelPublic:
        return RegisteredModelPublic.model_validate(self.service.create_registered_model(name, description, tags))

    def get_registered_model(self, name: str) -> RegisteredModelPublic:
        return RegisteredModelPublic.model_validate(self.service.get_registered_model(name))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModelPublic:
        return RegisteredModelPublic.model_validate(self.service.rename_registered_model(name, new_name))

    def update_registered_model(self, name: str, description: str) -> RegisteredModelPublic:
        return RegisteredModelPublic.model_validate(self.service.update_registered_model(name, description))

    def delete_registered_model(self, name: str) -> None:
        self.service.delete_registered_model(name)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self.service.set_registered_model_tag(name, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.service.delete_registered_model_tag(name, key)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModelPublic]:
        page = self.service.search_registered_models(filter_string, max_results, order_by, page_token)
        return _page(page, RegisteredModelPublic)

    # versions
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str = "",
    ) -> ModelVersionPublic:
        created = self.service.create_model_version(name, source, run_id, tags, description)
        return ModelVersionPublic.model_validate(created)

    def get_model_version(self, name: str, version: str | int) -> ModelVersionPublic:
        return ModelVersionPublic.model_validate(self.service.get_model_version(name, version))

    def get_model_version_manifest(self, name: str, version: str | int) -> ManifestPublic:
        return ManifestPublic.model_validate(self.service.get_model_version_manifest(name, version))

    def update_model_version(self, name: str, version: str | int, description: str) -> ModelVersionPublic:
        return ModelVersionPublic.model_validate(self.service.update_model_version(name, version, description))

    def delete_model_version(self, name: str, version: str | int) -> None:
        self.service.delete_model_version(name, version)

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        self.service.set_model_version_tag(name, version, key, value)

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        self.service.delete_model_version_tag(name, version, key)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersionPublic]:
        page = self.service.search_model_versions(filter_string, max_results, order_by, page_token)
        return _page(page, ModelVersionPublic)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersionPublic]:
        return [ModelVersionPublic.model_validate(v) for v in self.service.get_latest_versions(name, stages)]

    # aliases and stages
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersionPublic:
        return ModelVersionPublic.model_validate(self.service.get_model_version_by_alias(name, alias))

    def set_registered_model_alias(
        self, name: str, alias: str, version: str | int, *, reason: str = ""
    ) -> ModelVersionPublic:
        return ModelVersionPublic.model_validate(
            self.service.set_registered_model_alias(name, alias, version, reason=reason)
        )

    def delete_registered_model_alias(self, name: str, alias: str, *, reason: str = "") -> None:
        self.service.delete_registered_model_alias(name, alias, reason=reason)

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False, *, reason: str = ""
    ) -> ModelVersionPublic:
        moved = self.service.transition_model_version_stage(
            name, version, stage, archive_existing_versions, reason=reason
        )
        return ModelVersionPublic.model_validate(moved)

    # governance
    def policy(self, name: str) -> PolicyPublic:
        return PolicyPublic.model_validate(self.service.policy(name))

    def set_policy(self, name: str, policy: Policy) -> PolicyPublic:
        return PolicyPublic.model_validate(self.service.set_policy(name, policy))

    def get_model_history(
        self, name: str, *, kind: str | None = None, target: str | None = None
    ) -> list[AssignmentPublic]:
        return [
            AssignmentPublic.model_validate(a) for a in self.service.get_model_history(name, kind=kind, target=target)
        ]

    def holders_at(self, name: str, *, time: int, stage: str | None = None, alias: str | None = None) -> list[str]:
        return self.service.holders_at(name, time=time, stage=stage, alias=alias)

    def request_transition(
        self,
        name: str,
        version: str | int,
        *,
        stage: str | None = None,
        alias: str | None = None,
        comment: str = "",
        archive_existing_versions: bool = False,
    ) -> ApprovalRequestPublic:
        request = self.service.request_transition(
            name,
            version,
            stage=stage,
            alias=alias,
            comment=comment,
            archive_existing_versions=archive_existing_versions,
        )
        return ApprovalRequestPublic.model_validate(request)

    def approve_request(self, request_id: int, comment: str = "") -> ApprovalRequestPublic:
        return ApprovalRequestPublic.model_validate(self.service.approve_request(request_id, comment))

    def reject_request(self, request_id: int, comment: str = "") -> ApprovalRequestPublic:
        return ApprovalRequestPublic.model_validate(self.service.reject_request(request_id, comment))

    def cancel_request(self, request_id: int) -> ApprovalRequestPublic:
        return ApprovalRequestPublic.model_validate(self.service.cancel_request(request_id))

    def get_request(self, request_id: int) -> ApprovalRequestPublic:
        return ApprovalRequestPublic.model_validate(self.service.get_request(request_id))

    def search_requests(self, name: str | None = None, status: str | None = None) -> list[ApprovalRequestPublic]:
        return [ApprovalRequestPublic.model_validate(r) for r in self.service.search_requests(name, status)]

    def rollback(
        self, name: str, *, stage: str | None = None, alias: str | None = None, comment: str = ""
    ) -> ModelVersionPublic:
        return ModelVersionPublic.model_validate(self.service.rollback(name, stage=stage, alias=alias, comment=comment))


class LocalWebhooks:
    """WebhooksBackend over the in-process WebhookService."""

    def __init__(self, service: WebhookService) -> None:
        self.service = service

    def create_webhook(
        self, name: str, url: str, events: Sequence[str], *, model_name: str | None = None, secret: str | None = None
    ) -> tuple[WebhookPublic, str]:
        created = self.service.create_webhook(name, url, events, model_name=model_name, secret=secret)
        return WebhookPublic.model_validate(created.webhook), created.secret

    def list_webhooks(self) -> list[WebhookPublic]:
        return [WebhookPublic.model_validate(w) for w in self.service.list_webhooks()]

    def delete_webhook(self, webhook_id: int) -> None:
        self.service.delete_webhook(webhook_id)

    def deliveries(self, webhook_id: int | None = None) -> list[DeliveryPublic]:
        return [DeliveryPublic.model_validate(d) for d in self.service.deliveries(webhook_id)]


class LocalArtifacts:
    """The HttpArtifacts interface over an in-process ArtifactService (or a logged model's)."""

    def __init__(self, service: ArtifactService | LoggedModelService) -> None:
        self.service = service

    def upload(self, run_id: str, path: str, local_file: Path, progress: Progress | None = None) -> FileInfo:
        def chunks() -> Iterator[bytes]:
            with open(local_file, "rb") as src:
                while chunk := src.read(1024 * 1024):
                    if progress is not None:
                        progress(len(chunk))
                    yield chunk

        return self.service.log_artifact(run_id, path, chunks())

    def list_dir(self, run_id: str, path: str = "") -> list[FileInfo]:
        return self.service.list_artifacts(run_id, path)

    def files(self, run_id: str, path: str = "") -> list[FileInfo]:
        return self.service.files(run_id, path)

    def download(self, run_id: str, path: str, dest: Path, progress: Progress | None = None) -> None:
        artifact = self.service.open(run_id, path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        digest = hashlib.sha256()
        try:
            if artifact.local_path is not None:
                shutil.copyfile(artifact.local_path, tmp)
                with open(tmp, "rb") as src:
                    while chunk := src.read(1024 * 1024):
                        digest.update(chunk)
                        if progress is not None:
                            progress(len(chunk))
            else:
                with open(tmp, "wb") as out:
                    for chunk in self.service.read(artifact):
                        digest.update(chunk)
                        out.write(chunk)
                        if progress is not None:
                            progress(len(chunk))
            if artifact.info.sha256 and digest.hexdigest() != artifact.info.sha256:
                raise InvalidInput(f"Stored artifact {path!r} does not match its recorded SHA-256.")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)


class LocalMonitoring:
    """MonitoringBackend over the in-process MonitoringService (``service``: the engines it alone has)."""

    def __init__(self, service: MonitoringService) -> None:
        self.service = service

    def set_profile(
        self, name: str, ref: str | int, profile: object, *, source: str = "", dataset_digest: str | None = None
    ) -> StoredProfile:
        return self.service.set_profile(name, ref, profile, source=source, dataset_digest=dataset_digest)

    def get_profile(self, name: str, ref: str | int) -> StoredProfile:
        return self.service.get_profile(name, ref)

    def training_dataset(self, name: str, ref: str | int) -> dict[str, object]:
        return self.service.training_dataset(name, ref)

    def ingest(self, name: str, ref: str | int, data: bytes) -> dict[str, int]:
        return self.service.ingest(name, ref, data)

    def export(self, name: str, ref: str | int, start: int, end: int) -> bytes:
        return self.service.export(name, ref, start, end)

    def log_labels(
        self, request_ids: Sequence[str], labels: Sequence[object], *, model: str | None = None
    ) -> dict[str, int]:
        return self.service.log_labels(request_ids, labels, model=model)

    def compute(self, name: str, ref: str | int, start: int, end: int) -> dict[str, object]:
        return self.service.compute(name, ref, start, end)

    def windows(self, name: str, ref: str | int | None = None, limit: int = 500) -> list[Window]:
        return self.service.windows(name, ref, limit)

    def create_rule(self, name: str, spec: object) -> Rule:
        return self.service.create_rule(name, spec)

    def list_rules(self, name: str) -> list[Rule]:
        return self.service.list_rules(name)

    def delete_rule(self, name: str, rule: str) -> None:
        self.service.delete_rule(name, rule)

    def alerts(self, name: str | None = None, limit: int = 200) -> list[Alert]:
        return self.service.alerts(name, limit)

    def get_alert(self, alert_id: int) -> Alert:
        return self.service.get_alert(alert_id)

    def evaluate(self, window: str = "1h") -> int:
        from runstone.monitoring.scheduler import owner_name
        from runstone.monitoring.windows import parse_duration

        # No server profiles the versions registered in the embedded store: this call does, first.
        while self.service.profile_registered(owner=owner_name())[0]:
            pass
        return self.service.evaluate_due(parse_duration(window), owner=owner_name())

    def claim_retraining(self) -> tuple[Alert, dict[str, object]] | None:
        return self.service.claim_retraining()

    def record_retraining(self, alert_id: int, *, status: str, **links: object) -> Alert:
        return self.service.record_retraining(alert_id, status=status, **links)
