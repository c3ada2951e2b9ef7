"""The scoring server: an ASGI app (Starlette) built from model URIs and a traffic policy.

    POST /invocations   MLflow's payloads in, {"predictions": ...} out, with the answering
                        model's name and version in X-Runstone-Model-Name / -Version headers
    GET  /ping, /health 200 once the model is loaded
    GET  /version       runstone's version
    GET  /metadata      the live model(s): URI, resolved version, run id, signature
    GET  /metrics       Prometheus text
    GET  /openapi.json  generated from the signature

A request is parsed and checked against the answering model's signature before the model sees
it (400 naming the column), then predicted: on the event loop for small inputs (a hop to a
thread costs more than the model), in a thread for large ones, or combined with concurrent
requests when micro-batching is on. A model that raises answers 500 with a request id that is
in the log, and the server goes on serving.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runstone.errors import InvalidInput, PayloadTooLarge
from runstone.models.enforce import enforce_inputs, enforce_params
from runstone.prometheus import CONTENT_TYPE
from runstone.serving import payloads
from runstone.serving.batching import MicroBatcher
from runstone.serving.deployment import DeploymentRecords, description
from runstone.serving.fastpath import quiet_feature_names
from runstone.serving.live import Follower, Served, Slot, load
from runstone.serving.metrics import Metrics
from runstone.serving.predlog import Entry, PredictionLogger
from runstone.serving.traffic import Splitter, TrafficPolicy
from runstone.version import VERSION

log = logging.getLogger("runstone.serving")
_REQUEST_ID = re.compile(r"^[\w\-.]{1,64}$")
JSON = "application/json"


@dataclass
class ServingOptions:
    traffic: TrafficPolicy
    follow: bool = False
    follow_interval: float = 5.0
    batch_wait_ms: float | None = None  # None: micro-batching off; 0: what arrives together
    batch_max_rows: int = 256
    threaded_rows: int = 2048  # requests with more rows are predicted in a worker thread
    shadow_capacity: int = 1000
    max_body_bytes: int = 256 * 1024 * 1024  # larger requests are answered 413
    limits: payloads.Limits = field(default_factory=payloads.Limits)  # rows and columns per request
    deployment: DeploymentRecords | None = None  # records renewed when --follow switches a route
    token_sha256: str | None = None  # set: requests need this bearer token (token.py)


class ShadowRunner:
    """Predicts copies of requests with the shadow model in a background thread; a full queue
    drops the copy (counted) rather than slow anything down."""

    def __init__(self, slot: Slot, metrics: Metrics, logger: PredictionLogger | None, capacity: int) -> None:
        self.slot = slot
        self.metrics = metrics
        self.logger = logger
        self._queue: queue.Queue[tuple[Any, Any, str, int] | None] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._run, name="runstone-shadow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, data: object, params: object, request_id: str) -> None:
        try:
            self._queue.put_nowait((data, params, request_id, int(time.time() * 1000)))
        except queue.Full:
            served = self.slot.current
            self.metrics.shadow_outcome(Metrics.key(served.name, served.version), "dropped")

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._predict(*item)
            finally:
                self._queue.task_done()

    def _predict(self, data: Any, params: Any, request_id: str, timestamp: int) -> None:
        served = self.slot.current
        key = Metrics.key(served.name, served.version)
        started = time.perf_counter()
        outputs, error, status = None, None, 200
        try:
            checked = enforce_inputs(data, served.input_schema)
            outputs = served.model.predict_checked(
                checked, enforce_params(params, served.model.metadata.get_params_schema())
            )
            self.metrics.shadow_outcome(key, "ok")
        except Exception as exc:
            error, status = f"{type(exc).__name__}: {exc}", 400 if isinstance(exc, InvalidInput) else 500
            self.metrics.shadow_outcome(key, "error")
            log.warning("shadow %s version %s failed on request %s: %s", served.name, served.version, request_id, error)
        latency = (time.perf_counter() - started) * 1000
        log.info(
            "shadow %s version %s answered request %s in %.2f ms", served.name, served.version, request_id, latency
        )
        if self.logger is not None:
            self.logger.submit(
                Entry(
                    request_id,
                    timestamp,
                    served.uri,
                    served.name,
                    served.version,
                    "shadow",
                    status,
                    latency,
                    data,
                    params,
                    outputs,
                    error,
                )
            )

    def flush(self) -> None:
        self._queue.join()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)


class ScoringServer:
    """The models, policy and side channels (metrics, prediction log, shadow) of one process."""

    def __init__(
        self,
        options: ServingOptions,
        *,
        client: object = None,
        logger: PredictionLogger | None = None,
        loader: Callable[[str, Any], Served] = load,
    ) -> None:
        self.options = options
        quiet_feature_names()
        self.metrics = Metrics()
        self.logger = logger
        if logger is not None:
            logger.on_record = self.metrics.log_record
        policy = options.traffic
        roles = ["primary", "challenger"]
        self.routes = [
            Slot(roles[i], route.model, loader(route.model, client), follow=options.follow)
            for i, route in enumerate(policy.routes)
        ]
        self.shadow_slot = (
            Slot("shadow", policy.shadow.model, loader(policy.shadow.model, client), follow=options.follow)
            if policy.shadow is not None
            else None
        )
        self.splitter = Splitter(
            [r.weight for r in policy.routes], policy.shadow.fraction if policy.shadow else 0.0, policy.seed
        )
        for slot in self.slots:
            self.prepare(slot.current)
        self.follower = Follower(self.slots, client, interval=options.follow_interval, prepare=self.prepare)
        if options.deployment is not None:
            for slot, route in zip(self.routes, policy.routes, strict=True):
                slot.on_swap.append(self._renew_record(options.deployment, slot.role, route.weight))
        self.shadow = (
            ShadowRunner(self.shadow_slot, self.metrics, logger, options.shadow_capacity) if self.shadow_slot else None
        )
        self.metrics.show_live(self._live())
        for slot in self.slots:
            slot.on_swap.append(lambda old, new: self.metrics.show_live(self._live()))
        self._openapi: tuple[Served, bytes] | None = None

    @property
    def slots(self) -> list[Slot]:
        return [*self.routes, *([self.shadow_slot] if self.shadow_slot else [])]

    def _live(self) -> list[tuple[str, str, str, str]]:
        return [(s.role, s.current.name, s.current.version, s.uri) for s in self.slots]

    def _renew_record(self, records: DeploymentRecords, role: str, weight: float) -> Callable[[Served, Served], None]:
        def renew(old: Served, new: Served) -> None:
            records.switched(
                self.follower.registry(), role, len(self.routes), new.name, new.version, description(new.uri, weight)
            )

        return renew

    def prepare(self, served: Served) -> None:
        """Attach a micro-batcher to a model about to go live (when batching is on)."""
        if self.options.batch_wait_ms is None:
            return
        key = Metrics.key(served.name, served.version)
        defaults = enforce_params(None, served.model.metadata.get_params_schema())
        served.batcher = MicroBatcher(
            lambda frame: served.model.predict_checked(frame, defaults),
            predict_array=served.fast,
            wait=self.options.batch_wait_ms / 1000.0,
            max_rows=self.options.batch_max_rows,
            on_call=lambda rows: self.metrics.model_call(key),
        )

    def start(self) -> None:
        if self.logger is not None:
            self.logger.start()
        if self.shadow is not None:
            self.shadow.start()
        if self.options.follow:
            self.follower.start()

    def stop(self) -> None:
        self.metrics.stopped()
        self.follower.stop()
        if self.shadow is not None:
            self.shadow.stop()
        if self.logger is not None:
            self.logger.close()
        for slot in self.slots:
            slot.close()

    # ------------------------------------------------------------------ requests
    async def invocations(self, request: Request) -> Response:
        started = time.perf_counter()
        given = request.headers.get("x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        try:
            mime = payloads.media_type(request.headers.get("content-type"))
        except payloads.UnsupportedMediaType as exc:
            return Response(exc.message, 415, {"x-request-id": request_id}, media_type="text/plain")
        limit = self.options.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return self._too_large(request_id, limit)
        body = await request.body() if declared is not None else await self._read_capped(request, limit)
        if body is None or len(body) > limit:
            return self._too_large(request_id, limit)
        route = self.splitter.choose()
        served = self.routes[route].current
        key = Metrics.key(served.name, served.version)
        headers = {
            "x-request-id": request_id,
            "x-runstone-model-name": served.name,
            "x-runstone-model-version": served.version,
        }
        try:
            parsed = payloads.parse(body, mime, served.input_schema, self.options.limits)
            # A block goes to the batcher as it is; otherwise a DataFrame is built (once) here.
            data = None if parsed.block is not None else parsed.data
            if not parsed.checked:
                data = enforce_inputs(data, served.input_schema)
            params = enforce_params(parsed.params, served.model.metadata.get_params_schema())
        except InvalidInput as exc:
            return self._failed(
                served, key, exc.status, exc, request_id, headers, started, role=self.routes[route].role
            )
        except Exception as exc:
            # Reading a client's body failed in a way no check above foresaw: still bad input,
            # answered 400 without echoing internals; the traceback is in the log.
            log.warning("request %s: the input could not be read", request_id, exc_info=True)
            unreadable = payloads.BadRequest(
                f"The request body could not be read as input of this model ({type(exc).__name__}); "
                f"GET /openapi.json lists the accepted forms. The server's log has details under request id "
                f"{request_id}."
            )
            return self._failed(
                served, key, 400, unreadable, request_id, headers, started, role=self.routes[route].role
            )
        try:
            predictions = await self._predict(served, data, params, parsed)
            content = payloads.dumps({"predictions": payloads.jsonable(predictions)})
        except InvalidInput as exc:
            return self._failed(
                served, key, 400, exc, request_id, headers, started, parsed=parsed, role=self.routes[route].role
            )
        except Exception as exc:
            log.exception("request %s: model %s version %s failed: %s", request_id, served.name, served.version, exc)
            return self._failed(
                served, key, 500, exc, request_id, headers, started, parsed=parsed, role=self.routes[route].role
            )
        seconds = time.perf_counter() - started
        self.metrics.request(key, 200, seconds, parsed.rows)
        if self.logger is not None and self.logger.sampled():
            self.logger.submit(
                Entry(
                    request_id,
                    int(time.time() * 1000),
                    served.uri,
                    served.name,
                    served.version,
                    self.routes[route].role,
                    200,
                    seconds * 1000,
                    parsed.block if data is None else data,
                    parsed.params,
                    predictions,
                )
            )
        if self.shadow is not None and self.splitter.copy_to_shadow():
            self.shadow.submit(parsed.data, parsed.params, request_id)
        return Response(content, 200, headers, media_type=JSON)

    @staticmethod
    async def _read_capped(request: Request, limit: int) -> bytes | None:
        """A body sent without Content-Length (chunked), or None once it passes ``limit``."""
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, request_id: str, limit: int) -> Response:
        body = {
            "error_code": "RESOURCE_LIMIT_EXCEEDED",
            "message": f"The request body is larger than the scoring server accepts ({limit} bytes); "
            "send fewer rows per request, or score files with `runstone models predict`.",
            "request_id": request_id,
        }
        return Response(payloads.dumps(body), 413, {"x-request-id": request_id}, media_type=JSON)

    async def _predict(self, served: Served, data: Any, params: Any, parsed: payloads.Parsed) -> Any:
        batcher = served.batcher
        if batcher is not None and parsed.params is None and parsed.rows < batcher.max_rows:
            if parsed.block is not None:
                return await batcher.submit(parsed.block)
            if hasattr(data, "columns"):
                return await batcher.submit(data)
        self.metrics.model_call(Metrics.key(served.name, served.version))
        function: Callable[..., Any]
        args: tuple[Any, ...]
        if served.fast is not None:
            # Checked columns in the signature's order: the array is what the model would build.
            block = parsed.block
            function, args = served.fast, (block.array if block is not None else data.to_numpy(),)
        else:
            function, args = served.model.predict_checked, (parsed.data if data is None else data, params)
        if parsed.rows > self.options.threaded_rows:
            from starlette.concurrency import run_in_threadpool

            return await run_in_threadpool(function, *args)
        return function(*args)

    def _failed(
        self,
        served: Served,
        key: Any,
        status: int,
        exc: Exception,
        request_id: str,
        headers: dict[str, str],
        started: float,
        *,
        parsed: payloads.Parsed | None = None,
        role: str = "primary",
    ) -> Response:
        seconds = time.perf_counter() - started
        self.metrics.request(key, status, seconds, 0)
        self.metrics.error(key, "input" if status < 500 else "model")
        if status < 500:
            assert isinstance(exc, InvalidInput)
            code = (
                "RESOURCE_LIMIT_EXCEEDED"
                if isinstance(exc, PayloadTooLarge)
                else "BAD_REQUEST"
                if isinstance(exc, payloads.BadRequest)
                else "INVALID_PARAMETER_VALUE"
            )
            body: dict[str, Any] = {"error_code": code, "message": exc.message, "request_id": request_id}
            if exc.details:
                body["details"] = exc.details
            log.info("request %s: %d %s", request_id, status, exc.message)
        else:
            body = {
                "error_code": "INTERNAL_ERROR",
                "message": f"The model raised {type(exc).__name__} while predicting; "
                f"the server's log has the details under request id {request_id}.",
                "request_id": request_id,
            }
        if self.logger is not None and parsed is not None and self.logger.sampled():
            self.logger.submit(
                Entry(
                    request_id,
                    int(time.time() * 1000),
                    served.uri,
                    served.name,
                    served.version,
                    role,
                    status,
                    seconds * 1000,
                    parsed.data,
                    parsed.params,
                    None,
                    f"{type(exc).__name__}: {exc}",
                )
            )
        return Response(payloads.dumps(body), status, headers, media_type=JSON)

    # --------------------------------------------------------------- the rest
    async def health(self, request: Request) -> Response:
        return Response("\n", 200, media_type=JSON)

    async def version(self, request: Request) -> Response:
        return Response(VERSION, 200, media_type="text/plain")

    def describe(self) -> dict[str, object]:
        primary = self.routes[0].current
        weights = [r.weight for r in self.options.traffic.routes]
        total = sum(weights)
        return {
            **primary.describe(),
            "follow": self.options.follow,
            "routes": [
                {"role": slot.role, "uri": slot.uri, "weight": w / total, **slot.current.describe()}
                for slot, w in zip(self.routes, weights, strict=True)
            ],
            "shadow": (
                {"role": "shadow", "uri": self.shadow_slot.uri, **self.shadow_slot.current.describe()}
                if self.shadow_slot is not None
                else None
            ),
            "micro_batching": (
                {"wait_ms": self.options.batch_wait_ms, "max_rows": self.options.batch_max_rows}
                if self.options.batch_wait_ms is not None
                else None
            ),
            "runstone_version": VERSION,
        }

    async def metadata(self, request: Request) -> Response:
        return Response(payloads.dumps(self.describe()), 200, media_type=JSON)

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.render(), 200, media_type=CONTENT_TYPE)

    async def openapi(self, request: Request) -> Response:
        served = self.routes[0].current
        if self._openapi is None or self._openapi[0] is not served:
            from runstone.serving.openapi import document

            doc = document(served.model.signature, title=f"{served.name} (version {served.version})", version=VERSION)
            self._openapi = (served, payloads.dumps(doc))
        return Response(self._openapi[1], 200, media_type=JSON)


def create_app(
    options: ServingOptions,
    *,
    client: object = None,
    logger: PredictionLogger | None = None,
    on_startup: Sequence[Callable[[ScoringServer], None]] = (),
    on_shutdown: Sequence[Callable[[ScoringServer], None]] = (),
) -> Starlette:
    """The scoring app. Models are loaded here, before the app answers anything."""
    server = ScoringServer(options, client=client, logger=logger)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server.start()
        for hook in on_startup:
            hook(server)
        try:
            yield
        finally:
            for hook in on_shutdown:
                try:
                    hook(server)
                except Exception as exc:
                    log.warning("shutdown hook failed: %s", exc)
            server.stop()

    routes = [
        Route("/invocations", server.invocations, methods=["POST"]),
        Route("/ping", server.health, methods=["GET"]),
        Route("/health", server.health, methods=["GET"]),
        Route("/version", server.version, methods=["GET"]),
        Route("/metadata", server.metadata, methods=["GET"]),
        Route("/metrics", server.metrics_text, methods=["GET"]),
        Route("/openapi.json", server.openapi, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    if options.token_sha256 is not None:
        from runstone.serving.token import TokenGate

        app.add_middleware(TokenGate, token_sha256=options.token_sha256)
    app.state.scoring = server
    return app
