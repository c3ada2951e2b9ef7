"""The fluent API: an active run per thread, logging calls that never wait on the network.

The names are MLflow's (``set_experiment``, ``start_run``, ``log_metric`` ...). Metrics,
params and tags are validated at once, buffered, and sent in batches in the background; reads
(``get_run``, ``search_runs``) and ``end_run`` flush first, so what you logged is what you read.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runstone import limits
from runstone.config import Settings
from runstone.entities import Experiment, Metric, PagedList, Run, RunStatus, ViewType
from runstone.errors import InvalidInput, InvalidState, NotFound, RunstoneError, Unavailable
from runstone.sdk import exits, offline
from runstone.sdk.batching import Batcher
from runstone.sdk.client import RunstoneClient
from runstone.sdk.exits import Terminated
from runstone.tracking import tags as T
from runstone.tracking import validation as check

if TYPE_CHECKING:
    from runstone.sdk.sysmetrics import SystemMetricsSampler


class ActiveRun(Run):
    """The run started by ``start_run``; as a context manager it ends the run on exit
    (FINISHED, or FAILED when an exception escapes)."""

    def __init__(self, run: Run) -> None:
        super().__init__(run.info, run.data, run.inputs)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        status = RunStatus.FINISHED if exc_type is None else RunStatus.FAILED
        if exc_type is KeyboardInterrupt or (exc_type is not None and issubclass(exc_type, Terminated)):
            status = RunStatus.KILLED
        end_run(status.value)


class State:
    """Everything the fluent API keeps between calls: tracking URI, experiment, clients, active runs."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tracking_uri: str | None = None
        self.experiment_id: str | None = None
        self.experiment_name: str | None = None  # set_experiment(name) while the server was away
        self.clients: dict[str | None, RunstoneClient] = {}
        self.batchers: dict[int, Batcher] = {}
        self.thread = threading.local()
        self.last_run: Run | None = None
        # Params logged per run in this process: a conflicting value fails at the call site.
        self.params: dict[str, dict[str, str]] = {}
        self.failed = False
        self.terminated = False
        # RUNSTONE_RUN_ID (set by `runstone run`) is the run of the first start_run() only.
        self.env_run_taken = False
        # enable_system_metrics_logging(): None defers to the setting RUNSTONE_SYSTEM_METRICS.
        self.system_metrics: bool | None = None
        self.samplers: dict[str, SystemMetricsSampler] = {}

    @property
    def stack(self) -> list[ActiveRun]:
        stack = getattr(self.thread, "stack", None)
        if stack is None:
            stack = self.thread.stack = []
        return stack


_state = State()


def set_tracking_uri(uri: str | os.PathLike[str] | RunstoneClient | None) -> None:
    """Log to a server (``http://host:port``), a database URI, a folder, or (None) the default.

    A ``RunstoneClient`` is used as given, e.g. one built on your own ``httpx.Client``.
    """
    flush()
    with _state.lock:
        if isinstance(uri, RunstoneClient):
            _state.clients[uri.tracking_uri] = uri
            _state.tracking_uri = uri.tracking_uri
        else:
            _state.tracking_uri = None if uri is None else str(uri)


def get_tracking_uri() -> str:
    return default_client().tracking_uri


def default_client() -> RunstoneClient:
    """The client the fluent API logs through (one per tracking URI)."""
    with _state.lock:
        client = _state.clients.get(_state.tracking_uri)
        if client is None:
            client = _state.clients[_state.tracking_uri] = RunstoneClient(_state.tracking_uri)
        return client


def _batcher(client: RunstoneClient) -> Batcher:
    with _state.lock:
        batcher = _state.batchers.get(id(client))
        if batcher is None:
            batcher = _state.batchers[id(client)] = offline.make_batcher(client)
        return batcher


def flush() -> None:
    """Send everything buffered; raise if a batch the server rejected was not logged."""
    with _state.lock:
        batchers = list(_state.batchers.values())
    failure: RunstoneError | None = None
    for batcher in batchers:
        try:
            batcher.flush()
        except RunstoneError as exc:
            failure = failure or exc
    if failure is not None:
        # A rejected batch may have carried params recorded here as logged; forget them rather
        # than refuse the server's real value later (the server checks every param anyway).
        with _state.lock:
            _state.params.clear()
        raise failure


# ----------------------------------------------------------------- experiments
def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment the active one, creating it (by name) when it does not exist."""
    client = default_client()
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidInput("Give exactly one of experiment_name or experiment_id.")
    if experiment_name is not None and client.is_remote and offline.must_queue(_batcher(client)):
        return _offline_experiment(experiment_name)
    try:
        with client.fail_fast():
            return _set_experiment(client, experiment_name, experiment_id)
    except Unavailable as exc:
        if experiment_name is None:
            raise
        _batcher(client).went_down(exc)
        return _offline_experiment(experiment_name)


def _offline_experiment(name: str) -> Experiment:
    """The server is away: runs go to the experiment of this name once it is back."""
    with _state.lock:
        _state.experiment_id, _state.experiment_name = None, name
    return Experiment("", name, "", "active", _now(), _now(), {})


def _set_experiment(client: RunstoneClient, experiment_name: str | None, experiment_id: str | None) -> Experiment:
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    else:
        assert experiment_name is not None
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            try:
                client.create_experiment(experiment_name)
            except Exception:
                if client.get_experiment_by_name(experiment_name) is None:  # lost a race: fine
                    raise
            found = client.get_experiment_by_name(experiment_name)
            if found is None:
                raise NotFound(f"Experiment {experiment_name!r} was created but cannot be read back.")
        experiment = found
    if experiment.lifecycle_stage != "active":
        raise InvalidState(
            f"Experiment {experiment.name!r} is deleted; restore it (runstone experiments restore "
            f"{experiment.experiment_id}) or choose another name."
        )
    with _state.lock:
        _state.experiment_id, _state.experiment_name = experiment.experiment_id, None
    return experiment


def create_experiment(name: str, tags: Mapping[str, object] | None = None) -> str:
    return default_client().create_experiment(name, tags)


def get_experiment(experiment_id: str) -> Experiment:
    return default_client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return default_client().get_experiment_by_name(name)


def _experiment_id() -> str:
    if _state.experiment_id is not None:
        return _state.experiment_id
    if _state.experiment_name is not None:
        return set_experiment(_state.experiment_name).experiment_id
    settings = default_client().settings
    if settings.experiment_name:
        return set_experiment(settings.experiment_name).experiment_id
    return settings.experiment_id or "0"


# ------------------------------------------------------------------------ runs
def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: Mapping[str, object] | None = None,
    description: str | None = None,
    log_system_tags: bool = True,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a new run, or resume ``run_id``, and make it the active run of this thread.

    ``log_system_metrics=True`` samples CPU, memory, disk and network into ``system/...``
    metrics until the run ends (default: ``enable_system_metrics_logging()`` or the setting
    ``RUNSTONE_SYSTEM_METRICS``)."""
    _install_exit_hooks()
    client = default_client()
    stack = _state.stack
    if run_id is None and not stack and parent_run_id is None and not _state.env_run_taken:
        with _state.lock:
            if not _state.env_run_taken:
                _state.env_run_taken = True
                run_id = Settings().run_id  # read now: the variable names this process's run
    if stack and not nested:
        raise InvalidState(
            f"Run {stack[-1].info.run_id} is already active. End it with end_run(), or start a "
            "nested run with start_run(nested=True)."
        )
    if run_id is not None:
        run = client.get_run(run_id)
        if run.info.lifecycle_stage != "active":
            raise InvalidState(f"Run {run_id} is deleted; restore it before resuming it.")
        if experiment_id is not None and str(experiment_id) != run.info.experiment_id:
            raise InvalidInput(
                f"Run {run_id} belongs to experiment {run.info.experiment_id}, not {experiment_id}; "
                "leave out experiment_id to resume it."
            )
        extra = {k: str(v) for k, v in (tags or {}).items()}
        if description is not None:
            extra[T.NOTE] = description
        check.batch([], {}, extra)
        if run.info.status != RunStatus.RUNNING.value or (run_name and run_name != run.info.run_name):
            run = client.update_run(run_id, status=RunStatus.RUNNING.value, name=run_name)
        if extra:
            client.log_batch(run_id, tags=extra)
            run = client.get_run(run_id)
    else:
        parent = parent_run_id or (stack[-1].info.run_id if nested and stack else None)
        all_tags: dict[str, str] = {}
        diff = None
        if log_system_tags:
            from runstone.sdk.context import system_tags

            all_tags, diff = system_tags(client.user)
        all_tags.update({k: str(v) for k, v in (tags or {}).items()})
        if description is not None:
            all_tags[T.NOTE] = description
        eid = str(experiment_id) if experiment_id is not None else None
        run = _create_run(client, eid, all_tags, run_name, parent)
        if diff:
            log_text(diff, T.GIT_DIFF_ARTIFACT, run_id=run.info.run_id)
    active = ActiveRun(run)
    with _state.lock:
        _state.params[run.info.run_id] = dict(run.data.params)
    stack.append(active)
    _batcher(client).watch(run.info.run_id)
    if log_system_metrics is None:
        log_system_metrics = _state.system_metrics
    if log_system_metrics is None:
        log_system_metrics = client.settings.system_metrics
    if log_system_metrics:
        _start_sampler(client, run.info.run_id)
    return active


def _create_run(
    client: RunstoneClient, eid: str | None, tags: dict[str, str], name: str | None, parent: str | None
) -> Run:
    """The new run on the server or (server away, offline mode) a run with an id made here whose
    creation waits in the journal: training never waits for the server."""
    batcher = _batcher(client)
    if not client.is_remote or not offline.must_queue(batcher):
        try:
            with client.fail_fast():
                return client.create_run(eid or _experiment_id(), tags=tags, run_name=name, parent_run_id=parent)
        except Unavailable as exc:
            if not client.is_remote:
                raise
            batcher.went_down(exc)
    eid = eid or _state.experiment_id
    exp_name = None if eid else (_state.experiment_name or client.settings.experiment_name)
    eid = eid or (None if exp_name else client.settings.experiment_id or "0")
    return offline.start_offline(batcher, client, eid, exp_name, name, tags, parent)


def _start_sampler(client: RunstoneClient, run_id: str) -> None:
    # Imported here: psutil is needed only by runs that sample, and a model's lean environment
    # (models env create) imports runstone without it.
    from runstone.sdk.sysmetrics import SystemMetricsSampler

    batcher = _batcher(client)
    sampler = SystemMetricsSampler(
        run_id,
        lambda rid, points: batcher.add(rid, metrics=points),
        client.settings.system_metrics_interval,
        client.settings.home,
    )
    with _state.lock:
        previous = _state.samplers.pop(run_id, None)
        _state.samplers[run_id] = sampler.start()
    if previous is not None:
        previous.stop()


def _stop_sampler(run_id: str) -> None:
    with _state.lock:
        sampler = _state.samplers.pop(run_id, None)
    if sampler is not None:
        sampler.stop()


def enable_system_metrics_logging() -> None:
    """Log system metrics for every run started from now on (as ``log_system_metrics=True``)."""
    _state.system_metrics = True


def disable_system_metrics_logging() -> None:
    _state.system_metrics = False


def end_run(status: str = "FINISHED") -> None:
    """Flush and end the active run of this thread."""
    stack = _state.stack
    if not stack:
        return
    run = stack.pop()
    _stop_sampler(run.info.run_id)
    client = default_client()
    _batcher(client).unwatch(run.info.run_id)
    try:
        flush()
    finally:
        # After everything logged before; None when that waits for the server.
        end = {"op": "end", "run_id": run.info.run_id, "status": status, "end_time": _now()}
        _state.last_run = _batcher(client).op(end) or run


def active_run() -> ActiveRun | None:
    stack = _state.stack
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run, or else the run that ended most recently."""
    current = active_run()
    if current is not None:
        return get_run(current.info.run_id)
    return _state.last_run


def _run_id(run_id: str | None = None) -> str:
    if run_id is not None:
        return run_id
    current = active_run()
    if current is None:
        current = start_run()
    return current.info.run_id


def get_run(run_id: str) -> Run:
    flush()
    return default_client().get_run(run_id)


# --------------------------------------------------------------------- logging
def _now() -> int:
    return int(time.time() * 1000)


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: int | None = None, run_id: str | None = None
) -> None:
    """Record a metric point; returns at once (sent in the background)."""
    metric = check.metric(Metric(key, _number(key, value), timestamp if timestamp is not None else _now(), step or 0))
    rid = _run_id(run_id)
    _batcher(default_client()).add(rid, metrics=[metric])


def log_metrics(
    metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None, run_id: str | None = None
) -> None:
    ts = timestamp if timestamp is not None else _now()
    points = [check.metric(Metric(k, _number(k, v), ts, step or 0)) for k, v in metrics.items()]
    _batcher(default_client()).add(_run_id(run_id), metrics=points)


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise InvalidInput(f"Metric {key!r} value must be a number, got a boolean.")
    if isinstance(value, (str, bytes)):
        # float("0.5") would pass; a string here is almost always the wrong variable.
        raise InvalidInput(f"Metric {key!r} value must be a number, got the string {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"Metric {key!r} value must be a number, got {value!r}.") from None


def _check_params(rid: str, params: Mapping[str, str]) -> None:
    with _state.lock:
        known = _state.params.setdefault(rid, {})
        for key, value in params.items():
            check.key(key, "Param")
            check.text(value, f"Param {key!r} value", limits.MAX_PARAM_VALUE_LENGTH)
            if key in known and known[key] != value:
                raise InvalidInput(
                    f"Param {key!r} of run {rid} is already {known[key]!r}; params are immutable, so it "
                    f"cannot become {value!r}. Log the new value under another key or in a new run."
                )
        known.update(params)


def log_param(key: str, value: object, run_id: str | None = None) -> Any:
    """Record a param (immutable: a different value for the same key is an error)."""
    log_params({key: value}, run_id=run_id)
    return value


def log_params(params: Mapping[str, object], run_id: str | None = None) -> None:
    rid = _run_id(run_id)
    as_text = {k: str(v) for k, v in params.items()}
    _check_params(rid, as_text)
    _batcher(default_client()).add(rid, params=list(as_text.items()))


def set_tag(key: str, value: object, run_id: str | None = None) -> None:
    set_tags({key: value}, run_id=run_id)


def set_tags(tags: Mapping[str, object], run_id: str | None = None) -> None:
    rid = _run_id(run_id)
    as_text = {k: str(v) for k, v in tags.items()}
    check.batch([], {}, as_text)
    _batcher(default_client()).add(rid, tags=list(as_text.items()))


def delete_tag(key: str, run_id: str | None = None) -> None:
    rid = _run_id(run_id)
    flush()
    default_client().delete_tag(rid, key)


def _upload(upload: object, keep: object) -> None:
    client = default_client()
    offline.upload(client, _batcher(client), upload, keep)


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    """Upload a file; with the server away it is copied into the journal and uploaded later."""
    rid = _run_id(run_id)
    _upload(
        lambda c: c.log_artifact(rid, local_path, artifact_path), lambda b: b.artifact(rid, local_path, artifact_path)
    )


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    rid = _run_id(run_id)
    _upload(
        lambda c: c.log_artifacts(rid, local_dir, artifact_path), lambda b: b.artifact(rid, local_dir, artifact_path)
    )


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    rid = _run_id(run_id)
    _upload(lambda c: c.log_text(rid, text, artifact_file), lambda b: b.data(rid, text.encode(), artifact_file))


def log_dict(dictionary: Mapping[str, object], artifact_file: str, run_id: str | None = None) -> None:
    log_text(RunstoneClient.dict_text(dictionary, artifact_file), artifact_file, run_id)


def log_figure(figure: object, artifact_file: str, run_id: str | None = None) -> None:
    """Save a matplotlib or plotly figure as an artifact (format from the file extension)."""
    rid = _run_id(run_id)
    _upload(lambda c: c.log_figure(rid, figure, artifact_file), lambda b: b.figure(rid, figure, artifact_file))


def log_input(
    dataset: object, context: str | None = "training", tags: Mapping[str, str] | None = None, run_id: str | None = None
) -> None:
    """Link a dataset (a runstone.data dataset, a pandas DataFrame or a numpy array) to the run."""
    from runstone.data import as_dataset

    entity = as_dataset(dataset)
    input_tags = dict(tags or {})
    if context:
        input_tags[T.DATASET_CONTEXT] = context
    default_client().log_inputs(_run_id(run_id), [(entity, input_tags)])


# ---------------------------------------------------------------------- search
def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: str | ViewType = ViewType.ACTIVE_ONLY,
    max_results: int = 1000,
    order_by: Sequence[str] | None = None,
    output_format: str = "list",
    experiment_names: Sequence[str] | None = None,
) -> Any:
    """Runs matching a filter, across experiments. ``output_format="pandas"`` gives a
    DataFrame with MLflow's columns (``run_id``, ``metrics.<key>``, ``params.<key>`` ...)."""
    flush()
    client = default_client()
    if not experiment_ids and not experiment_names:
        experiment_ids = [_experiment_id()]
    runs: list[Run] = []
    token = None
    while True:
        page: PagedList = client.search_runs(
            experiment_ids, filter_string, run_view_type, min(max_results - len(runs), 50_000), order_by, token,
            experiment_names=experiment_names,
        )  # fmt: skip
        runs.extend(page.items)
        token = page.next_page_token
        if not token or len(runs) >= max_results:
            break
    if output_format == "list":
        return runs
    if output_format == "pandas":
        from runstone.sdk.frames import runs_frame

        return runs_frame(runs)
    raise InvalidInput(f"Unknown output_format {output_format!r}; use 'list' or 'pandas'.")


# ------------------------------------------------------------------------ exit
def _install_exit_hooks() -> None:
    exits.install(_at_exit, on_terminate=lambda: setattr(_state, "terminated", True), on_failure=_failed)


def _failed() -> None:
    _state.failed = True


def _at_exit() -> None:
    status = RunStatus.FAILED.value if _state.failed else RunStatus.FINISHED.value
    if _state.terminated:
        status = RunStatus.KILLED.value
    try:
        while _state.stack:
            end_run(status)
        flush()
    except Exception as exc:  # at exit, say what was lost rather than raise into nothing
        print(f"runstone: {exc}", file=sys.stderr)
    for batcher in list(_state.batchers.values()):
        try:  # removes the journal when everything was sent, keeps it for later otherwise
            batcher.close()
        except Exception as exc:
            print(f"runstone: {exc}", file=sys.stderr)


def reset() -> State:
    """Forget the fluent API's state (tracking URI, experiment, active runs, clients), ending
    no run, and close the clients' connections and background senders. For tests and for
    long-lived processes that switch stores; returns the fresh state."""
    global _state
    with _state.lock:
        old, _state = _state, State()
    for sampler in list(old.samplers.values()):
        sampler.stop()
    for batcher in old.batchers.values():
        try:
            batcher.close()
        except Exception:  # a batch the old store rejected: the state is discarded anyway
            pass
    for client in old.clients.values():
        client.close()
    return _state
