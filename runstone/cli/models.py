"""runstone models"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from runstone.cli import serving
from runstone.cli.common import as_json, client, tracking_uri, trust_requirements
from runstone.cli.output import emit_json, group


@group()
def models() -> None:
    """Model packages: serve them, score files, build images, rebuild their environment, verify them.

    MODEL_URI is runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>@<alias>,
    models:/<name>/<stage>, models:/m-<id> (a model logged by an MLflow 3 client), file:///path
    or a local path.
    """


def _local(uri: str, tracking_uri: str | None) -> Path:
    from runstone.models.uri import local_path

    needs_client = uri.startswith(("runs:/", "models:/"))
    return local_path(uri, client=client(tracking_uri) if needs_client else None)


@models.group()
def env() -> None:
    """The pinned Python environment of a model."""


@env.command("create")
@tracking_uri
@click.argument("model_uri")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--full",
    is_flag=True,
    help="Install all of runstone's dependencies (server, database, CLI), not only what loading the model needs.",
)
@trust_requirements
def env_create(tracking_uri: str | None, model_uri: str, directory: Path, full: bool, trust_requirements: bool) -> None:
    """Build a virtualenv in DIRECTORY from the model's python_env.yaml and requirements.txt,
    plus the running runstone."""
    from runstone.models.reproduce import create_env, env_python

    path = _local(model_uri, tracking_uri)
    create_env(path, directory, full=full, trust_requirements=trust_requirements, say=click.echo)
    click.echo(f"Environment ready: {env_python(directory)}")


@models.command()
@tracking_uri
@click.argument("model_uri")
@click.option(
    "--env",
    "env_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Use (or create) the environment in this folder instead of a temporary one.",
)
@click.option("--rtol", type=float, default=0.0, show_default=True, help="Relative tolerance for numbers.")
@click.option("--atol", type=float, default=0.0, show_default=True, help="Absolute tolerance for numbers.")
@trust_requirements
@as_json
def verify(
    tracking_uri: str | None,
    model_uri: str,
    env_dir: Path | None,
    rtol: float,
    atol: float,
    trust_requirements: bool,
    as_json: bool,
) -> None:
    """Load the model in a fresh environment built from its pinned requirements, predict its
    stored input example, and check the output equals the one recorded at save time (for a
    package that recorded none, such as MLflow's, the one the model gives when loaded here).

    Exits with status 1 when it does not (or the model fails to load or predict there).

    Loading a model runs its code: pickle-based flavors (scikit-learn, XGBoost and LightGBM
    pickles, PyTorch, python_function models) execute whatever the package holds, here inside
    the new environment. Verify packages from sources you would run code from.
    """
    from runstone.models.reproduce import verify as run

    path = _local(model_uri, tracking_uri)
    result = run(
        path,
        env_dir=env_dir,
        rtol=rtol,
        atol=atol,
        trust_requirements=trust_requirements,
        say=lambda m: None if as_json else click.echo(m),
    )
    baseline = "recorded at save time" if result.baseline == "recorded" else "computed here (none was recorded)"
    if as_json:
        emit_json(result.to_dict())
    elif result.passed:
        click.echo(f"PASS: the output equals the one {baseline} ({result.seconds}s).")
    elif result.error:
        click.echo(f"FAIL: the model did not load or predict in the rebuilt environment:\n{result.error}")
    else:
        click.echo(f"FAIL: the output differs from the one {baseline}:")
        for line in result.differences:
            click.echo(f"  {line}")
    if not result.passed:
        sys.exit(1)


# Serving, batch scoring and Docker contexts live in their own module.
models.add_command(serving.serve)
models.add_command(serving.predict)
models.add_command(serving.build_docker)
