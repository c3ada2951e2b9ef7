"""Every size limit of runstone, defined once: the services check them, the SDK sizes its
batches by them, the MLflow layer applies MLflow's own, and the settings default to them."""

from __future__ import annotations

# Names and values (characters).
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 5000
MAX_RUN_NAME_LENGTH = 250

# One log-batch command of the tracking service.
MAX_BATCH_METRICS = 10_000
MAX_BATCH_PARAMS = 1_000
MAX_BATCH_TAGS = 1_000

# One log-batch request of MLflow's protocol (what MLflow's server accepts and its client sends).
MLFLOW_MAX_METRICS_PER_BATCH = 1000
MLFLOW_MAX_PARAMS_TAGS_PER_BATCH = 100
MLFLOW_MAX_ENTITIES_PER_BATCH = 1000
MLFLOW_MAX_RUNS_PER_BULK_HISTORY = 100
MLFLOW_MAX_POINTS_PER_RUN = 2500

# What the SDK sends in one request to the native API: well within one service batch, so each
# request stays small (MLflow's per-kind sizes).
SDK_MAX_METRICS_PER_REQUEST = MLFLOW_MAX_METRICS_PER_BATCH
SDK_MAX_PARAMS_PER_REQUEST = MLFLOW_MAX_PARAMS_TAGS_PER_BATCH
SDK_MAX_TAGS_PER_REQUEST = MLFLOW_MAX_PARAMS_TAGS_PER_BATCH

# Searches and reads.
MAX_RESULTS = 50_000
MAX_COMPARED_RUNS = 100

# Artifacts (bytes): the defaults of the max_artifact_bytes and max_run_artifact_bytes settings.
MAX_ARTIFACT_BYTES = 10 * 1024**3
MAX_RUN_ARTIFACT_BYTES = 100 * 1024**3
