"""MLflow's REST messages (proto-JSON) as an import reads them, from a live MLflow server or
straight from its database (``store/mlflow_db.py``).

Keys MLflow leaves out when empty are optional. A server's answer is not checked against these
shapes: the importer reads optional keys with ``.get`` and refuses what it cannot use.
"""

from __future__ import annotations

from typing import Required, TypedDict


class KeyValue(TypedDict):
    key: str
    value: str


class Experiment(TypedDict, total=False):
    experiment_id: Required[str]
    name: Required[str]
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: list[KeyValue]


class Metric(TypedDict, total=False):
    key: Required[str]
    value: Required[float | str]  # NaN and the infinities may come as names
    timestamp: int
    step: int
    # A logged model's metrics only:
    run_id: str
    model_id: str
    dataset_name: str
    dataset_digest: str


class RunInfo(TypedDict, total=False):
    run_id: Required[str]
    run_name: str
    experiment_id: str
    user_id: str
    status: str
    start_time: int
    end_time: int
    artifact_uri: str
    lifecycle_stage: str


class RunData(TypedDict, total=False):
    metrics: list[Metric]
    params: list[KeyValue]
    tags: list[KeyValue]


class Dataset(TypedDict, total=False):
    name: Required[str]
    digest: Required[str]
    source_type: str
    source: str
    schema: str
    profile: str


class DatasetInput(TypedDict, total=False):
    dataset: Required[Dataset]
    tags: list[KeyValue]


class ModelInput(TypedDict):
    model_id: str


class ModelOutput(TypedDict, total=False):
    model_id: Required[str]
    step: int


class RunInputs(TypedDict, total=False):
    dataset_inputs: list[DatasetInput]
    model_inputs: list[ModelInput]


class RunOutputs(TypedDict, total=False):
    model_outputs: list[ModelOutput]


class Run(TypedDict, total=False):
    info: Required[RunInfo]
    data: RunData
    inputs: RunInputs
    outputs: RunOutputs


class LoggedModelInfo(TypedDict, total=False):
    model_id: Required[str]
    experiment_id: str
    name: str
    artifact_uri: str
    creation_timestamp_ms: int
    last_updated_timestamp_ms: int
    status: str
    tags: list[KeyValue]
    model_type: str
    source_run_id: str
    status_message: str


class LoggedModelData(TypedDict, total=False):
    params: list[KeyValue]
    metrics: list[Metric]


class LoggedModel(TypedDict, total=False):
    info: Required[LoggedModelInfo]
    data: LoggedModelData


class Alias(TypedDict):
    alias: str
    version: str


class RegisteredModel(TypedDict, total=False):
    name: Required[str]
    creation_timestamp: int
    last_updated_timestamp: int
    description: str
    user_id: str
    tags: list[KeyValue]
    aliases: list[Alias]


class ModelVersion(TypedDict, total=False):
    name: Required[str]
    version: Required[str]
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str
    current_stage: str
    description: str
    source: str
    run_id: str
    model_id: str  # MLflow 3: the logged model the version was made from
    status: str
    tags: list[KeyValue]
