"""runstone run, runstone reproduce, runstone sweep"""

from __future__ import annotations

import sys

import click

from runstone.cli.common import as_json, tracking_uri
from runstone.cli.output import emit_json, table
from runstone.errors import InvalidInput, RunstoneError

ENV_MANAGERS = click.Choice(["local", "virtualenv", "uv"])


def _say(message: str) -> None:
    click.echo(f"runstone: {message}", err=True)


def _pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{what} {item!r} must be NAME=VALUE.")
        if key in out:
            raise InvalidInput(f"{what} {key!r} is given twice.")
        out[key] = value
    return out


def _fail(exc: RunstoneError) -> None:
    click.echo(f"Error: {exc.message}", err=True)
    sys.exit(1)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("project")
@click.option("-e", "--entry-point", default="main", show_default=True, help="Entry point to run (or a .py file).")
@click.option("-P", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A parameter (repeatable).")
@click.option("--experiment", default=None, help="Experiment name (created when missing).")
@click.option("--run-name", default=None, help="Name of the new run.")
@click.option("--env-manager", type=ENV_MANAGERS, default=None, help="Environment manager (default: virtualenv when "
              "the project declares an environment, else local).")  # fmt: skip
@click.option("--seed", type=int, default=None, help="Seed given to the run (RUNSTONE_SEED, PYTHONHASHSEED); "
              "default: a new random one, recorded.")  # fmt: skip
@tracking_uri
@as_json
def run(
    project: str,
    entry_point: str,
    params: tuple[str, ...],
    experiment: str | None,
    run_name: str | None,
    env_manager: str | None,
    seed: int | None,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    """Run an entry point of a project (a folder or git repository with runstone.yaml or
    MLproject) as a new run; exits with the command's exit status."""
    from runstone.projects import runner

    try:
        result = runner.run(
            project, entry_point, _pairs(params, "Parameter"), experiment_name=experiment, run_name=run_name,
            env_manager=env_manager, tracking_uri=tracking_uri, seed=seed, echo=not as_json, say=_say,
        )  # fmt: skip
    except RunstoneError as exc:
        _fail(exc)
    if as_json:
        emit_json(result.__dict__)
    else:
        _say(f"Run {result.run_id} {result.status} (exit {result.exit_code}, {result.seconds:.1f} s)")
    sys.exit(_status(result.exit_code))


def _status(code: int) -> int:
    """A child's exit code as ours: a signal N becomes 128 + N, as shells report it."""
    if code < 0:
        return 128 - code
    return min(code, 255)


DIVERGED_EXIT = 3


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_id")
@click.option("--tolerance", "tolerances", multiple=True, metavar="metrics.NAME=TOL",
              help="Allowed difference of a final metric: absolute (0.01) or relative (1%); metrics.* for every "
              "metric (repeatable).")  # fmt: skip
@click.option("--env-manager", type=ENV_MANAGERS, default=None, help="Environment manager (default: the one the "
              "run used).")  # fmt: skip
@click.option("--experiment", default=None, help="Experiment of the reproduction (default: the original's).")
@click.option("--at", default=None, metavar="REV", help="Re-run another code version of the run's repository "
              "(a commit, branch or tag) instead of the recorded one.")  # fmt: skip
@tracking_uri
@as_json
def reproduce(
    run_id: str,
    tolerances: tuple[str, ...],
    env_manager: str | None,
    experiment: str | None,
    at: str | None,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    """Re-run a past run from its recorded code version, environment, parameters and seed, and
    compare. Exits 0 when it reproduced (exactly or within tolerance), 3 when it diverged, 1 when
    it could not be reproduced."""
    from runstone.projects import reproduction
    from runstone.projects.verdict import DIVERGED, parse_tolerances

    try:
        verdict = reproduction.reproduce(
            run_id, tolerances=parse_tolerances(tolerances), env_manager=env_manager, tracking_uri=tracking_uri,
            experiment_name=experiment, at=at, echo=not as_json, say=_say,
        )  # fmt: skip
    except RunstoneError as exc:
        _fail(exc)
    if as_json:
        emit_json(reproduction.describe(verdict))
    else:
        if verdict.differences:
            table(
                "Differences",
                ["kind", "name", "original", "reproduction", "within tolerance", "note"],
                [
                    [d.kind, d.name, d.original, d.reproduction, "yes" if d.within_tolerance else "", d.note]
                    for d in verdict.differences
                ],
            )
        matched = ", ".join(f"{n} {k}" for k, n in verdict.compared.items())
        click.echo(f"Compared {matched}; reproduction run {verdict.reproduction_run_id}")
        click.echo(f"Verdict: {verdict.summary()}")
    sys.exit(DIVERGED_EXIT if verdict.verdict == DIVERGED else 0)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("project", required=False)
@click.option("-e", "--entry-point", default="main", show_default=True, help="Entry point each trial runs.")
@click.option("--grid", multiple=True, metavar="NAME=V1,V2,...", help="A parameter tried at each value (repeatable).")
@click.option("--random", "random_", multiple=True, metavar="NAME=DIST",
              help="A parameter drawn from uniform(a,b), loguniform(a,b), int(a,b), logint(a,b) or choice(x,y,...) "
              "(repeatable).")  # fmt: skip
@click.option("-P", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A fixed parameter (repeatable).")
@click.option("--trials", type=int, default=None, help="Number of trials (default: every grid cell).")
@click.option("--parallel", type=int, default=1, show_default=True, help="Trials running at once.")
@click.option("--metric", default=None, help="Metric that scores a trial (its last value).")
@click.option("--goal", type=click.Choice(["minimize", "maximize"]), default="minimize", show_default=True)
@click.option("--early-stop", type=click.Choice(["none", "median"]), default="none", show_default=True,
              help="Stop a trial whose metric is worse than the median of finished trials at the same step.")  # fmt: skip
@click.option("--sampler", type=click.Choice(["random", "tpe"]), default="random", show_default=True,
              help="How the random parameters are drawn (Optuna's random or TPE sampler).")  # fmt: skip
@click.option("--backend", default=None, metavar="URI", help="local (default), dask://host:port or ray://host:port.")
@click.option("--env-manager", type=ENV_MANAGERS, default=None, help="Environment manager of the trials.")
@click.option("--experiment", default=None, help="Experiment name (created when missing).")
@click.option("--run-name", default=None, help="Name of the sweep's parent run.")
@click.option("--seed", type=int, default=None, help="Seed of the sampler (trial N gets seed + N).")
@click.option("--resume", default=None, metavar="RUN_ID", help="Continue an interrupted sweep (its parent run id).")
@tracking_uri
@as_json
def sweep(
    project: str | None,
    entry_point: str,
    grid: tuple[str, ...],
    random_: tuple[str, ...],
    params: tuple[str, ...],
    trials: int | None,
    parallel: int,
    metric: str | None,
    goal: str,
    early_stop: str,
    sampler: str,
    backend: str | None,
    env_manager: str | None,
    experiment: str | None,
    run_name: str | None,
    seed: int | None,
    resume: str | None,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    """Run a hyperparameter sweep of a project's entry point: trials as child runs of one sweep
    run, the best trial marked on it."""
    from runstone.projects.sweep import sweep as run_sweep

    if resume is None and (project is None or metric is None):
        _fail(InvalidInput("Give the PROJECT and --metric (or --resume RUN_ID)."))
    grid_values = {k: [v.strip() for v in vs.split(",")] for k, vs in _pairs(grid, "Grid parameter").items()}
    try:
        result = run_sweep(
            project, entry_point, metric=metric, goal=goal, grid=grid_values, random=_pairs(random_, "Random parameter"),
            parameters=_pairs(params, "Parameter"), trials=trials, parallel=parallel, early_stop=early_stop,
            sampler=sampler, backend=backend, env_manager=env_manager, experiment_name=experiment, run_name=run_name,
            seed=seed, resume=resume, tracking_uri=tracking_uri, say=_say,
        )  # fmt: skip
    except RunstoneError as exc:
        _fail(exc)
    if as_json:
        emit_json(
            {
                "parent_run_id": result.parent_run_id,
                "best_run_id": result.best_run_id,
                "best_value": result.best_value,
                "counts": result.counts(),
                "trials": [t.__dict__ for t in result.trials],
            }
        )
        return
    table(
        "Trials",
        ["trial", "run id", "state", "value", *(k for k in (result.trials[0].params if result.trials else {}))],
        [
            [t.number, t.run_id, t.state, t.value, *t.params.values()]
            for t in sorted(result.trials, key=lambda t: t.number)
        ],
    )
    counts = ", ".join(f"{n} {state}" for state, n in sorted(result.counts().items()))
    click.echo(f"Sweep {result.parent_run_id}: {counts}")
    if result.best_run_id:
        click.echo(f"Best trial: {result.best_run_id} ({result.best_value:.6g})")
