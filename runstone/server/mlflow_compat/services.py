"""Request-scoped services of the MLflow routes, bound to the caller like the native routes'."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from runstone import deps
from runstone.registry.approvals import GovernedRegistry
from runstone.server.mlflow_compat.protocol import Message, read_message
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.logged_models import LoggedModelService
from runstone.tracking.service import TrackingService

Msg = Annotated[Message, Depends(read_message)]
Tracking = Annotated[TrackingService, Depends(deps.tracking)]
Artifacts = Annotated[ArtifactService, Depends(deps.artifacts)]
LoggedModels = Annotated[LoggedModelService, Depends(deps.logged_models)]
Registry = Annotated[GovernedRegistry, Depends(deps.registry)]

# Enum numbers of MLflow's protos, which proto-JSON clients may send instead of names.
VIEW_TYPES = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}
RUN_STATUSES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
LOGGED_MODEL_STATUSES = {
    0: "LOGGED_MODEL_STATUS_UNSPECIFIED",
    1: "LOGGED_MODEL_PENDING",
    2: "LOGGED_MODEL_READY",
    3: "LOGGED_MODEL_UPLOAD_FAILED",
}
