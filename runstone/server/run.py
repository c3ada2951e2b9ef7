"""Running the server under uvicorn, with runstone's HTTP protocol (runstone.http_protocol):
TCP_NODELAY on every connection, and limits on slow or oversized request headers and slow bodies.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import TYPE_CHECKING

import uvicorn

from runstone.config import Settings
from runstone.http_protocol import GuardedProtocol
from runstone.prometheus import quiet_created_series, shared_folder

if TYPE_CHECKING:
    from fastapi import FastAPI

    from runstone.backend import Backend

_PROTOCOL = f"{GuardedProtocol.__module__}:GuardedProtocol"


def export(settings: Settings) -> None:
    """Hand the settings to worker processes through the environment they inherit."""
    for name, value in settings.model_dump().items():
        if value is not None:
            os.environ[f"RUNSTONE_{name.upper()}"] = str(value)


def tune_gc() -> None:
    """Run the cyclic garbage collector less often in a server process.

    A log-batch request allocates thousands of short-lived containers (validated points, rows,
    entities) that reference counting frees on its own; at the default threshold of 700 the
    collector still runs several times per request and takes about a fifth of its CPU time.
    What was built at startup (routes, schemas, table metadata) lives as long as the process,
    so it is frozen out of collections altogether.
    """
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    gc.enable()


def lean_logging() -> None:
    """Log records without what no line of the server prints: the caller's file and line, the
    thread and the process (the logging HOWTO's optimizations). The request log writes one record
    per request; finding its caller alone walks the stack each time."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def worker_app() -> FastAPI:
    """Factory for server worker processes: settings come from RUNSTONE_* variables."""
    gc.disable()  # until the app is built, as in the server command
    from runstone.server.app import create_app_from_environment

    quiet_created_series()
    lean_logging()
    app = create_app_from_environment()
    tune_gc()
    return app


def serve(settings: Settings, backend: Backend | None = None) -> None:
    """Serve until interrupted; a single worker may reuse an already opened ``backend``."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    quiet_created_series()
    lean_logging()
    if settings.workers > 1:
        export(settings)
        with shared_folder():  # any worker may answer /metrics with every worker's counts
            uvicorn.run(
                f"{__name__}:worker_app",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=settings.workers,
                http=_PROTOCOL,
                ws="none",
                access_log=False,
                log_level="info",
                server_header=False,
            )
        return
    from runstone.server.app import create_app

    app = create_app(settings, backend=backend)
    tune_gc()
    # No WebSocket routes: "none" also spares importing a WebSocket library at start. No "server"
    # header: it tells a prober which software answers, and each client parses it on every answer.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        http=_PROTOCOL,
        ws="none",
        access_log=False,
        log_level="info",
        server_header=False,
    )
