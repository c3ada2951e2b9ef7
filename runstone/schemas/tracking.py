"""Wire models of experiments, runs, metrics and artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NotRequired

from pydantic import ConfigDict, Field, ModelWrapValidatorHandler, model_validator, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from runstone.codec import float_out, floats_out
from runstone.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    FileInfo,
    LoggedModel,
    LoggedModelMetric,
    MetricHistory,
    Report,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    SavedView,
)
from runstone.schemas.common import Model, NumberOut, Public, WireFloat, WireInt, build


class ExperimentCreate(Model):
    name: str
    tags: dict[str, str] = Field(default_factory=dict)


class ExperimentUpdate(Model):
    name: str


class TagValue(Model):
    value: str


class ExperimentSearch(Model):
    filter: str | None = None
    view_type: str | None = None
    max_results: int | None = None
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


def experiment_public(e: Experiment, run_count: int | None = None) -> dict[str, object]:
    out: dict[str, object] = {
        "experiment_id": e.experiment_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage,
        "creation_time": e.creation_time,
        "last_update_time": e.last_update_time,
        "tags": e.tags,
    }
    if run_count is not None:
        out["run_count"] = run_count
    return out


class RunCreate(Model):
    run_id: str | None = Field(
        default=None, description="An id made by the client (32 lowercase hex digits), e.g. for a run started offline."
    )
    experiment_id: str | None = None
    run_name: str | None = None
    start_time: WireInt | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    user_id: str | None = None
    parent_run_id: str | None = None


class RunHeartbeat(Model):
    run_ids: list[str] = Field(description="Runs whose client is alive (at most 100).")


class RunUpdate(Model):
    status: str | None = None
    end_time: WireInt | None = None
    run_name: str | None = None


class RunMove(Model):
    experiment_id: str


# A TypedDict rather than a model: a batch carries thousands of points, and building a model
# instance for each costs more than validating it.
@with_config(ConfigDict(extra="forbid"))
class MetricIn(TypedDict):
    key: str
    value: WireFloat
    timestamp: WireInt
    step: NotRequired[WireInt]  # 0 when absent


class KeyValue(Model):
    key: str
    value: str


class LogBatch(Model):
    metrics: list[MetricIn] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _plain_points_fast(cls, data: object, handler: ModelWrapValidatorHandler[LogBatch]) -> LogBatch:
        # Points as every client sends them (a string key, a float value, integer timestamp and
        # step, nothing else) are taken as they are: checking a thousand of them here costs a
        # fraction of validating each field. Anything else goes through full validation and
        # gets its precise error.
        if type(data) is not dict:
            return handler(data)
        metrics = data.get("metrics")
        if type(metrics) is not list or not _plain_points(metrics):
            return handler(data)
        batch = handler({k: v for k, v in data.items() if k != "metrics"})
        batch.__dict__["metrics"] = metrics
        return batch


def _plain_points(points: Sequence[object]) -> bool:
    for p in points:
        if (
            type(p) is not dict
            or type(p.get("key")) is not str
            or type(p.get("value")) is not float
            or type(p.get("timestamp")) is not int
        ):
            return False
        size = len(p)
        if size != 3 and (size != 4 or type(p.get("step")) is not int):
            return False
    return True


class DatasetIn(Model):
    name: str
    digest: str
    source_type: str = "local"
    source: str = ""
    schema_: str | None = Field(default=None, alias="schema")
    profile: str | None = None


class DatasetInputIn(Model):
    dataset: DatasetIn
    tags: dict[str, str] = Field(default_factory=dict)


class LogInputs(Model):
    datasets: list[DatasetInputIn]


class RunSearch(Model):
    experiment_ids: list[str] = Field(default_factory=list)
    experiment_names: list[str] = Field(default_factory=list)
    filter: str | None = None
    run_view_type: str | None = None
    max_results: int | None = None
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None
    params: list[str] | None = None
    metrics: list[str] | None = None
    tags: list[str] | None = None


class HistoryGridSearch(Model):
    """Many runs' downsampled histories of many metric keys in one read."""

    run_ids: list[str]
    keys: list[str]
    max_points: int = 1000
    start_step: int | None = None
    end_step: int | None = None


class SavedViewCreate(Model):
    name: str
    state: dict[str, Any] = Field(default_factory=dict)


class SavedViewUpdate(Model):
    name: str | None = None
    state: dict[str, Any] | None = None


class ReportCreate(Model):
    title: str
    body: str = ""


class ReportUpdate(Model):
    title: str | None = None
    body: str | None = None


def report_public(r: Report) -> dict[str, object]:
    return {
        "report_id": r.report_id,
        "title": r.title,
        "body": r.body,
        "revision": r.revision,
        "latest_revision": r.latest_revision,
        "created_by": r.created_by,
        "creation_time": r.creation_time,
        "last_update_time": r.last_update_time,
        "author": r.author,
        "revision_time": r.revision_time,
    }


def saved_view_public(v: SavedView) -> dict[str, object]:
    return {
        "view_id": v.view_id,
        "experiment_id": v.experiment_id,
        "name": v.name,
        "state": v.state,
        "created_by": v.created_by,
        "creation_time": v.creation_time,
        "last_update_time": v.last_update_time,
    }


def run_public(run: Run) -> dict[str, object]:
    info = run.info
    return {
        "info": {
            "run_id": info.run_id,
            "experiment_id": info.experiment_id,
            "run_name": info.run_name,
            "user_id": info.user_id,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "lifecycle_stage": info.lifecycle_stage,
            "artifact_uri": info.artifact_uri,
        },
        "data": {
            "metrics": {k: float_out(v) for k, v in run.data.metrics.items()},
            "params": run.data.params,
            "tags": run.data.tags,
        },
        "inputs": {
            "dataset_inputs": [
                {
                    "dataset": {
                        "name": d.dataset.name,
                        "digest": d.dataset.digest,
                        "source_type": d.dataset.source_type,
                        "source": d.dataset.source,
                        "schema": d.dataset.schema,
                        "profile": d.dataset.profile,
                    },
                    "tags": d.tags,
                }
                for d in run.inputs.dataset_inputs
            ]
        },
    }


def history_public(h: MetricHistory) -> dict[str, object]:
    return {
        "key": h.key,
        "steps": h.steps,
        "timestamps": h.timestamps,
        "values": floats_out(h.values),
        "downsampled": h.downsampled,
    }


def file_public(f: FileInfo) -> dict[str, object]:
    out: dict[str, object] = {"path": f.path, "is_dir": f.is_dir, "file_size": f.file_size}
    if f.sha256:
        out["sha256"] = f.sha256
    return out


class RunModelPublish(Model):
    """A model logged into a run, to record as a logged model of the run too."""

    path: str = Field(min_length=1, max_length=1000)


class LoggedModelSearch(Model):
    experiment_ids: list[str] = Field(min_length=1)
    filter: str | None = None
    max_results: int | None = None
    page_token: str | None = None


# ------------------------------------------------------------------ answers
class ExperimentPublic(Public):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = Field(default_factory=dict)
    run_count: int | None = None  # only with ?with_counts=true

    def to_entity(self) -> Experiment:
        return build(Experiment, self)


class ExperimentAnswer(Public):
    experiment: ExperimentPublic


class ExperimentPage(Public):
    experiments: list[ExperimentPublic]
    next_page_token: str | None = None


class RunInfoPublic(Public):
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str


class RunDataPublic(Public):
    metrics: dict[str, NumberOut] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class DatasetPublic(Public):
    name: str
    digest: str
    source_type: str
    source: str
    schema_: str | None = Field(default=None, alias="schema")
    profile: str | None = None


class DatasetInputPublic(Public):
    dataset: DatasetPublic
    tags: dict[str, str] = Field(default_factory=dict)


class RunInputsPublic(Public):
    dataset_inputs: list[DatasetInputPublic] = Field(default_factory=list)


class RunPublic(Public):
    info: RunInfoPublic
    data: RunDataPublic
    inputs: RunInputsPublic = Field(default_factory=RunInputsPublic)

    def to_entity(self) -> Run:
        return Run(
            build(RunInfo, self.info),
            build(RunData, self.data),
            RunInputs(
                [
                    DatasetInput(build(Dataset, d.dataset, schema=d.dataset.schema_), d.tags)
                    for d in self.inputs.dataset_inputs
                ]
            ),
        )


class RunAnswer(Public):
    run: RunPublic


class RunPage(Public):
    runs: list[RunPublic]
    next_page_token: str | None = None


class RunIdList(Public):
    run_ids: list[str]


class MetricPoint(Public):
    """One point of a metric."""

    key: str
    value: NumberOut
    timestamp: int
    step: int = 0


class MetricHistoryPublic(Public):
    """A metric's points column-wise, optionally downsampled."""

    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[NumberOut]
    downsampled: bool = False

    def to_entity(self) -> MetricHistory:
        return build(MetricHistory, self)


class HistoryGrid(Public):
    """Histories by metric key, then by run id."""

    histories: dict[str, dict[str, MetricHistoryPublic]]


class FilePublic(Public):
    path: str
    is_dir: bool
    file_size: int | None = None
    sha256: str | None = None  # only when known

    def to_entity(self) -> FileInfo:
        return build(FileInfo, self)


class FileAnswer(Public):
    file: FilePublic


class FileList(Public):
    files: list[FilePublic]


class DeletedCount(Public):
    deleted: int


class SavedViewPublic(Public):
    view_id: str
    experiment_id: str
    name: str
    state: dict[str, Any]
    created_by: str
    creation_time: int
    last_update_time: int


class SavedViewAnswer(Public):
    view: SavedViewPublic


class SavedViewList(Public):
    views: list[SavedViewPublic]


class LoggedModelMetricPublic(Public):
    key: str
    value: NumberOut
    timestamp: int
    step: int = 0
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LoggedModelPublic(Public):
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
    tags: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    metrics: list[LoggedModelMetricPublic] = Field(default_factory=list)
    registrations: list[tuple[str, str]] = Field(default_factory=list)

    def to_entity(self) -> LoggedModel:
        return build(LoggedModel, self, metrics=[build(LoggedModelMetric, m) for m in self.metrics])


class LoggedModelAnswer(Public):
    logged_model: LoggedModelPublic


class LoggedModelRef(Public):
    model_id: str
    name: str
    status: str


class LoggedModelRefAnswer(Public):
    logged_model: LoggedModelRef


class LoggedModelPage(Public):
    logged_models: list[LoggedModelPublic]
    next_page_token: str | None = None

    def to_entities(self) -> list[LoggedModel]:
        return [m.to_entity() for m in self.logged_models]


class ReportPublic(Public):
    """A report at one of its revisions."""

    report_id: str
    title: str
    body: str
    revision: int
    latest_revision: int
    created_by: str
    creation_time: int
    last_update_time: int
    author: str
    revision_time: int


class ReportAnswer(Public):
    report: ReportPublic


class ReportList(Public):
    reports: list[ReportPublic]


class ReportRevisions(Public):
    revisions: list[ReportPublic]


class RunningRuns(Public):
    """Which of the runs a heartbeat named are RUNNING."""

    running: list[str]


class TracePrune(Model):
    """Which traces a prune deletes: those that started at least ``older_than_ms`` ago or, without
    it, those older than their experiment's retention (``runstone.traces.retentionDays``)."""

    older_than_ms: int | None = Field(default=None, ge=1, le=2**63 - 1)
    dry_run: bool = False


class TracePruneAnswer(Public):
    """The number of traces deleted (with ``dry_run``, that would be), by experiment id."""

    deleted: dict[str, int]
    dry_run: bool
