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
