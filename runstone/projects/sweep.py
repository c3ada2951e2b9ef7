"""Hyperparameter sweeps: trials of a project's entry point as child runs of one sweep run.

Optuna's ask-and-tell interface chooses the values of the random dimensions (its random or
TPE sampler) and decides early stopping (its median pruner); runstone enumerates the grid
dimensions' cells, starts each trial as a child run on a backend (local processes, Dask or
Ray), feeds the trials' intermediate metric values to Optuna as they are logged, and asks a
trial to stop when Optuna prunes it. runstone is the store of record: an interrupted sweep is
resumed from its runs (the finished trials are told to a new study), and the best trial is
marked on the parent run.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runstone.config import Settings
from runstone.entities import Run, RunStatus
from runstone.errors import InvalidInput, InvalidState
from runstone.projects import backends, runner
from runstone.projects.environment import check_manager
from runstone.projects.source import open_project
from runstone.sdk.client import RunstoneClient
from runstone.tracking import tags as T

Say = Callable[[str], None]
GOALS = ("minimize", "maximize")
EARLY_STOP = ("none", "median")
SAMPLERS = ("random", "tpe")
POLL = 0.5  # seconds between looks at the running trials' metrics
_DIST = re.compile(r"^\s*(uniform|loguniform|int|logint|choice)\s*\((.*)\)\s*$")


def _quiet(_: str) -> None:
    return None


def parse_distribution(name: str, text: str) -> Any:
    """``uniform(0,1)``, ``loguniform(1e-4,1)``, ``int(1,10)``, ``logint(1,1000)`` or
    ``choice(a,b,c)`` as an Optuna distribution."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    match = _DIST.match(text)
    if match is None:
        raise InvalidInput(
            f"Random parameter {name!r}: {text!r} is not uniform(a,b), loguniform(a,b), int(a,b), logint(a,b) "
            "or choice(x,y,...)."
        )
    kind, args = match.group(1), [a.strip() for a in match.group(2).split(",") if a.strip()]
    if kind == "choice":
        if not args:
            raise InvalidInput(f"Random parameter {name!r}: choice() needs at least one value.")
        return CategoricalDistribution(args)
    if len(args) != 2:
        raise InvalidInput(f"Random parameter {name!r}: {kind}() takes two bounds, got {len(args)}.")
    try:
        if kind in ("int", "logint"):
            low_i, high_i = int(args[0]), int(args[1])
            if low_i > high_i or (kind == "logint" and low_i < 1):
                raise ValueError
            return IntDistribution(low_i, high_i, log=kind == "logint")
        low, high = float(args[0]), float(args[1])
        if not (math.isfinite(low) and math.isfinite(high)) or low > high or (kind == "loguniform" and low <= 0):
            raise ValueError
        return FloatDistribution(low, high, log=kind == "loguniform")
    except ValueError:
        raise InvalidInput(f"Random parameter {name!r}: invalid bounds in {text!r}.") from None


@dataclass
class SweepSpec:
    """Everything a sweep was started with (stored on its parent run, so that it can resume)."""

    uri: str
    entry_point: str
    metric: str
    goal: str = "minimize"
    grid: dict[str, list[str]] = field(default_factory=dict)
    random: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)  # fixed for every trial
    trials: int | None = None
    parallel: int = 1
    early_stop: str = "none"
    sampler: str = "random"
    backend: str | None = None
    env_manager: str | None = None
    seed: int = 0

    def check(self) -> None:
        if not self.metric:
            raise InvalidInput("Name the metric to optimize (--metric).")
        if self.goal not in GOALS:
            raise InvalidInput(f"The goal is minimize or maximize, not {self.goal!r}.")
        if self.early_stop not in EARLY_STOP:
            raise InvalidInput(f"Early stopping is one of {', '.join(EARLY_STOP)}, not {self.early_stop!r}.")
        if self.sampler not in SAMPLERS:
            raise InvalidInput(f"The sampler is one of {', '.join(SAMPLERS)}, not {self.sampler!r}.")
        if not self.grid and not self.random:
            raise InvalidInput("Nothing to sweep: give --grid NAME=v1,v2,... or --random NAME=uniform(a,b).")
        both = sorted((set(self.grid) | set(self.random)) & set(self.parameters))
        twice = sorted(set(self.grid) & set(self.random))
        if both or twice:
            raise InvalidInput(f"Parameter(s) {', '.join(both + twice)} given more than one way.")
        for name, values in self.grid.items():
            if not values or any(v == "" for v in values):
                raise InvalidInput(f"Grid parameter {name!r} needs values: {name}=v1,v2,...")
        for name, text in self.random.items():
            parse_distribution(name, text)
        if self.parallel < 1:
            raise InvalidInput("--parallel must be at least 1.")
        if self.trials is None:
            if self.random:
                raise InvalidInput("Say how many trials to run (--trials) when some parameters are random.")
            self.trials = self.cells()
        if self.trials < 1:
            raise InvalidInput("--trials must be at least 1.")
        if not self.random and self.trials > self.cells():
            raise InvalidInput(f"The grid has {self.cells()} cell(s); --trials cannot be more.")
        backends.check_backend(self.backend)
        if self.env_manager is not None:
            check_manager(self.env_manager)

    def cells(self) -> int:
        return math.prod(len(v) for v in self.grid.values()) if self.grid else 1

    def grid_cells(self) -> list[dict[str, str]]:
        names = list(self.grid)
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(self.grid[n] for n in names))]

    def distributions(self) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution

        out: dict[str, object] = {n: CategoricalDistribution(v) for n, v in self.grid.items()}
        out.update({n: parse_distribution(n, t) for n, t in self.random.items()})
        return out

    def swept(self) -> list[str]:
        return [*self.grid, *self.random]


@dataclass
class Trial:
    number: int
    run_id: str
    params: dict[str, str]
    state: str  # complete, pruned, failed, running
    value: float | None = None


@dataclass
class SweepResult:
    parent_run_id: str
    best_run_id: str | None
    best_value: float | None
    trials: list[Trial]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.trials:
            out[t.state] = out.get(t.state, 0) + 1
        return out


def _study(spec: SweepSpec) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=spec.seed)
        if spec.sampler == "tpe"
        else optuna.samplers.RandomSampler(spec.seed)
    )
    pruner: Any = optuna.pruners.NopPruner()
    if spec.early_stop == "median":
        # Judge a trial against the median of the finished ones at the same step, once three
        # have finished, and never on its first step.
        pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    direction = (
        optuna.study.StudyDirection.MINIMIZE if spec.goal == "minimize" else optuna.study.StudyDirection.MAXIMIZE
    )
    return optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)


def _history(client: RunstoneClient, run_id: str, metric: str) -> dict[int, float]:
    try:
        points = client.get_metric_history(run_id, metric)
    except Exception:
        return {}
    return {p.step: p.value for p in points if math.isfinite(p.value)}


class _Sweep:
    def __init__(self, spec: SweepSpec, client: RunstoneClient, url: str, parent: Run, say: Say) -> None:
        self.spec, self.client, self.url, self.parent, self.say = spec, client, url, parent, say
        self.study = _study(spec)
        self.distributions = spec.distributions()
        self.trials: list[Trial] = []
        self.running: list[tuple[Any, Any, Trial, dict[int, float]]] = []
        # The grid cells still to try, in order (cycled when there are more trials than cells).
        cells = spec.grid_cells() if spec.grid else []
        assert spec.trials is not None
        self.cells = [cells[i % len(cells)] for i in range(spec.trials)] if cells else []

    # ---------------------------------------------------------------- resume
    def restore(self) -> None:
        """Tell the study every finished trial of this sweep; interrupted ones are run again."""
        from optuna.trial import TrialState, create_trial

        for run_id in self.client.get_child_run_ids(self.parent.info.run_id):
            run = self.client.get_run(run_id)
            tags = run.data.tags
            if tags.get(T.SWEEP_ROLE) != "trial":
                continue
            state = tags.get(T.SWEEP_STATE)
            params = {k: run.data.params[k] for k in self.spec.swept() if k in run.data.params}
            if state not in ("complete", "pruned", "failed") or len(params) != len(self.distributions):
                if run.info.status == RunStatus.RUNNING.value:
                    self.client.set_terminated(run_id, RunStatus.KILLED.value)
                self.client.set_tag(run_id, T.SWEEP_STATE, "interrupted")
                continue
            values = {k: self._typed(k, v) for k, v in params.items()}
            history = _history(self.client, run_id, self.spec.metric)
            value = run.data.metrics.get(self.spec.metric)
            kind = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}[state]
            if kind == TrialState.COMPLETE and value is None:
                kind = TrialState.FAIL
            try:
                frozen = create_trial(
                    state=kind, value=value if kind == TrialState.COMPLETE else None, params=values,
                    distributions=self.distributions, intermediate_values=history,
                )  # fmt: skip
            except ValueError:  # a value outside today's distributions: not this sweep's trial
                continue
            self.study.add_trial(frozen)
            cell = {k: params[k] for k in self.spec.grid}
            if cell in self.cells:
                self.cells.remove(cell)
            number = self.study.trials[-1].number
            self.trials.append(Trial(number, run_id, params, state, value if kind == TrialState.COMPLETE else None))
        if self.trials:
            self.say(f"Resuming: {len(self.trials)} trial(s) already finished")

    def _typed(self, name: str, value: str) -> Any:
        dist = self.distributions[name]
        kind = type(dist).__name__
        if kind == "IntDistribution":
            return int(value)
        if kind == "FloatDistribution":
            return float(value)
        return value

    # ------------------------------------------------------------------- run
    def _ask(self) -> Any:
        if self.cells:
            self.study.enqueue_trial(self.cells.pop(0))
        return self.study.ask(self.distributions)

    def _start(self, backend: backends.Backend) -> tuple[Any, Any, Trial]:
        trial = self._ask()
        params = {k: self._param_text(v) for k, v in trial.params.items()}
        child = self.client.create_run(
            self.parent.info.experiment_id,
            tags={T.SWEEP_ROLE: "trial", T.SWEEP_TRIAL: str(trial.number)},
            run_name=f"trial-{trial.number}",
            parent_run_id=self.parent.info.run_id,
        )
        record = Trial(trial.number, child.info.run_id, params, "running")
        spec = {
            "uri": self.spec.uri,
            "entry_point": self.spec.entry_point,
            "parameters": {**self.spec.parameters, **params},
            "env_manager": self.spec.env_manager,
            "seed": (self.spec.seed + trial.number) % 2**32,
            "tracking_uri": self.url,
            "run_id": child.info.run_id,
            "experiment_id": self.parent.info.experiment_id,
        }
        self.say(f"Trial {trial.number} ({child.info.run_id}): {', '.join(f'{k}={v}' for k, v in params.items())}")
        return backend.submit(spec), trial, record

    @staticmethod
    def _param_text(value: object) -> str:
        return repr(value) if isinstance(value, float) else str(value)

    def run(self, backend: backends.Backend) -> None:
        from optuna.trial import TrialState

        assert self.spec.trials is not None
        started = len(self.trials)
        while self.running or started < self.spec.trials:
            while len(self.running) < self.spec.parallel and started < self.spec.trials:
                handle, trial, record = self._start(backend)
                self.trials.append(record)
                self.running.append((handle, trial, record, {}))
                started += 1
            time.sleep(POLL)
            still = []
            for handle, trial, record, reported in self.running:
                if backend.done(handle):
                    self._finish(backend.result(handle), trial, record, reported, TrialState)
                    continue
                if self.spec.early_stop != "none" and record.state == "running":
                    self._report(trial, record, reported)
                still.append((handle, trial, record, reported))
            self.running = still

    def interrupt(self) -> None:
        """Ask the running trials to stop; a resumed sweep runs them again."""
        for _, _, record, _ in self.running:
            record.state = "interrupted"
            self.client.set_tag(record.run_id, T.SWEEP_STOP, "the sweep was interrupted")

    def _report(self, trial: Any, record: Trial, reported: dict[int, float]) -> None:
        history = _history(self.client, record.run_id, self.spec.metric)
        fresh = sorted(s for s in history if s not in reported)
        for step in fresh:
            trial.report(history[step], step)
            reported[step] = history[step]
        if fresh and trial.should_prune():
            self.client.set_tag(record.run_id, T.SWEEP_STOP, f"pruned at step {fresh[-1]}")
            record.state = "stopping"
            self.say(f"Trial {record.number}: pruned at step {fresh[-1]}")

    def _finish(
        self, outcome: dict[str, Any], trial: Any, record: Trial, reported: dict[int, float], states: Any
    ) -> None:
        run = self.client.get_run(record.run_id)
        value = run.data.metrics.get(self.spec.metric)
        if outcome.get("stopped"):
            for step, v in _history(self.client, record.run_id, self.spec.metric).items():
                if step not in reported:
                    trial.report(v, step)
            self.study.tell(trial, state=states.PRUNED)
            record.state = "pruned"
        elif outcome["status"] == RunStatus.FINISHED.value and value is not None and math.isfinite(value):
            self.study.tell(trial, value)
            record.state, record.value = "complete", value
        else:
            self.study.tell(trial, state=states.FAIL)
            record.state = "failed"
            why = outcome.get("error") or (
                f"exit code {outcome['exit_code']}" if outcome["exit_code"] else f"no {self.spec.metric} logged"
            )
            self.say(f"Trial {record.number} failed: {why}")
        self.client.set_tag(record.run_id, T.SWEEP_STATE, record.state)

    def mark_best(self) -> SweepResult:
        done = [t for t in self.trials if t.state == "complete" and t.value is not None]
        best = None
        if done:
            pick = min if self.spec.goal == "minimize" else max
            best = pick(done, key=lambda t: t.value)  # type: ignore[arg-type, return-value]
        parent_id = self.parent.info.run_id
        counts = SweepResult(parent_id, None, None, self.trials).counts()
        tags = {f"runstone.sweep.{k}": str(v) for k, v in counts.items()}
        if best is not None:
            tags[T.SWEEP_BEST_RUN] = best.run_id
            self.client.log_batch(parent_id, tags=tags)
            self.client.log_metric(parent_id, f"best_{self.spec.metric}", float(best.value))  # type: ignore[arg-type]
            self.client.set_tag(best.run_id, "runstone.sweep.best", "true")
            self.say(f"Best trial {best.number} ({best.run_id}): {self.spec.metric} = {best.value:.6g}")
        else:
            self.client.log_batch(parent_id, tags=tags)
        return SweepResult(parent_id, best.run_id if best else None, best.value if best else None, self.trials)


def sweep(
    project: str | None = None,
    entry_point: str = "main",
    *,
    metric: str | None = None,
    goal: str = "minimize",
    grid: Mapping[str, Sequence[Any]] | None = None,
    random: Mapping[str, str] | None = None,
    parameters: Mapping[str, object] | None = None,
    trials: int | None = None,
    parallel: int = 1,
    early_stop: str | None = None,
    sampler: str = "random",
    backend: str | None = None,
    env_manager: str | None = None,
    experiment_name: str | None = None,
    run_name: str | None = None,
    seed: int | None = None,
    resume: str | None = None,
    tracking_uri: str | None = None,
    say: Say = _quiet,
) -> SweepResult:
    """Run a sweep of a project's entry point: trials as child runs of a new parent run (or of
    ``resume``, an interrupted sweep's parent run, which continues where it stopped)."""
    settings = Settings()
    # Trials log through one server (the configured one, or a loopback one over the embedded
    # store), so that many trial processes never write to one SQLite file at once.
    with runner.tracking_server(tracking_uri, settings) as url, RunstoneClient(url) as client:
        assert url is not None
        if resume is not None:
            parent = client.get_run(resume)
            if parent.data.tags.get(T.SWEEP_ROLE) != "sweep":
                raise InvalidInput(f"Run {resume} is not the parent run of a sweep.")
            from runstone.projects.reproduction import read_artifact_text

            stored = read_artifact_text(client, resume, T.SWEEP_SPEC_ARTIFACT)
            if stored is None:
                raise InvalidState(f"Sweep {resume} has no {T.SWEEP_SPEC_ARTIFACT}; it cannot be resumed.")
            spec = SweepSpec(**json.loads(stored))
        else:
            if project is None or metric is None:
                raise InvalidInput("Give the project and the metric to optimize.")
            spec = SweepSpec(
                uri=str(project), entry_point=entry_point, metric=metric, goal=goal,
                grid={k: [str(v) for v in vs] for k, vs in (grid or {}).items()},
                random={k: str(v) for k, v in (random or {}).items()},
                parameters={k: str(v) for k, v in (parameters or {}).items()}, trials=trials, parallel=parallel,
                early_stop=early_stop or "none", sampler=sampler, backend=backend, env_manager=env_manager,
                seed=seed if seed is not None else runner._new_seed(),
            )  # fmt: skip
            spec.check()
            _normalize(spec)
            parent = None
        first = _check_project(spec, settings, say)
        if parent is None:
            parent = _create_parent(client, spec, first, experiment_name, run_name)
        else:
            client.update_run(parent.info.run_id, status=RunStatus.RUNNING.value)
        work = _Sweep(spec, client, url, parent, say)
        if resume is not None:
            work.restore()
        pool = backends.open_backend(spec.backend, spec.parallel)
        status = RunStatus.FAILED
        try:
            work.run(pool)
            status = RunStatus.FINISHED
        except KeyboardInterrupt:
            status = RunStatus.KILLED
            work.interrupt()
            raise
        finally:
            pool.close()
            result = work.mark_best()
            client.set_terminated(parent.info.run_id, status.value)
        return result


def _normalize(spec: SweepSpec) -> None:
    """Record the project's absolute location and the fixed parameters as every trial will see
    them (a relative path given here is taken from the current folder, as with runstone run)."""
    from runstone.projects.spec import load_project

    with open_project(spec.uri) as (folder, uri):
        entry = load_project(folder).entry_point(spec.entry_point)
        spec.uri = uri
        for name, value in spec.parameters.items():
            if name in entry.parameters:
                spec.parameters[name] = entry.parameters[name].resolve(value, Path.cwd(), folder)


def _check_project(spec: SweepSpec, settings: Settings, say: Say) -> runner.Prepared:
    """Refuse a bad sweep before anything runs: the entry point, the fixed parameters and a
    first trial's values, the environment (built here for local trials)."""
    with open_project(spec.uri) as (folder, _):
        from runstone.projects.spec import load_project

        entry = load_project(folder).entry_point(spec.entry_point)
        if not entry.loose:
            unknown = sorted(set(spec.swept()) - set(entry.parameters))
            if unknown:
                raise InvalidInput(
                    f"Entry point {entry.name!r} has no parameter {', '.join(map(repr, unknown))} to sweep "
                    f"(its parameters: {', '.join(sorted(entry.parameters)) or 'none'})."
                )
        sample = {n: v[0] for n, v in spec.grid.items()}
        for name, text in spec.random.items():
            dist = parse_distribution(name, text)
            sample[name] = str(dist.choices[0]) if hasattr(dist, "choices") else str(dist.low)
        # Trials on a cluster build their environment on their workers: check the rest here.
        on_cluster = spec.backend not in (None, "local")
        return runner.prepare(
            folder, spec.uri, spec.entry_point, {**spec.parameters, **sample},
            env_manager="local" if on_cluster else spec.env_manager, seed=spec.seed,
            cache=runner.environment_cache(settings), say=say,
        )  # fmt: skip


def _create_parent(
    client: RunstoneClient, spec: SweepSpec, first: runner.Prepared, experiment: str | None, name: str | None
) -> Run:
    tags, _ = runner.describe(first)
    tags.pop(T.PROJECT_SEED, None)
    tags.update(
        {
            T.SWEEP_ROLE: "sweep",
            T.SWEEP_METRIC: spec.metric,
            T.SWEEP_GOAL: spec.goal,
            T.SWEEP_PARAMS: ",".join(spec.swept()),
        }
    )
    exp = runner.experiment_id_for(client, experiment, None)
    parent = client.create_run(exp, tags=tags, run_name=name or f"sweep-{first.project.name}-{spec.entry_point}")
    client.log_batch(parent.info.run_id, params=spec.parameters)
    client.log_dict(parent.info.run_id, asdict(spec), T.SWEEP_SPEC_ARTIFACT)
    return parent
