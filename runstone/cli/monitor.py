"""runstone monitor: reference profiles, prediction logs, labels, reports, rules, alerts, worker."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runstone.cli.common import as_json, tracking_uri
from runstone.cli.output import emit_json, group, table, when
from runstone.errors import InvalidInput

if TYPE_CHECKING:
    from runstone.sdk.protocols import MonitoringBackend


def parse_model_ref(ref: str) -> tuple[str, str]:
    """``name@alias``, ``name@3`` or ``name/3`` as (name, version or alias)."""
    for sep in ("@", "/"):
        if sep in ref:
            name, _, version = ref.rpartition(sep)
            if name and version:
                return name, version
    raise InvalidInput(f"Name a model version as <model>@<alias|version>; got {ref!r}.")


def _api(uri: str | None) -> MonitoringBackend:
    from runstone.sdk.monitoring import monitoring_client

    return monitoring_client(uri)


def read_table(path: Path) -> Any:
    """A CSV, Parquet or JSON-lines file as a pandas DataFrame."""
    from runstone.monitoring.reference import read_table as read

    return read(path)


@group()
def monitor() -> None:
    """Production monitoring: profiles, prediction logs, labels, drift reports, rules and alerts."""


@monitor.command()
@click.argument("model")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Reference data (CSV, Parquet, JSON lines) instead of the dataset recorded on the version's run.")  # fmt: skip
@click.option("--target", default=None, help="Label column of the data: left out of the features, used for quality.")
@click.option("--holdout", type=click.Path(path_type=Path), default=None,
              help="Holdout data with the --target column: the model's quality on it is stored with the profile.")  # fmt: skip
@click.option("--no-outputs", is_flag=True, help="Do not load the model to profile its outputs.")
@tracking_uri
@as_json
def profile(
    model: str, data: Path | None, target: str | None, holdout: Path | None, no_outputs: bool,
    tracking_uri: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Compute and store the reference profile of MODEL (<model>@<alias|version>).

    The reference is the dataset recorded with log_input on the run that produced the version
    (when its source is a readable CSV or Parquet file), or --data. The profile holds per-feature
    types, missing rates, quantiles and histograms or top categories; with the model loadable
    here, its outputs on that data; with --holdout and --target, its quality on the holdout.
    """
    from runstone.cli.monitor_profile import compute_profile

    name, ref = parse_model_ref(model)
    api = _api(tracking_uri)
    stored, note = compute_profile(api, name, ref, data=data, target=target, holdout=holdout,
                                   outputs=not no_outputs, tracking_uri=tracking_uri)  # fmt: skip
    if as_json:
        emit_json({**stored.__dict__, "note": note})
        return
    features = stored.profile["features"]
    click.echo(f"Profile of {name} version {stored.version}: {stored.profile['rows']} rows, {len(features)} features, "
               f"digest {stored.digest[:12]}, dataset {(stored.dataset_digest or '-')[:12]} ({stored.source})")  # fmt: skip
    if note:
        click.echo(note)
    rows = []
    for column, info in features.items():
        summary = (
            f"p5 {info['quantiles']['values'][2]:.4g} · p50 {info['quantiles']['values'][11]:.4g} · "
            f"p95 {info['quantiles']['values'][20]:.4g}"
            if info["type"] == "numeric" and info.get("count")
            else ", ".join(f"{k} {v:.0%}" for k, v in list(info.get("top", {}).items())[:3])
        )
        rows.append([column, info["type"], f"{info['missing']:.1%}", summary])
    table(None, ["feature", "type", "missing", "summary"], rows)
    if stored.profile.get("quality"):
        click.echo("Holdout quality: " + ", ".join(f"{k} {v:.4g}" for k, v in stored.profile["quality"].items()))


@monitor.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--remove", is_flag=True, help="Delete each file once its predictions are stored.")
@tracking_uri
@as_json
def ingest(paths: tuple[Path, ...], remove: bool, tracking_uri: str | None, as_json: bool) -> None:
    """Store prediction logs written by `runstone models serve --log-predictions FOLDER` (complete
    *.jsonl files, or folders of them) as Parquet in the monitoring store. Sending a file twice
    changes nothing."""
    from runstone.cli.monitor_worker import ingest_files

    files = [p for path in paths for p in (sorted(path.glob("*.jsonl")) if path.is_dir() else [path])]
    totals = ingest_files(_api(tracking_uri), files, remove=remove)
    if as_json:
        emit_json(totals)
    else:
        click.echo(f"Stored {totals['requests']} requests ({totals['rows']} rows) from {len(files)} files; "
                   f"{totals['skipped']} were stored already.")  # fmt: skip


@monitor.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--model", default=None, help="The model that logged the requests (when ids could be ambiguous).")
@click.option("--id-column", default="request_id", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option("--row-column", default=None,
              help="Column of each label's row in its request (from 0): the key is then <request id>:<row>.")  # fmt: skip
@tracking_uri
@as_json
def labels(file: Path, model: str | None, id_column: str, label_column: str, row_column: str | None,
           tracking_uri: str | None, as_json: bool) -> None:  # fmt: skip
    """Join true labels (a CSV, Parquet or JSON-lines file of row keys and labels) to the logged
    rows. A row key is <request id>:<row> (the row's position in its request, from 0), or the
    bare request id of a one-row request; with --row-column the key is built from two columns.
    All or nothing: one unknown key and none is recorded."""
    frame = read_table(file)
    missing = [c for c in (id_column, label_column, *([row_column] if row_column else [])) if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{file} has no column {missing[0]!r}; its columns are {', '.join(map(str, frame.columns))}."
        )
    ids = [str(v) for v in frame[id_column].tolist()]
    if row_column is not None:
        rows = frame[row_column].tolist()
        if not all(isinstance(r, int | float) and float(r).is_integer() and r >= 0 for r in rows):
            raise InvalidInput(f"Column {row_column!r} of {file} must hold rows as whole numbers from 0.")
        ids = [f"{i}:{int(r)}" for i, r in zip(ids, rows, strict=True)]
    values = [v.item() if hasattr(v, "item") else v for v in frame[label_column].tolist()]
    result = _api(tracking_uri).log_labels(ids, values, model=model)
    emit_json(result) if as_json else click.echo(f"Recorded {result['labelled']} labels.")


@monitor.command()
@click.argument("model")
@click.option("--window", default="1d", show_default=True, help="Length of the window that ends at --end.")
@click.option("--end", "end_ms", type=int, default=None, help="End of the window, ms since the epoch (default: now).")
@click.option("--html", type=click.Path(path_type=Path), default=None, help="Also write a self-contained HTML report.")
@click.option("--run-id", default=None, help="Log the HTML report as an artifact of this run.")
@tracking_uri
@as_json
def report(model: str, window: str, end_ms: int | None, html: Path | None, run_id: str | None,
           tracking_uri: str | None, as_json: bool) -> None:  # fmt: skip
    """Drift, traffic and quality of MODEL (<model>@<alias|version>) over the last --window."""
    from runstone.monitoring.report import render_html, render_text
    from runstone.monitoring.windows import parse_duration

    name, ref = parse_model_ref(model)
    api = _api(tracking_uri)
    end = end_ms if end_ms is not None else int(time.time() * 1000)
    result = api.compute(name, ref, end - parse_duration(window), end)
    profile = None
    try:
        profile = api.get_profile(name, ref).profile
    except Exception:  # a report without reference still shows traffic and quality
        profile = None
    if html is not None or run_id is not None:
        target = html or Path(f"monitoring-{name}-{result['version']}.html")
        target.write_text(render_html(result, profile))
        if run_id is not None:
            from runstone.sdk.client import RunstoneClient

            RunstoneClient(tracking_uri).log_artifact(run_id, target, "monitoring")
    if as_json:
        emit_json(result)
    else:
        click.echo(render_text(result))


@monitor.command()
@click.argument("model")
@click.option("--window", default="1h", show_default=True, help="Length of the window that ends at --end.")
@click.option("--end", "end_ms", type=int, default=None, help="End of the window, ms since the epoch (default: now).")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="local: this process (numpy); spark: Spark aggregates the Parquet logs.")  # fmt: skip
@click.option("--master", default="local[2]", show_default=True, help="Spark master, with --engine spark.")
@tracking_uri
@as_json
def compute(model: str, window: str, end_ms: int | None, engine: str, master: str, tracking_uri: str | None,
            as_json: bool) -> None:  # fmt: skip
    """Compute one window of MODEL (<model>@<alias|version>) now: traffic, drift, quality.

    With --engine spark the window's Parquet logs are read and aggregated by Spark (for windows
    too large for one machine) and the statistics computed from the aggregates; it reads the
    logs from the artifact root, so --tracking-uri names the database (the embedded store), not
    a server.
    """
    from runstone.monitoring.report import render_text
    from runstone.monitoring.windows import parse_duration
    from runstone.sdk.local import LocalMonitoring

    name, ref = parse_model_ref(model)
    api = _api(tracking_uri)
    end = end_ms if end_ms is not None else int(time.time() * 1000)
    start = end - parse_duration(window)
    if engine == "local":
        result = api.compute(name, ref, start, end)
    else:
        if not isinstance(api, LocalMonitoring):
            raise InvalidInput(
                "--engine spark reads the Parquet logs itself: give --tracking-uri the database "
                "(sqlite:///... or postgresql://...) and the artifact root (RUNSTONE_ARTIFACTS_DESTINATION), not a server."
            )
        from runstone.monitoring.spark_engine import session

        spark = session(master)
        try:
            result = api.service.compute_spark(spark, name, ref, start, end)
        finally:
            spark.stop()
    emit_json(result) if as_json else click.echo(render_text(result))


@monitor.command()
@click.argument("model")
@click.option("--version", default=None, help="Only this version (number or alias).")
@tracking_uri
@as_json
def windows(model: str, version: str | None, tracking_uri: str | None, as_json: bool) -> None:
    """Evaluated windows of MODEL, newest first."""
    found = _api(tracking_uri).windows(model, version)
    if as_json:
        emit_json([w.__dict__ for w in found])
        return
    rows = []
    for w in found:
        r = w.result or {}
        quality = ", ".join(f"{k} {v:.3g}" for k, v in (r.get("quality") or {}).items())
        rows.append([when(w.start_time), when(w.end_time), w.version, r.get("requests", 0),
                     ", ".join(r.get("drifted") or []) or "-", quality or "-"])  # fmt: skip
    table(None, ["start", "end", "version", "requests", "drifted", "quality"], rows)


@monitor.group()
def rules() -> None:
    """Alert rules of a model."""


@rules.command("add")
@click.argument("model")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@tracking_uri
def add_rules(model: str, file: Path, tracking_uri: str | None) -> None:
    """Add the rules of a YAML FILE (a list of rules, or one) to MODEL."""
    from runstone.monitoring.rules import check_rule, load_rules

    specs = load_rules(file.read_text())
    for spec in specs:
        check_rule(spec, None)  # every rule's shape is checked before any is added
    api = _api(tracking_uri)
    for spec in specs:
        rule = api.create_rule(model, spec)
        click.echo(f"Added rule {rule.name!r} to {model}.")


@rules.command("list")
@click.argument("model")
@tracking_uri
@as_json
def list_rules(model: str, tracking_uri: str | None, as_json: bool) -> None:
    """Rules of MODEL."""
    found = _api(tracking_uri).list_rules(model)
    if as_json:
        emit_json([r.__dict__ for r in found])
        return
    rows = [[r.name, r.spec["metric"], r.spec.get("feature") or "-", f"{r.spec['op']} {r.spec['threshold']:g}",
             r.spec["consecutive"], r.spec["cooldown"], ", ".join(a["type"] for a in r.spec["actions"])]
            for r in found]  # fmt: skip
    table(None, ["name", "metric", "feature", "condition", "windows", "cooldown", "actions"], rows)


@rules.command("delete")
@click.argument("model")
@click.argument("name")
@tracking_uri
def delete_rule(model: str, name: str, tracking_uri: str | None) -> None:
    """Remove the rule NAME of MODEL."""
    _api(tracking_uri).delete_rule(model, name)
    click.echo(f"Removed rule {name!r} of {model}.")


@monitor.command()
@click.argument("model", required=False)
@tracking_uri
@as_json
def alerts(model: str | None, tracking_uri: str | None, as_json: bool) -> None:
    """Alerts (of MODEL), newest first, with their retraining run, new version and request."""
    found = _api(tracking_uri).alerts(model)
    if as_json:
        emit_json([a.__dict__ for a in found])
        return
    rows = [[a.id, when(a.time), a.model, a.version, a.message, a.action_status, a.run_id, a.new_version,
             a.approval_request_id] for a in found]  # fmt: skip
    table(None, ["id", "time", "model", "version", "alert", "retraining", "run", "new version", "request"], rows)


@monitor.command("run")
@click.option("--logs", "logs_dir", type=click.Path(path_type=Path), default=None,
              help="A folder the scoring server logs predictions to: new complete files are ingested each round.")  # fmt: skip
@click.option("--window", default="1h", show_default=True, help="Width of the evaluated windows (90s, 15m, 1h, 1d).")
@click.option("--interval", type=float, default=30.0, show_default=True, help="Seconds between rounds.")
@click.option("--once", is_flag=True, help="Run one round and exit.")
@tracking_uri
def run_worker(logs_dir: Path | None, window: str, interval: float, once: bool, tracking_uri: str | None) -> None:
    """A monitoring worker: ingests prediction logs, evaluates the completed windows no other
    process has claimed, and carries out retraining actions (run the project, register the model,
    compare it with the champion on the holdout, open an approval request when it wins)."""
    from runstone.cli.monitor_worker import Worker

    Worker(_api(tracking_uri), tracking_uri=tracking_uri, logs_dir=logs_dir, window=window, say=click.echo).loop(
        interval=interval, once=once
    )
