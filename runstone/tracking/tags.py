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
