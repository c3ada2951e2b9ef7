"""Domain entities: plain dataclasses that cross every layer.

Their shape follows MLflow's (``run.info.run_id``, ``run.data.metrics``) so that users of
MLflow are at home. Database rows never leave ``store/``; wire schemas live in ``schemas/``.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminated(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class LifecycleStage(enum.StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(enum.StrEnum):
    ACTIVE_ONLY = "ACTIVE_ONLY"
    DELETED_ONLY = "DELETED_ONLY"
    ALL = "ALL"

    @classmethod
    def parse(cls, value: str | ViewType | None) -> ViewType:
        if value is None:
            return cls.ACTIVE_ONLY
        if isinstance(value, ViewType):
            return value
        normalized = str(value).strip().upper()
        aliases = {"ACTIVE": "ACTIVE_ONLY", "DELETED": "DELETED_ONLY"}
        normalized = aliases.get(normalized, normalized)
        try:
            return cls(normalized)
        except ValueError:
            from runstone.errors import InvalidInput

            raise InvalidInput(f"Unknown view type {value!r}; use one of active_only, deleted_only, all.") from None

    def stages(self) -> tuple[str, ...]:
        if self is ViewType.ACTIVE_ONLY:
            return (LifecycleStage.ACTIVE.value,)
        if self is ViewType.DELETED_ONLY:
            return (LifecycleStage.DELETED.value,)
        return (LifecycleStage.ACTIVE.value, LifecycleStage.DELETED.value)


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    key: str
    value: str


@dataclass
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass
class DatasetInput:
    dataset: Dataset
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def context(self) -> str | None:
        return self.tags.get("runstone.data.context")


@dataclass
class RunInputs:
    dataset_inputs: list[DatasetInput] = field(default_factory=list)


@dataclass
class Run:
    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)

    def to_dict(self) -> dict[str, object]:
        return {
            "info": {**self.info.__dict__},
            "data": {
                "metrics": dict(self.data.metrics),
                "params": dict(self.data.params),
                "tags": dict(self.data.tags),
            },
            "inputs": {
                "dataset_inputs": [
                    {"dataset": {**d.dataset.__dict__}, "tags": dict(d.tags)} for d in self.inputs.dataset_inputs
                ]
            },
        }


@dataclass
class MetricHistory:
    """A metric's points column-wise: what goes over the wire and into charts."""

    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[float]
    downsampled: bool = False

    def __len__(self) -> int:
        return len(self.steps)

    def to_metrics(self) -> list[Metric]:
        return [Metric(self.key, v, t, s) for s, t, v in zip(self.steps, self.timestamps, self.values, strict=True)]


@dataclass(frozen=True)
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None = None
    sha256: str | None = None


@dataclass
class PagedList(Generic[T]):
    items: list[T]
    next_page_token: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]


@dataclass
class AuditEvent:
    seq: int
    time: int
    actor: str
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str
    hash: str
    request_id: str | None = None
    token_id: str | None = None  # the API token used (its public id), with auth on
    client: str | None = None  # the client's address, with auth on


# ------------------------------------------------------------------ model registry
STAGES = ("None", "Staging", "Production", "Archived")


@dataclass
class ModelVersion:
    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int
    current_stage: str
    description: str
    source: str
    run_id: str | None
    status: str
    user_id: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    manifest_digest: str | None = None  # of the PackageManifest recorded at registration


@dataclass(frozen=True)
class ManifestFile:
    path: str  # inside the package folder
    size: int
    sha256: str


def manifest_digest(files: Iterable[ManifestFile]) -> str:
    """The SHA-256 of the lines ``<sha256>  <path>`` sorted by path, each ending in a newline:
    what ``sha256sum`` prints for the package's files, hashed in turn."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.sha256}  {f.path}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class PackageManifest:
    """The files of a registered version's package, with their sizes and SHA-256, as recorded
    when the version was registered; a package whose files differ is refused."""

    files: tuple[ManifestFile, ...]

    @property
    def digest(self) -> str:
        return manifest_digest(self.files)

    def to_json(self) -> dict[str, object]:
        return {"digest": self.digest, "files": [f.__dict__.copy() for f in self.files]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PackageManifest:
        files = tuple(ManifestFile(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in data.get("files") or [])
        return cls(tuple(sorted(files, key=lambda f: f.path)))


@dataclass
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str
    user_id: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)


@dataclass(frozen=True)
class Assignment:
    """One move of a stage or alias: which version it went to (None = removed), from which."""

    kind: str
    target: str
    version: str | None
    previous_version: str | None
    actor: str
    reason: str
    time: int
    request_id: int | None = None
    rollback: bool = False


@dataclass(frozen=True)
class Gate:
    """An automatic check on a promotion, e.g. metrics.accuracy >= the current holder's."""

    metric: str
    op: str
    compare_to: str | float = "current"


@dataclass
class Policy:
    protected_stages: list[str] = field(default_factory=list)
    protected_aliases: list[str] = field(default_factory=list)
    required_approvals: int = 1
    gates: list[Gate] = field(default_factory=list)
    rollback_requires_approval: bool = False
    # With auth on: only members of this group may approve the model's requests.
    approver_group: str | None = None

    def protects(self, kind: str, target: str) -> bool:
        return target in (self.protected_stages if kind == "stage" else self.protected_aliases)


@dataclass(frozen=True)
class Approval:
    approver: str
    decision: str
    comment: str
    time: int


@dataclass
class ApprovalRequest:
    id: int
    name: str
    version: str
    kind: str
    target: str
    archive_existing: bool
    status: str
    requested_by: str
    comment: str
    evidence: dict[str, Any]
    creation_time: int
    decided_time: int | None
    approvals: list[Approval] = field(default_factory=list)


@dataclass
class Webhook:
    id: int
    name: str
    url: str
    events: list[str]
    model_name: str | None
    active: bool
    creation_time: int


@dataclass
class Deployment:
    """Where a model version is served: recorded when it starts there, ended when it stops."""

    id: int
    name: str
    target: str
    model_name: str
    version: str
    description: str
    created_by: str
    start_time: int
    end_time: int | None = None
    ended_by: str | None = None
    manifest_digest: str | None = None  # the version's, when the deployment was recorded

    @property
    def active(self) -> bool:
        return self.end_time is None


# ------------------------------------------------------------------ logged models
class LoggedModelStatus(enum.StrEnum):
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"


@dataclass(frozen=True)
class LoggedModelMetric:
    key: str
    value: float
    timestamp: int
    step: int = 0
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass
class LoggedModel:
    """A model logged on its own (MLflow 3's LoggedModel): artifacts, tags, params and metrics,
    usually produced by a run (``source_run_id``)."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    status: str
    lifecycle_stage: str
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[LoggedModelMetric] = field(default_factory=list)
    # Registered model versions created from this model: (name, version).
    registrations: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RunModelLinks:
    """Logged models a run used (inputs) and produced (outputs, with the step)."""

    inputs: tuple[str, ...] = ()
    outputs: tuple[tuple[str, int], ...] = ()


# ------------------------------------------------------------------ monitoring
@dataclass
class StoredProfile:
    model: str
    version: int
    digest: str
    dataset_digest: str | None
    source: str
    profile: dict[str, Any]
    created_by: str
    creation_time: int


@dataclass
class Window:
    id: int
    model: str
    version: int
    start_time: int
    end_time: int
    status: str
    result: dict[str, Any] | None
    computed_time: int | None


@dataclass
class Rule:
    id: int
    model: str
    name: str
    spec: dict[str, Any]
    created_by: str
    creation_time: int


@dataclass
class Alert:
    id: int
    rule: str
    model: str
    version: int
    window_id: int
    time: int
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    action_status: str = "none"
    run_id: str | None = None
    new_version: int | None = None
    approval_request_id: int | None = None
    action_note: str | None = None


@dataclass
class TraceInfo:
    """One trace (MLflow 3's TraceInfoV3): where and when it ran, how it ended, its tags and
    request metadata. Its spans are read apart (they can be large)."""

    trace_id: str
    experiment_id: str
    request_time: int  # ms since the epoch
    execution_time: int | None  # ms
    state: str  # OK, ERROR, IN_PROGRESS, STATE_UNSPECIFIED
    run_id: str | None = None
    model_id: str | None = None
    client_request_id: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    span_count: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    """A person (kind ``user``) or a service account (kind ``service``, token login only)."""

    id: int
    name: str
    kind: str
    is_admin: bool
    creation_time: int
    disabled_time: int | None = None


@dataclass(frozen=True)
class ApiToken:
    """An API token as listed: never its secret."""

    token_id: str
    user: str
    name: str
    read_only: bool
    resources: list[str] | None  # "experiment:<id>" / "model:<name>"; None: every resource
    creation_time: int
    expiry_time: int | None = None
    revoked_time: int | None = None
    last_used_time: int | None = None


@dataclass
class SavedView:
    """A named state of an experiment's page: the runs table's query and the workspace's settings."""

    view_id: str
    experiment_id: str
    name: str
    state: dict[str, Any]
    created_by: str
    creation_time: int
    last_update_time: int


@dataclass
class Report:
    """A Markdown page with embedded live panels and tables, at one of its revisions."""

    report_id: str
    title: str
    body: str
    revision: int  # the revision shown
    latest_revision: int
    created_by: str
    creation_time: int
    last_update_time: int
    author: str  # of the revision shown
    revision_time: int
