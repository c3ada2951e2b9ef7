"""runstone models serve | predict | build-docker (registered on the ``runstone models`` group)."""

from __future__ import annotations

from pathlib import Path

import click

from runstone.cli.common import client, tracking_uri, trust_requirements
from runstone.errors import InvalidInput

MODEL_OPTION_HELP = (
    "Model URI: models:/<name>@<alias>, models:/<name>/<version|stage>, models:/m-<id>, runs:/<run_id>/<path> "
    "or a folder."
)


def _local(uri: str, tracking: str | None) -> Path:
    from runstone.models.uri import local_path

    needs_client = uri.startswith(("runs:/", "models:/"))
    return local_path(uri, client=client(tracking) if needs_client else None)


@click.command()
@tracking_uri
@click.option("-m", "--model-uri", default=None, help=MODEL_OPTION_HELP)
@click.option(
    "--traffic",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Traffic policy (YAML): a weighted canary between two models and/or a shadow model. Replaces -m.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("-p", "--port", type=int, default=8080, show_default=True, help="Port to listen on.")
@click.option(
    "-w", "--workers", type=int, default=1, show_default=True, help="Worker processes (each loads the model)."
)
@click.option(
    "--follow",
    is_flag=True,
    help="Follow the registry: when the alias or stage of a models:/ URI moves, switch to the new version "
    "without dropping requests.",
)
@click.option("--follow-interval", type=float, default=5.0, show_default=True, help="Seconds between registry checks.")
@click.option(
    "--batch-wait-ms",
    type=float,
    default=None,
    help="Micro-batching (off unless given): combine concurrent small requests into one model call, waiting at "
    "most this many milliseconds for a batch to fill; 0 combines only what arrives together, without waiting.",
)
@click.option(
    "--batch-max-rows", type=int, default=256, show_default=True, help="Largest micro-batch (rows); sent at once."
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    help="Most rows one request may hold; larger requests are answered 413.",
)
@click.option(
    "--max-columns",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Most columns one request may name; more are answered 413.",
)
@click.option(
    "--log-predictions",
    default=None,
    help="Log requests and predictions to a folder, or to runs:/<run_id>/<path> on the tracking server.",
)
@click.option("--log-sample", type=float, default=1.0, show_default=True, help="Share of requests logged (0 to 1).")
@click.option(
    "--deployment-name",
    default=None,
    help="Record this server as a deployment of the model version it serves (renewed when --follow switches "
    "versions, ended when it stops).",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Require Authorization: Bearer <token> on every route but /ping and /health; the file holds the token.",
)
def serve(
    tracking_uri: str | None,
    model_uri: str | None,
    traffic: Path | None,
    host: str,
    port: int,
    workers: int,
    follow: bool,
    follow_interval: float,
    batch_wait_ms: float | None,
    batch_max_rows: int,
    max_rows: int,
    max_columns: int,
    log_predictions: str | None,
    log_sample: float,
    deployment_name: str | None,
    token_file: Path | None,
) -> None:
    """Serve a model over HTTP with MLflow's scoring protocol (POST /invocations).

    Also answers /ping, /health, /version, /metadata (the live model version), /metrics
    (Prometheus) and /openapi.json. Each response names the model version that answered in
    the X-Runstone-Model-Version header.

    Loading a model runs its code: pickle-based flavors (scikit-learn, XGBoost and LightGBM
    pickles, PyTorch, python_function models) execute whatever the package holds. Serve only
    packages you trust, such as approved registry versions.
    """
    from runstone.extras import require

    require("serving", "runstone models serve")
    from runstone.serving.deployment import DeploymentRecords
    from runstone.serving.run import ServeSpec
    from runstone.serving.run import serve as run
    from runstone.serving.token import read_token_file
    from runstone.serving.traffic import TrafficPolicy

    if (model_uri is None) == (traffic is None):
        raise InvalidInput("Give exactly one of -m/--model-uri and --traffic.")
    if workers < 1:
        raise InvalidInput("--workers must be at least 1.")
    policy = TrafficPolicy.load(traffic) if traffic else TrafficPolicy.single(str(model_uri))
    spec = ServeSpec(
        traffic=policy.to_dict(),
        host=host,
        port=port,
        workers=workers,
        follow=follow,
        follow_interval=follow_interval,
        batch_wait_ms=batch_wait_ms,
        batch_max_rows=batch_max_rows,
        max_rows=max_rows,
        max_columns=max_columns,
        log_predictions=log_predictions,
        log_sample=log_sample,
        tracking_uri=tracking_uri,
        deployment_name=deployment_name,
        token_sha256=read_token_file(token_file) if token_file is not None else None,
    )
    records = DeploymentRecords.for_server(deployment_name, host, port) if deployment_name else None
    if records is not None:
        records.record_start(client(tracking_uri), [(r.model, r.weight) for r in policy.routes])
    ended: list[bool] = []

    def end_records() -> None:
        if records is None or ended:
            return
        ended.append(True)
        for problem in records.end(client(tracking_uri), len(policy.routes)):
            click.echo(f"Could not end deployment record {problem}", err=True)

    try:
        run(spec, on_exit=end_records if records is not None else None)
    finally:
        end_records()  # when the model failed to load, say, the server never started or stopped


@click.command()
@tracking_uri
@click.option("-m", "--model-uri", required=True, help=MODEL_OPTION_HELP)
@click.option(
    "-i", "--input", "input_path", required=True, type=click.Path(path_type=Path), help="Input .parquet or .csv file."
)
@click.option(
    "-o",
    "--output",
    "output_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Output .parquet or .csv file.",
)
@click.option("--chunk-size", type=int, default=100_000, show_default=True, help="Rows read and scored at a time.")
@click.option(
    "-k",
    "--key-column",
    "key_columns",
    multiple=True,
    help="Input column copied to the output (repeatable); default: every column the model does not take.",
)
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
@click.option(
    "--monitor",
    is_flag=True,
    help="Also store the scored rows as prediction logs of the version (runstone monitor); the first "
    "--key-column is each row's request id for late labels.",
)
def predict(
    tracking_uri: str | None,
    model_uri: str,
    input_path: Path,
    output_path: Path,
    chunk_size: int,
    key_columns: tuple[str, ...],
    no_progress: bool,
    monitor: bool,
) -> None:
    """Score a Parquet or CSV file in chunks (files larger than memory work) into a Parquet or
    CSV file holding the key columns and the predictions."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from runstone.models.pyfunc_model import load_package
    from runstone.serving.batch import predict_file

    if monitor:
        from runstone.cli.monitor_batch import registry_version

        monitored = registry_version(model_uri, tracking_uri)  # before scoring: a bad URI fails fast
    model = load_package(_local(model_uri, tracking_uri))
    columns = (
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows  {task.fields[rate]:>12} rows/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, disable=no_progress, transient=False) as bar:
        task = bar.add_task("scoring", total=None, rate="-")
        started: list[float] = []

        def progress(done: int, total: int | None) -> None:
            import time

            if not started:
                started.append(time.perf_counter())
            elapsed = time.perf_counter() - started[0]
            rate = f"{done / elapsed:,.0f}" if elapsed > 0 and done else "-"
            bar.update(task, completed=done, total=total, rate=rate)

        result = predict_file(
            model, input_path, output_path, chunk_size=chunk_size, key_columns=key_columns or None, progress=progress
        )
    click.echo(
        f"Scored {result.rows:,} rows in {result.chunks} chunk(s) in {result.seconds:.2f}s "
        f"({result.rows_per_second:,.0f} rows/s) into {result.output}"
    )
    if monitor:
        from runstone.cli.monitor_batch import log_batch
        from runstone.sdk.monitoring import monitoring_client

        schema = model.metadata.get_input_schema()
        features = schema.names() if schema is not None and schema.has_names else None
        totals = log_batch(monitoring_client(tracking_uri), *monitored, input_path, output_path, features, key_columns)
        click.echo(f"Stored {totals['requests']:,} rows as prediction logs of {monitored[0]} version {monitored[1]}.")


@click.command("build-docker")
@tracking_uri
@click.option("-m", "--model-uri", required=True, help=MODEL_OPTION_HELP)
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path), help="New folder.")
@click.option("-w", "--workers", type=int, default=1, show_default=True, help="Worker processes in the image.")
@trust_requirements
def build_docker(
    tracking_uri: str | None, model_uri: str, output: Path, workers: int, trust_requirements: bool
) -> None:
    """Write a Docker build context that serves the model: Dockerfile (slim Python, non-root
    user, health check), the model package, its pinned requirements and a runstone wheel.

    Then: docker build -t <image> OUTPUT && docker run -p 8080:8080 <image>
    """
    from runstone.serving.docker import build_context

    build_context(
        _local(model_uri, tracking_uri), output, workers=workers, trust_requirements=trust_requirements, say=click.echo
    )
