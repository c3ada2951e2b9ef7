"""What each SDK backend implements: the HTTP backend (``sdk/remote.py``, ``sdk/registry.py``,
``sdk/deployments.py``, ``sdk/monitoring.py``) and the services in process (embedded mode,
``sdk/local.py``). Both answer with the wire models of ``runstone.schemas`` (monitoring: with the
entities those models carry) (the HTTP backend parses them, the embedded one builds
them from the services' entities), so a caller cannot tell them apart. The client holds its
backend by this Protocol, so mypy checks that both agree on every method's signature and answer;
tests/sdk/test_backend_protocol.py runs each method through both."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

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

# Called with the size of each chunk sent or received.
Progress = Callable[[int], object]


class TrackingBackend(Protocol):
    # ------------------------------------------------------------ experiments
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str: ...

    def get_experiment(self, experiment_id: str) -> ExperimentPublic: ...

    def get_experiment_by_name(self, name: str) -> ExperimentPublic: ...

    def search_experiments(
        self,
        *,
        view_type: str | ViewType | None = None,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ExperimentPublic]: ...

    def experiment_run_counts(self, experiment_ids: Sequence[str]) -> dict[str, int]: ...

    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    def delete_experiment(self, experiment_id: str) -> None: ...

    def restore_experiment(self, experiment_id: str) -> None: ...

    # ------------------------------------------------------------------- runs
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
    ) -> RunPublic: ...

    def get_run(self, run_id: str) -> RunPublic: ...

    def child_run_ids(self, run_id: str) -> list[str]: ...

    def update_run(
        self, run_id: str, *, status: str | None = None, end_time: int | None = None, run_name: str | None = None
    ) -> RunPublic: ...

    def set_terminated(self, run_id: str, status: str = "FINISHED", end_time: int | None = None) -> RunPublic: ...

    def delete_run(self, run_id: str) -> None: ...

    def restore_run(self, run_id: str) -> None: ...

    def move_run(self, run_id: str, experiment_id: str) -> RunPublic: ...

    # ---------------------------------------------------------------- logging
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        tags: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        idempotency_key: str | None = None,
    ) -> None: ...

    def log_metric(
        self, run_id: str, key: str, value: float, *, step: int = 0, timestamp: int | None = None
    ) -> None: ...

    def log_param(self, run_id: str, key: str, value: object) -> None: ...

    def set_tag(self, run_id: str, key: str, value: object) -> None: ...

    def delete_tag(self, run_id: str, key: str) -> None: ...

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        *,
        max_points: int | None = None,
        start_step: int | None = None,
        end_step: int | None = None,
        limit: int | None = None,
    ) -> MetricHistoryPublic: ...

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Dataset, Mapping[str, str]]]) -> None: ...

    # ----------------------------------------------------------------- search
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
    ) -> PagedList[RunPublic]: ...


class DeploymentsBackend(Protocol):
    def record_deployment(
        self, name: str, model_name: str, version: str | int, *, target: str = "", description: str = ""
    ) -> DeploymentPublic: ...

    def end_deployment(self, deployment_id: int) -> DeploymentPublic: ...

    def get_deployment(self, deployment_id: int) -> DeploymentPublic: ...

    def list_deployments(
        self,
        model_name: str | None = None,
        version: str | int | None = None,
        name: str | None = None,
        active_only: bool = False,
    ) -> list[DeploymentPublic]: ...


class RegistryBackend(Protocol):
    def create_registered_model(
        self, name: str, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModelPublic: ...

    def get_registered_model(self, name: str) -> RegisteredModelPublic: ...

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModelPublic: ...

    def update_registered_model(self, name: str, description: str) -> RegisteredModelPublic: ...

    def delete_registered_model(self, name: str) -> None: ...

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...

    def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModelPublic]: ...

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str = "",
    ) -> ModelVersionPublic: ...

    def get_model_version(self, name: str, version: str | int) -> ModelVersionPublic: ...

    def get_model_version_manifest(self, name: str, version: str | int) -> ManifestPublic: ...

    def update_model_version(self, name: str, version: str | int, description: str) -> ModelVersionPublic: ...

    def delete_model_version(self, name: str, version: str | int) -> None: ...

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None: ...

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None: ...

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersionPublic]: ...

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersionPublic]: ...

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersionPublic: ...

    def set_registered_model_alias(
        self, name: str, alias: str, version: str | int, *, reason: str = ""
    ) -> ModelVersionPublic: ...

    def delete_registered_model_alias(self, name: str, alias: str, *, reason: str = "") -> None: ...

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False, *, reason: str = ""
    ) -> ModelVersionPublic: ...

    def policy(self, name: str) -> PolicyPublic: ...

    def set_policy(self, name: str, policy: Policy) -> PolicyPublic: ...

    def get_model_history(
        self, name: str, *, kind: str | None = None, target: str | None = None
    ) -> list[AssignmentPublic]: ...

    def holders_at(self, name: str, *, time: int, stage: str | None = None, alias: str | None = None) -> list[str]: ...

    def request_transition(
        self,
        name: str,
        version: str | int,
        *,
        stage: str | None = None,
        alias: str | None = None,
        comment: str = "",
        archive_existing_versions: bool = False,
    ) -> ApprovalRequestPublic: ...

    def approve_request(self, request_id: int, comment: str = "") -> ApprovalRequestPublic: ...

    def reject_request(self, request_id: int, comment: str = "") -> ApprovalRequestPublic: ...

    def cancel_request(self, request_id: int) -> ApprovalRequestPublic: ...

    def get_request(self, request_id: int) -> ApprovalRequestPublic: ...

    def search_requests(self, name: str | None = None, status: str | None = None) -> list[ApprovalRequestPublic]: ...

    def rollback(
        self, name: str, *, stage: str | None = None, alias: str | None = None, comment: str = ""
    ) -> ModelVersionPublic: ...


class WebhooksBackend(Protocol):
    def create_webhook(
        self, name: str, url: str, events: Sequence[str], *, model_name: str | None = None, secret: str | None = None
    ) -> tuple[WebhookPublic, str]: ...

    def list_webhooks(self) -> list[WebhookPublic]: ...

    def delete_webhook(self, webhook_id: int) -> None: ...

    def deliveries(self, webhook_id: int | None = None) -> list[DeliveryPublic]: ...


class ArtifactsBackend(Protocol):
    """The files of a run (or of a logged model), by its id."""

    def upload(self, run_id: str, path: str, local_file: Path, progress: Progress | None = None) -> FileInfo: ...

    def list_dir(self, run_id: str, path: str = "") -> list[FileInfo]: ...

    def files(self, run_id: str, path: str = "") -> list[FileInfo]: ...

    def download(self, run_id: str, path: str, dest: Path, progress: Progress | None = None) -> None: ...


class MonitoringBackend(Protocol):
    """Profiles, prediction logs, late labels, windows, rules, alerts and retraining of model
    versions (a version is named by its number or an alias)."""

    def set_profile(
        self, name: str, ref: str | int, profile: object, *, source: str = "", dataset_digest: str | None = None
    ) -> StoredProfile: ...

    def get_profile(self, name: str, ref: str | int) -> StoredProfile: ...

    def training_dataset(self, name: str, ref: str | int) -> dict[str, object]: ...

    def ingest(self, name: str, ref: str | int, data: bytes) -> dict[str, int]: ...

    def export(self, name: str, ref: str | int, start: int, end: int) -> bytes: ...

    def log_labels(
        self, request_ids: Sequence[str], labels: Sequence[object], *, model: str | None = None
    ) -> dict[str, int]: ...

    def compute(self, name: str, ref: str | int, start: int, end: int) -> dict[str, object]: ...

    def windows(self, name: str, ref: str | int | None = None, limit: int = 500) -> list[Window]: ...

    def create_rule(self, name: str, spec: object) -> Rule: ...

    def list_rules(self, name: str) -> list[Rule]: ...

    def delete_rule(self, name: str, rule: str) -> None: ...

    def alerts(self, name: str | None = None, limit: int = 200) -> list[Alert]: ...

    def get_alert(self, alert_id: int) -> Alert: ...

    def evaluate(self, window: str = "1h") -> int: ...

    def claim_retraining(self) -> tuple[Alert, dict[str, object]] | None: ...

    def record_retraining(self, alert_id: int, *, status: str, **links: object) -> Alert: ...
