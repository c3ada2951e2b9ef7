"""The composition root of the server: ``create_app(settings)``."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from runstone import ui
from runstone.backend import Backend, open_backend
from runstone.config import Settings
from runstone.governance.guessing import WrongPasswords
from runstone.monitoring.scheduler import MonitoringScheduler
from runstone.registry.webhooks import Dispatcher
from runstone.server import access, api_docs, drain, errors, mlflow_compat, routing
from runstone.server.auth import AuthGate
from runstone.server.middleware import RequestMiddleware, RequestStats
from runstone.server.origin import OriginGuard, parse_list
from runstone.server.routes import (
    access as access_routes,
)
from runstone.server.routes import (
    artifacts,
    deployments,
    experiments,
    logged_models,
    meta,
    otlp,
    registry,
    reports,
    run_models,
    runs,
    saved_views,
    traces,
)
from runstone.server.routes import monitoring as monitoring_routes
from runstone.tracking import heartbeat
from runstone.tracking.artifact_sync import Flusher
from runstone.tracking.traces import RetentionSweeper
from runstone.version import VERSION


def create_app(settings: Settings | None = None, *, backend: Backend | None = None) -> FastAPI:
    settings = settings or Settings()
    backend = backend or open_backend(settings)
    backend.defer_flush = True  # small uploads: see runstone.tracking.artifact_sync

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Before serving: flush (or write again) the small files an earlier process left pending.
        flusher = Flusher(backend.context, backend.store)
        flusher.run_once(restore=True)
        flusher.start()
        # Webhook deliveries go out from a background thread of every server process; a
        # delivery is claimed before it is sent, so replicas never send one twice.
        dispatcher = Dispatcher(
            backend.db,
            allow_private=settings.webhook_allow_private,
            interval=settings.webhook_interval,
            clock=backend.context().clock,
        )
        dispatcher.start()
        scheduler = MonitoringScheduler.for_server(backend, settings)
        scheduler.start()
        sweeper = heartbeat.Sweeper(backend.context, settings.run_heartbeat_timeout_seconds)
        sweeper.start()
        retention = RetentionSweeper(backend.context, settings.trace_retention_interval)
        retention.start()
        undo_drain = drain.install(app, settings.drain_seconds)
        try:
            yield
        finally:
            undo_drain()
            retention.stop()
            sweeper.stop()
            scheduler.stop()
            dispatcher.stop()
            flusher.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="runstone",
        version=VERSION,
        summary="Experiment tracking, model registry, serving and monitoring.",
        docs_url=None,  # served by api_docs from local files, not from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        # Every route's declared permission (runstone.server.access), checked when auth is on.
        dependencies=[Depends(access.enforce)],
        # FastAPI's own OpenTelemetry spans and metrics, off: the server has its Prometheus
        # metrics (/metrics) and request log, and the check of whether any telemetry provider is
        # configured otherwise runs on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.backend = backend
    app.state.access = access.Gate(backend, settings.auth_token_cache_seconds)
    app.state.settings = settings
    app.state.stats = RequestStats()
    app.state.draining = False  # set on SIGTERM: /health/ready then fails while requests drain
    errors.install(app)
    for module in (
        meta,
        experiments,
        saved_views,
        reports,
        runs,
        artifacts,
        logged_models,
        registry,
        deployments,
        traces,
    ):
        app.include_router(module.router)
    app.include_router(monitoring_routes.router)
    app.include_router(otlp.router)
    app.include_router(run_models.router)
    app.include_router(run_models.search_router)
    app.include_router(access_routes.router)
    app.include_router(api_docs.router)
    mlflow_compat.mount(app)
    ui.mount(app)
    routing.install(app)
    if settings.auth:
        # Innermost of the three: a request from a wrong host or origin is refused before its
        # credential costs a database read.
        app.state.wrong_passwords = WrongPasswords()  # counted for the UI's sign-in form and Basic auth alike
        app.add_middleware(
            AuthGate,
            backend=backend,
            token_cache_seconds=settings.auth_token_cache_seconds,
            wrong_passwords=app.state.wrong_passwords,
        )
    uploads = re.compile(rf"^/api/v1/runs/[^/]+/artifacts/|{mlflow_compat.STREAMED_UPLOADS}")
    app.add_middleware(
        OriginGuard,
        allowed_hosts=parse_list(settings.allowed_hosts),
        allowed_origins=parse_list(settings.allowed_origins),
        raw_bodies=re.compile(f"{uploads.pattern}|{monitoring_routes.RAW_BODIES}"),
    )
    app.add_middleware(
        RequestMiddleware,
        max_body=settings.max_request_bytes,
        streamed_uploads=uploads,
        stats=app.state.stats,
        log_requests=settings.log_requests,
    )
    return app


def create_app_from_environment() -> FastAPI:
    """Factory for server worker processes: settings come from RUNSTONE_* variables."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return create_app(Settings())
