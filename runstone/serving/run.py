"""Running a scoring server under uvicorn: one process, or several workers sharing a port.

``ServeSpec`` is everything a worker needs, as JSON: with ``workers > 1`` uvicorn starts each
worker in a fresh interpreter, which reads the spec from its settings (RUNSTONE_SERVE_SPEC) and
builds its own app, loading its own copy of the model(s).
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from runstone.config import Settings
from runstone.errors import InvalidInput
from runstone.http_protocol import GuardedProtocol
from runstone.prometheus import quiet_created_series, shared_folder
from runstone.serving.deployment import DeploymentRecords
from runstone.serving.traffic import TrafficPolicy

log = logging.getLogger("runstone.serving")


class ScoringProtocol(GuardedProtocol):
    """runstone's HTTP protocol, with MLflow's error shape for requests it refuses."""

    bad_request_body = b'{"error_code": "BAD_REQUEST", "message": "%s"}'


PROTOCOL = f"{__name__}:ScoringProtocol"


@dataclass
class ServeSpec:
    traffic: dict[str, Any]
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    follow: bool = False
    follow_interval: float = 5.0
    batch_wait_ms: float | None = None
    batch_max_rows: int = 256
    max_rows: int = 1_000_000
    max_columns: int = 10_000
    log_predictions: str | None = None
    log_sample: float = 1.0
    log_capacity: int = 10_000
    log_max_bytes: int = 64 * 1024 * 1024
    log_max_seconds: float = 300.0
    tracking_uri: str | None = None
    deployment_name: str | None = None  # records renewed by the workers when --follow switches
    token_sha256: str | None = None  # requests need the bearer token of this digest (--token-file)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSpec:
        return cls(**json.loads(text))


def _client(spec: ServeSpec) -> Any:
    if not spec.tracking_uri:
        return None  # resolved on first use by the fluent client (RUNSTONE_TRACKING_URI or the embedded store)
    from runstone.models.runs import client_for

    return client_for(spec.tracking_uri)


def build_app(spec: ServeSpec, *, on_exit: Callable[[], None] | None = None) -> Any:
    from runstone.serving.app import ServingOptions, create_app
    from runstone.serving.payloads import Limits

    client = _client(spec)
    logger = None
    if spec.log_predictions:
        from runstone.serving.predlog import open_logger

        logger = open_logger(
            spec.log_predictions,
            sample=spec.log_sample,
            capacity=spec.log_capacity,
            client=client,
            max_bytes=spec.log_max_bytes,
            max_seconds=spec.log_max_seconds,
        )
    options = ServingOptions(
        traffic=TrafficPolicy.from_dict(spec.traffic),
        follow=spec.follow,
        follow_interval=spec.follow_interval,
        batch_wait_ms=spec.batch_wait_ms,
        batch_max_rows=spec.batch_max_rows,
        limits=Limits(max_rows=spec.max_rows, max_columns=spec.max_columns),
        deployment=(
            DeploymentRecords.for_server(spec.deployment_name, spec.host, spec.port) if spec.deployment_name else None
        ),
        token_sha256=spec.token_sha256,
    )
    hooks = [lambda server: on_exit()] if on_exit is not None else []
    return create_app(options, client=client, logger=logger, on_shutdown=hooks)


def tune_gc() -> None:
    """Collect cycles rarely: a request allocates many short-lived objects that reference
    counting frees; what was built at startup (the model) lives as long as the process."""
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def worker_app() -> Any:
    """Factory of worker processes: the spec comes from RUNSTONE_SERVE_SPEC."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    text = Settings().serve_spec
    if not text:
        raise InvalidInput("RUNSTONE_SERVE_SPEC is not set; start scoring servers with `runstone models serve`.")
    quiet_created_series()
    app = build_app(ServeSpec.from_json(text))
    tune_gc()
    return app


def serve(spec: ServeSpec, *, on_exit: Callable[[], None] | None = None) -> None:
    """Serve until interrupted (SIGINT / SIGTERM); ``on_exit`` runs once the server has stopped
    taking requests (in the serving process: uvicorn re-raises the signal that stopped it)."""
    import os

    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    quiet_created_series()
    if spec.workers > 1:
        os.environ["RUNSTONE_SERVE_SPEC"] = spec.to_json()
        try:
            with shared_folder():  # any worker may answer /metrics with every worker's counts
                uvicorn.run(
                    f"{__name__}:worker_app",
                    factory=True,
                    host=spec.host,
                    port=spec.port,
                    workers=spec.workers,
                    http=PROTOCOL,
                    ws="none",  # no WebSocket routes
                    access_log=False,
                    log_level="info",
                )
        finally:
            if on_exit is not None:
                on_exit()
        return
    app = build_app(spec, on_exit=on_exit)
    tune_gc()
    uvicorn.run(app, host=spec.host, port=spec.port, http=PROTOCOL, ws="none", access_log=False, log_level="info")
