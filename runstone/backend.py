"""Opens a metadata database and an artifact store and builds the services over them.

The server's ``create_app`` and the SDK's embedded backend both start here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runstone.artifacts.base import ArtifactStore
from runstone.artifacts.schemes import open_store
from runstone.config import Settings
from runstone.governance.context import SYSTEM, Context, Owed, Principal, now_ms
from runstone.registry.approvals import GovernedRegistry
from runstone.registry.deployments import DeploymentService
from runstone.registry.webhooks import WebhookService
from runstone.store import schema
from runstone.store.engine import Database
from runstone.tracking.artifacts import ArtifactLimits, ArtifactService
from runstone.tracking.browse import BrowseService
from runstone.tracking.logged_models import LoggedModelService
from runstone.tracking.reports import ReportService
from runstone.tracking.saved_views import SavedViewService
from runstone.tracking.service import TrackingService
from runstone.tracking.traces import TraceService

if TYPE_CHECKING:
    from runstone.monitoring.service import MonitoringService


@dataclass
class Backend:
    settings: Settings
    db: Database
    store: ArtifactStore
    # Set by a server, which flushes small artifact files in the background (tracking.artifact_sync).
    defer_flush: bool = False

    @property
    def limits(self) -> ArtifactLimits:
        return ArtifactLimits(self.settings.max_artifact_bytes, self.settings.max_run_artifact_bytes)

    def context(
        self, principal: Principal = SYSTEM, *, clock: Callable[[], int] = now_ms, owed: Owed | None = None
    ) -> Context:
        """The unit of work of one request or SDK call, acting as ``principal``; ``owed``: the
        request's permission checks that its first transaction settles."""
        return Context(self.db, principal, clock, owed)

    # Each factory binds a service to one Context (the system's when none is given).
    def tracking(self, ctx: Context | None = None) -> TrackingService:
        return TrackingService(ctx or self.context(), self.store.root_uri)

    def artifacts(self, ctx: Context | None = None) -> ArtifactService:
        return ArtifactService(ctx or self.context(), self.store, self.limits, defer_flush=self.defer_flush)

    def logged_models(self, ctx: Context | None = None) -> LoggedModelService:
        return LoggedModelService(ctx or self.context(), self.store, self.limits)

    def browse(self, ctx: Context | None = None) -> BrowseService:
        return BrowseService(ctx or self.context(), self.store.root_uri)

    def reports(self, ctx: Context | None = None) -> ReportService:
        return ReportService(ctx or self.context())

    def saved_views(self, ctx: Context | None = None) -> SavedViewService:
        return SavedViewService(ctx or self.context())

    def registry(self, ctx: Context | None = None) -> GovernedRegistry:
        ctx = ctx or self.context()
        return GovernedRegistry(ctx, self.tracking(ctx), self.artifacts(ctx))

    def deployments(self, ctx: Context | None = None) -> DeploymentService:
        return DeploymentService(ctx or self.context())

    def webhooks(self, ctx: Context | None = None) -> WebhookService:
        return WebhookService(ctx or self.context(), allow_private=self.settings.webhook_allow_private)

    def monitoring(self, ctx: Context | None = None) -> MonitoringService:
        from runstone.monitoring.service import MonitoringService

        ctx = ctx or self.context()
        return MonitoringService(ctx, self.tracking(ctx), self.store)

    def traces(self, ctx: Context | None = None) -> TraceService:
        return TraceService(ctx or self.context())

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
