"""Opens a metadata database and an artifact store and builds the services over them.

The server's ``create_app`` and the SDK's embedded backend both start here.
"""

from __future__ import annotations

from dataclasses import dataclass

from runstone.artifacts.base import ArtifactStore
from runstone.artifacts.schemes import open_store
from runstone.config import Settings
from runstone.registry.approvals import GovernedRegistry
from runstone.registry.deployments import DeploymentService
from runstone.registry.webhooks import WebhookService
from runstone.store import schema
from runstone.store.engine import Database
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.logged_models import LoggedModelService
from runstone.tracking.service import SYSTEM, Caller, TrackingService


@dataclass
class Backend:
    settings: Settings
    db: Database
    store: ArtifactStore

    def tracking(self, caller: Caller = SYSTEM) -> TrackingService:
        return TrackingService(self.db, self.store.root_uri, caller=caller)

    def artifacts(self, caller: Caller = SYSTEM) -> ArtifactService:
        return ArtifactService(self.tracking(caller), self.store)

    def logged_models(self, caller: Caller = SYSTEM) -> LoggedModelService:
        return LoggedModelService(self.tracking(caller), self.store)

    def registry(self, caller: Caller = SYSTEM) -> GovernedRegistry:
        return GovernedRegistry(self.tracking(caller), self.artifacts(caller))

    def deployments(self, caller: Caller = SYSTEM) -> DeploymentService:
        return DeploymentService(self.tracking(caller))

    def webhooks(self, caller: Caller = SYSTEM) -> WebhookService:
        return WebhookService(self.tracking(caller), allow_private=self.settings.webhook_allow_private)

    def close(self) -> None:
        self.db.dispose()


def open_backend(settings: Settings, *, prepare: bool = True) -> Backend:
    """Connect to the configured stores; create the schema of a new database.

    Raises SchemaOutOfDate when an existing database needs ``runstone db upgrade``.
    """
    db = Database(settings.database_uri)
    if prepare:
        schema.prepare(db)
    store = open_store(settings.artifact_root, s3_endpoint_url=settings.s3_endpoint_url)
    return Backend(settings, db, store)
