"""Where a sweep's trials run: local processes, a Dask distributed cluster, or a Ray cluster.

A trial is one call of ``run_trial(spec)``, a plain function of plain data: on a worker it
prepares the project (the environment is built there, or found in that machine's cache), runs
the entry point for the child run the sweep created, and logs straight to the tracking server.
The sweep asks a running trial to stop (pruning) through a tag on its run, so stopping works
the same on every backend.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any, Protocol
from urllib.parse import urlparse

from runstone.errors import InvalidInput, InvalidState


def run_trial(spec: dict[str, Any]) -> dict[str, object]:
    """Run one trial (on whichever machine calls it) and say how it ended."""
    from runstone.projects import runner
    from runstone.projects.source import open_project
    from runstone.sdk.client import RunstoneClient
    from runstone.tracking import tags as T

    run_id = spec["run_id"]
    with RunstoneClient(spec["tracking_uri"]) as client:
        try:
            with open_project(spec["uri"]) as (folder, uri):
                prepared = runner.prepare(
                    folder, uri, spec["entry_point"], spec["parameters"], env_manager=spec["env_manager"],
                    seed=spec["seed"],
                )  # fmt: skip
                runner.record(prepared, client, run_id)

                def should_stop() -> str | None:
                    return client.get_run(run_id).data.tags.get(T.SWEEP_STOP)

                result = runner.execute(
                    prepared, client, run_id, spec["experiment_id"], echo=False, should_stop=should_stop,
                    log_interval=spec.get("log_interval", runner.LOG_INTERVAL),
                )  # fmt: skip
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)
            client.log_batch(run_id, tags={T.SWEEP_STATE: "failed", "runstone.sweep.error": message[:7000]})
            client.set_terminated(run_id, "FAILED")
            return {"run_id": run_id, "status": "FAILED", "exit_code": -1, "stopped": None, "error": message}
    return {"run_id": run_id, "status": result.status, "exit_code": result.exit_code, "stopped": result.stopped}


class Backend(Protocol):
    def submit(self, spec: dict[str, Any]) -> Any: ...
    def done(self, handle: object) -> bool: ...
    def result(self, handle: object) -> dict[str, object]: ...
    def close(self) -> None: ...


class LocalBackend:
    """Trials as processes of this machine, ``parallel`` at a time (threads wait on them)."""

    def __init__(self, parallel: int) -> None:
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="runstone-trial")

    def submit(self, spec: dict[str, Any]) -> Any:
        return self.pool.submit(run_trial, spec)

    def done(self, handle: Any) -> bool:
        return bool(handle.done())

    def result(self, handle: Any) -> dict[str, object]:
        return handle.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class DaskBackend:
    """Trials as tasks of an existing Dask distributed scheduler (``dask://host:port``)."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise InvalidState("--backend dask:// needs Dask distributed: pip install 'runstone[dask]'.") from None
        try:
            self.client = Client(address, timeout=30, set_as_default=False)
        except OSError as exc:
            raise InvalidState(f"Cannot reach the Dask scheduler at {address}: {exc}") from None

    def submit(self, spec: dict[str, Any]) -> Any:
        # pure=False: two trials with equal specs are still two runs.
        return self.client.submit(run_trial, spec, pure=False, key=f"runstone-trial-{spec['run_id']}")

    def done(self, handle: Any) -> bool:
        return bool(handle.done())

    def result(self, handle: Any) -> dict[str, object]:
        return handle.result()

    def close(self) -> None:
        self.client.close()


CONNECT_ATTEMPTS = 3


class RayBackend:
    """Trials as tasks of an existing Ray cluster (``ray://host:port``, Ray Client)."""

    def __init__(self, address: str) -> None:
        try:
            import ray
        except ImportError:
            raise InvalidState("--backend ray:// needs Ray: pip install 'runstone[ray]'.") from None
        self.ray = ray
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                ray.init(address=address, log_to_driver=False)
                break
            except (ConnectionError, RuntimeError, OSError) as exc:
                # The cluster's client proxy starts a server process per client, and on a busy
                # machine that process can die while starting ("Initialization failure from
                # server"): the next attempt gets a new one.
                if attempt + 1 == CONNECT_ATTEMPTS:
                    raise InvalidState(f"Cannot connect to the Ray cluster at {address}: {exc}") from None
                time.sleep(1.0)
        self.task = ray.remote(num_cpus=1)(run_trial)

    def submit(self, spec: dict[str, Any]) -> Any:
        return self.task.remote(spec)

    def done(self, handle: object) -> bool:
        ready, _ = self.ray.wait([handle], timeout=0)
        return bool(ready)

    def result(self, handle: Any) -> dict[str, object]:
        return self.ray.get(handle)

    def close(self) -> None:
        self.ray.shutdown()


def check_backend(uri: str | None) -> None:
    if uri is None or uri == "local":
        return
    parsed = urlparse(uri)
    if parsed.scheme not in ("dask", "ray") or not parsed.hostname or not parsed.port:
        raise InvalidInput(f"Unknown backend {uri!r}; use local, dask://host:port or ray://host:port.")


def open_backend(uri: str | None, parallel: int) -> Backend:
    check_backend(uri)
    if uri is None or uri == "local":
        return LocalBackend(parallel)
    parsed = urlparse(uri)
    if parsed.scheme == "dask":
        return DaskBackend(f"tcp://{parsed.hostname}:{parsed.port}")
    return RayBackend(f"ray://{parsed.hostname}:{parsed.port}")
