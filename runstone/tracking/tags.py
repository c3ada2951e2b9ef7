"""Names of the tags runstone sets itself."""

from __future__ import annotations

PREFIX = "runstone."
PARENT_RUN_ID = "runstone.parentRunId"
USER = "runstone.user"
SOURCE_NAME = "runstone.source.name"
SOURCE_TYPE = "runstone.source.type"
GIT_COMMIT = "runstone.source.git.commit"
GIT_BRANCH = "runstone.source.git.branch"
GIT_REPO_URL = "runstone.source.git.repoURL"
GIT_DIRTY = "runstone.source.git.dirty"
HOST = "runstone.host"
PYTHON_VERSION = "runstone.python.version"
NOTE = "runstone.note.content"
DATASET_CONTEXT = "runstone.data.context"
GIT_DIFF_ARTIFACT = "git/diff.patch"

# MLflow's system tags and the runstone tags that hold them, so that what the stock mlflow
# client writes (through the MLflow-compatible API, or imported) is what runstone's SDK, CLI and
# UI read, and the reverse. MLflow's run-name tag is the run's name, a column.
MLFLOW_RUN_NAME = "mlflow.runName"
FROM_MLFLOW = {
    "mlflow.parentRunId": PARENT_RUN_ID,
    "mlflow.user": USER,
    "mlflow.source.name": SOURCE_NAME,
    "mlflow.source.type": SOURCE_TYPE,
    "mlflow.source.git.commit": GIT_COMMIT,
    "mlflow.source.git.branch": GIT_BRANCH,
    "mlflow.source.git.repoURL": GIT_REPO_URL,
    "mlflow.note.content": NOTE,
    "mlflow.data.context": DATASET_CONTEXT,
}

# Runs started by `runstone run` (runstone.projects): what ran, where, and how it ended.
PROJECT_NAME = "runstone.project.name"
PROJECT_URI = "runstone.project.uri"
PROJECT_ENTRY_POINT = "runstone.project.entryPoint"
PROJECT_ENV_MANAGER = "runstone.project.envManager"
PROJECT_EXIT_CODE = "runstone.project.exitCode"
PROJECT_DURATION = "runstone.project.durationSeconds"
PROJECT_SEED = "runstone.project.seed"
ENV_LOCK_HASH = "runstone.env.lockHash"
MACHINE_CPU = "runstone.machine.cpu"
MACHINE_CORES = "runstone.machine.cores"
MACHINE_MEMORY = "runstone.machine.memoryBytes"
MACHINE_OS = "runstone.machine.os"
PROJECT_SPEC_ARTIFACT = "project/run.json"
ENV_LOCK_ARTIFACT = "environment/requirements.lock"
ENV_INFO_ARTIFACT = "environment/environment.json"
STDOUT_ARTIFACT = "logs/stdout.txt"
STDERR_ARTIFACT = "logs/stderr.txt"

# `runstone reproduce`: the verdict, on the reproduction and on the run it reproduced.
REPRODUCTION_OF = "runstone.reproduction.of"
REPRODUCTION_VERDICT = "runstone.reproduction.verdict"
REPRODUCTION_LATEST = "runstone.reproduction.latestRun"
VERDICT_ARTIFACT = "reproduction/verdict.json"
VERDICTS_FOLDER = "reproductions"

# `runstone sweep`: the parent run of a sweep and its trials (child runs).
SWEEP_ROLE = "runstone.sweep.role"  # "sweep" on the parent, "trial" on each child
SWEEP_METRIC = "runstone.sweep.metric"
SWEEP_GOAL = "runstone.sweep.goal"
SWEEP_PARAMS = "runstone.sweep.params"  # the swept parameters, comma-separated
SWEEP_BEST_RUN = "runstone.sweep.bestRunId"
SWEEP_TRIAL = "runstone.sweep.trial"  # the trial's number
SWEEP_STATE = "runstone.sweep.state"  # a trial's outcome: complete, pruned, failed
SWEEP_STOP = "runstone.sweep.stop"  # set by the sweep to ask a running trial to stop
SWEEP_SPEC_ARTIFACT = "sweep/spec.json"

# Media, stored as MLflow stores them (runstone.sdk.media): images logged per step under this
# folder, and the tables a run logged, listed in this tag as [{"path": ..., "type": "table"}].
IMAGES_FOLDER = "images"
LOGGED_ARTIFACTS = "mlflow.loggedArtifacts"
