"""The monitoring worker (``runstone monitor run``): ingest prediction logs, evaluate windows, and
carry out retraining actions where projects can run (never inside the tracking server).

Retraining: run the rule's project entry point with a parameter naming a Parquet file of the
alert's window (inputs, predictions and the labels that arrived), register the run's model as a
new version, score the new version and the champion on the same holdout, and open an approval
request for the champion alias when the new version wins. Each step is recorded on the alert.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runstone.entities import Alert
from runstone.errors import RunstoneError

if TYPE_CHECKING:
    from runstone.sdk.protocols import MonitoringBackend

log = logging.getLogger("runstone.monitoring")
_CHUNK_ROWS = 50_000


def ingest_files(
    api: MonitoringBackend, files: Sequence[Path], *, remove: bool = False, seen: set[tuple[str, str]] | None = None
) -> dict[str, int]:
    from runstone.monitoring.logs import read_jsonl, records_to_tables, to_parquet

    totals = {"rows": 0, "requests": 0, "skipped": 0}
    for file in files:
        for (name, version), table in records_to_tables(read_jsonl([file])).items():
            if seen is not None:
                seen.add((name, version))
            for start in range(0, table.num_rows, _CHUNK_ROWS):
                result = api.ingest(name, version, to_parquet(table.slice(start, _CHUNK_ROWS)))
                for key in totals:
                    totals[key] += int(result.get(key, 0))
        if remove:
            file.unlink()
    return totals


class Worker:
    def __init__(
        self, api: MonitoringBackend, *, tracking_uri: str | None, logs_dir: Path | None, window: str,
        say: Callable[[str], None] = log.info,
    ) -> None:  # fmt: skip
        self.api = api
        self.tracking_uri = tracking_uri
        self.logs_dir = logs_dir
        self.window = window
        self.say = say
        self._profiled: set[tuple[str, str]] = set()

    def round(self) -> None:
        if self.logs_dir is not None and self.logs_dir.is_dir():
            files = sorted(self.logs_dir.glob("*.jsonl"))
            if files:
                served: set[tuple[str, str]] = set()
                totals = ingest_files(self.api, files, seen=served)
                done = self.logs_dir / "ingested"
                done.mkdir(exist_ok=True)
                for file in files:
                    file.replace(done / file.name)
                self.say(f"Ingested {totals['requests']} requests from {len(files)} files.")
                for name, version in sorted(served):
                    self.profile_if_missing(name, version)
        evaluated = self.api.evaluate(self.window)
        if evaluated:
            self.say(f"Evaluated {evaluated} windows.")
        while (claimed := self.api.claim_retraining()) is not None:
            alert, action = claimed
            self.retrain(alert, action)

    def loop(self, *, interval: float, once: bool) -> None:
        while True:
            try:
                self.round()
            except RunstoneError as exc:
                if once:
                    raise
                self.say(f"Monitoring round failed: {exc.message}")
            if once:
                return
            time.sleep(interval)

    def profile_if_missing(self, name: str, version: str) -> None:
        """A version that serves without a reference gets one from the dataset its run recorded;
        one the server made at registration (inputs only: it loads no model) gets the model's
        outputs added here, where the model loads."""
        from runstone.cli.monitor_profile import compute_profile
        from runstone.errors import NotFound

        if (name, version) in self._profiled:
            return
        self._profiled.add((name, version))
        try:
            found = self.api.get_profile(name, version).profile
            if found.get("outputs") or found.get("origin") != "registration":
                return
        except NotFound:
            pass
        try:
            stored, _ = compute_profile(self.api, name, version, data=None, target=None, holdout=None, outputs=True,
                                        tracking_uri=self.tracking_uri)  # fmt: skip
            self.say(f"Profiled {name} version {version} from {stored.source}.")
        except RunstoneError as exc:
            self.say(f"{name} version {version} has no reference profile: {exc.message}")

    # ------------------------------------------------------------------ retraining
    def retrain(self, alert: Alert, action: dict[str, Any]) -> Alert:
        try:
            return self._retrain(alert, action)
        except Exception as exc:
            note = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
            self.say(f"Retraining for alert {alert.id} failed: {note}")
            return self.api.record_retraining(alert.id, status="failed", action_note=note[:2000])

    def _retrain(self, alert: Alert, action: dict[str, Any]) -> Alert:
        from runstone.projects import runner
        from runstone.sdk.client import RunstoneClient

        start, end = alert.details["window"]["start"], alert.details["window"]["end"]
        folder = Path(tempfile.mkdtemp(prefix="runstone-retrain-"))
        recent = folder / "recent.parquet"
        recent.write_bytes(self.api.export(alert.model, alert.version, start, end))
        params = {
            **{k: str(v) for k, v in (action.get("params") or {}).items()},
            action.get("data_param", "data"): str(recent),
        }
        self.say(f"Alert {alert.id}: retraining {alert.model} with {action['project']} ({recent}).")
        result = runner.run(
            action["project"], action.get("entry_point", "main"), params, experiment_name=action.get("experiment"),
            tracking_uri=self.tracking_uri, tags={"runstone.monitoring.alert_id": str(alert.id)}, echo=False,
        )  # fmt: skip
        self.api.record_retraining(alert.id, status="running", run_id=result.run_id)
        if not result.succeeded:
            return self.api.record_retraining(
                alert.id, status="failed", action_note=f"The retraining run {result.run_id} ended {result.status}."
            )
        client = RunstoneClient(self.tracking_uri)
        source = f"runs:/{result.run_id}/{action.get('model_path', 'model')}"
        version = client.create_model_version(alert.model, source, result.run_id).version
        self.api.record_retraining(alert.id, status="running", new_version=int(version))
        alias = action.get("alias", "champion")
        holdout, target = self._holdout(action, recent)
        verdict = compare_on_holdout(client, alert.model, version, alias, holdout, target, self.tracking_uri)
        metric, new_score, old_score, wins = verdict
        client.log_metric(result.run_id, f"holdout_{metric}", new_score)
        shown = "no champion" if old_score is None else f"champion {old_score:.4g}"
        summary = f"{metric} on the holdout: version {version} {new_score:.4g}, {shown}"
        if not wins:
            note = f"Version {version} did not beat the champion ({summary}); no request opened."
            return self.api.record_retraining(alert.id, status="done", action_note=note)
        if not client.get_model_policy(alert.model).protects("alias", alias) and not action.get("promote"):
            note = (
                f"Version {version} wins ({summary}), but no request was opened: the model's policy does not protect "
                f"alias {alias!r}, so a request would move it at once. Protect the alias (runstone registry policy "
                f"--protect-alias {alias}) or set promote: true on the retrain action."
            )
            return self.api.record_retraining(alert.id, status="done", action_note=note)
        request = client.request_transition(
            alert.model, version, alias=alias, comment=f"Retrained after monitoring alert {alert.id}: {summary}."
        )
        self.say(f"Alert {alert.id}: version {version} wins ({summary}); approval request {request.id} opened.")
        return self.api.record_retraining(alert.id, status="done", approval_request_id=request.id, action_note=summary)

    @staticmethod
    def _holdout(action: dict[str, Any], recent: Path) -> tuple[Path, str]:
        if action.get("holdout"):
            return Path(action["holdout"]).expanduser(), action.get("target", "label")
        return recent, "label"  # the window's labelled rows


def compare_on_holdout(
    client: Any, name: str, version: str, alias: str, holdout: Path, target: str, tracking_uri: str | None
) -> tuple[str, float, float | None, bool]:
    """(metric, new version's score, champion's score or None, whether the new version wins)."""
    from runstone.cli.monitor import read_table
    from runstone.cli.monitor_profile import predictions_of
    from runstone.errors import InvalidInput, NotFound
    from runstone.models.pyfunc_model import load_model
    from runstone.monitoring.quality import HIGHER_IS_BETTER, quality
    from runstone.monitoring.windows import metrics_task

    frame = read_table(holdout)
    if target not in frame.columns:
        raise InvalidInput(f"The holdout {holdout} has no target column {target!r}.")
    frame = frame[frame[target].notna()]
    if not len(frame):
        raise InvalidInput(f"The holdout {holdout} has no labelled rows to compare the versions on.")
    labels = [v.item() if hasattr(v, "item") else v for v in frame[target].tolist()]
    features = frame.drop(columns=[c for c in (target, "prediction", "request_id") if c in frame.columns])
    task = metrics_task([(None, v) for v in labels])
    metric = "accuracy" if task == "classification" else "rmse"

    def score(uri: str) -> float:
        model = load_model(uri, client=client)
        return quality(task, predictions_of(model, features), labels)[metric]

    new_score = score(f"models:/{name}/{version}")
    try:
        champion = client.get_model_version_by_alias(name, alias).version
    except NotFound:
        return metric, new_score, None, True
    old_score = score(f"models:/{name}/{champion}")
    wins = new_score > old_score if metric in HIGHER_IS_BETTER else new_score < old_score
    return metric, new_score, old_score, wins
