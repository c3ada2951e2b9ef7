"""Monitoring: reference profiles, prediction logs, late labels, windows, rules and alerts.

Raw logs are Parquet files under ``monitoring/`` in the artifact store (a folder or S3); the
metadata database keeps what is small: profiles, one row per logged request (its prediction
and, later, its label), the list of log files, window results, rules and alerts.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runstone.artifacts.base import ArtifactStore
from runstone.entities import Alert, Rule, StoredProfile, Window
from runstone.errors import InvalidInput, InvalidState, NotFound
from runstone.governance.context import Context
from runstone.monitoring import logs as log_files
from runstone.monitoring import profile as profiles
from runstone.monitoring import rules as rule_specs
from runstone.monitoring.windows import analyze
from runstone.store import monitoring as store
from runstone.store import registry as registry_store
from runstone.store import webhooks as webhook_store
from runstone.store.registry import ModelRef
from runstone.tracking.service import TrackingService

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.orm import Session

log = logging.getLogger("runstone.monitoring")

ALERT_EVENT = "monitoring.alert"
MAX_LABELS = 100_000
_LEASE_MS = 10 * 60_000


class MonitoringService:
    def __init__(self, ctx: Context, tracking: TrackingService, store: ArtifactStore) -> None:
        self.ctx = ctx
        self.tracking = tracking
        self.store = store

    @property
    def user(self) -> str:
        return self.ctx.user

    def clock(self) -> int:
        return self.ctx.clock()

    # ------------------------------------------------------------------ versions
    def _version(self, s: Session, name: str, ref: str | int) -> tuple[ModelRef, int]:
        """A model and one of its versions by number or alias."""
        model = registry_store.model_row(s, name)
        text = str(ref)
        if text.isdigit():
            return model, registry_store.version_row(s, model, text).version
        version = registry_store.alias_version(s, model.id, text)
        if version is None:
            raise NotFound(f"Model {name!r} has no version {text!r} (neither a number nor an alias of it).")
        return model, version

    def resolve(self, name: str, ref: str | int) -> int:
        with self.ctx.transaction() as s:
            return self._version(s, name, ref)[1]

    def signature_inputs(self, name: str, ref: str | int) -> list[str] | None:
        """The input column names of the version's signature (None: no signature with names)."""
        import yaml

        from runstone.tracking.artifacts import ArtifactService

        with self.ctx.transaction() as s:
            model, number = self._version(s, name, ref)
            source = registry_store.version_row(s, model, number).source
        try:
            if source.startswith("runs:/"):
                run_id, _, path = source.removeprefix("runs:/").partition("/")
                artifacts = ArtifactService(self.ctx, self.store)
                file = artifacts.open(run_id, f"{path.strip('/')}/MLmodel")
                text = b"".join(artifacts.read(file))
            else:
                from runstone.tracking.logged_models import LoggedModelService

                models = LoggedModelService(self.ctx, self.store)
                found = models.open(source.removeprefix("models:/").strip("/"), "MLmodel")
                text = b"".join(models.read(found))
        except NotFound:
            return None
        manifest = yaml.safe_load(text) or {}
        inputs = (manifest.get("signature") or {}).get("inputs")
        if not inputs:
            return None
        specs = json.loads(inputs) if isinstance(inputs, str) else inputs
        names = [spec.get("name") for spec in specs if isinstance(spec, Mapping)]
        return [str(n) for n in names] if names and all(names) else None

    def training_dataset(self, name: str, ref: str | int) -> dict[str, object]:
        """The dataset recorded (``log_input``) on the run that produced the version."""
        with self.ctx.transaction() as s:
            model, number = self._version(s, name, ref)
            run_id = registry_store.version_row(s, model, number).run_uuid
        if not run_id:
            raise InvalidState(
                f"Version {number} of {name!r} comes from no run, so no training dataset is recorded; give the "
                "reference data explicitly (runstone monitor profile --data FILE)."
            )
        inputs = self.tracking.get_run(run_id).inputs.dataset_inputs
        if not inputs:
            raise InvalidState(
                f"Version {number} of {name!r} has no recorded dataset: its run {run_id} logged none (log_input). "
                "Give the reference data explicitly (runstone monitor profile --data FILE)."
            )
        by_context = {i.context: i for i in inputs}
        chosen = by_context.get("training") or inputs[0]
        holdout = by_context.get("holdout") or by_context.get("evaluation") or by_context.get("validation")
        return {
            "run_id": run_id,
            "version": number,
            "dataset": _dataset_json(chosen.dataset),
            "holdout": _dataset_json(holdout.dataset) if holdout else None,
        }

    # ------------------------------------------------------------------ profiles
    def set_profile(
        self, name: str, ref: str | int, profile: object, *, source: str = "", dataset_digest: str | None = None,
        replace: bool = True,
    ) -> StoredProfile:  # fmt: skip
        """Store the version's reference profile (with ``replace=False``, only when it has none)."""
        checked = profiles.check_profile(profile)
        signature = self.signature_inputs(name, ref)
        if signature is not None and set(signature) != set(checked["features"]):
            raise InvalidInput(
                f"The reference has the columns {sorted(checked['features'])} but the model's signature has "
                f"{sorted(signature)}; profile data with the model's input columns.",
                {"reference": sorted(checked["features"]), "signature": sorted(signature)},
            )
        if dataset_digest is not None and (not isinstance(dataset_digest, str) or len(dataset_digest) > 64):
            raise InvalidInput("A dataset digest is at most 64 characters.")
        if len(source) > 2000:
            raise InvalidInput("A profile source is at most 2000 characters.")
        with self.ctx.transaction(write=True) as s:
            model, number = self._version(s, name, ref)
            if not replace and (kept := store.get_profile(s, model.id, name, number)) is not None:
                return kept
            record = StoredProfile(
                name, number, profiles.digest(checked), dataset_digest, source, checked, self.user, self.clock()
            )
            store.put_profile(s, model.id, number, record)
            self.ctx.audit.write(s, "monitoring.set_profile", "registered_model", name, None,
                                {"version": number, "digest": record.digest, "dataset_digest": dataset_digest})  # fmt: skip
        return record

    def get_profile(self, name: str, ref: str | int) -> StoredProfile:
        with self.ctx.transaction() as s:
            model, number = self._version(s, name, ref)
            found = store.get_profile(s, model.id, name, number)
            job = store.profile_job(s, model.id, number) if found is None else None
        if found is None:
            if job is not None and job[0] == "pending":
                raise NotFound(
                    f"The reference profile of version {number} of {name!r} is being computed from the dataset its "
                    "run recorded; ask again in a moment.",
                    {"profile_status": "pending"},
                )
            if job is not None and job[1]:
                raise NotFound(job[1], {"profile_status": job[0]})
            raise NotFound(
                f"Version {number} of {name!r} has no reference profile yet; compute one with "
                f"runstone monitor profile {name}@{number}.",
                {"profile_status": "none"},
            )
        return found

    # ------------------------------------------------------------------ profiles at registration
    def profile_registered(self, *, owner: str, after_id: int = 0, limit: int = 20) -> tuple[int, int]:
        """Profile versions registered without a profile (version row id above ``after_id``, and
        jobs a stopped process left), from the dataset their run recorded. Runs after the
        registration's commit, in the server's background thread: registration never waits for it
        nor fails because of it. Returns (versions handled, highest version row id seen)."""
        now = self.clock()
        with self.ctx.transaction() as s:
            found = store.versions_to_profile(s, after_id, limit)
            stale = store.expired_profile_jobs(s, now, limit)
        highest = max([after_id, *(v[0] for v in found)])
        done = 0
        for version_id, name, number, run_id in [*found, *stale]:
            with self.ctx.transaction(write=True) as s:
                if not store.claim_profile_job(s, version_id, owner, now, _LEASE_MS):
                    continue
            try:
                status, note = self._profile_recorded(name, number, run_id)
            except Exception as exc:  # a profile never breaks the server's round
                log.warning("profiling version %s of %s failed", number, name, exc_info=True)
                message = getattr(exc, "message", None) or str(exc)
                status, note = (
                    "failed",
                    (
                        f"Profiling version {number} of {name!r} at registration failed ({type(exc).__name__}: "
                        f"{message}); compute its reference with runstone monitor profile {name}@{number}."
                    )[:4000],
                )
            with self.ctx.transaction(write=True) as s:
                store.finish_profile_job(s, version_id, status, note, self.clock())
            done += 1
        return done, highest

    def _profile_recorded(self, name: str, number: int, run_id: str | None) -> tuple[str, str | None]:
        """Profile the version's inputs from the dataset file its run recorded, when the file is
        here and still holds exactly the recorded bytes (its digest): (job status, note)."""
        from runstone.monitoring import reference

        give = f"give it a reference with runstone monitor profile {name}@{number} --data FILE."
        if not run_id:
            return "no_dataset", f"Version {number} of {name!r} comes from no run, so no dataset is recorded; {give}"
        try:
            inputs = self.tracking.get_run(run_id).inputs.dataset_inputs
        except NotFound:
            inputs = []
        if not inputs:
            return "no_dataset", (
                f"Version {number} of {name!r} has no recorded dataset: its run {run_id} logged none (log_input); {give}"
            )
        chosen = next((i for i in inputs if i.context == "training"), inputs[0]).dataset
        path = reference.local_file(chosen.source)
        if path is None:
            return "unreadable", (
                f"The dataset {chosen.name!r} (digest {chosen.digest[:12]}) recorded on run {run_id} is not a file the "
                f"server can read ({chosen.source or 'it was logged from memory'}); "
                f"compute the reference where the data is: runstone monitor profile {name}@{number} [--data FILE]."
            )
        if path.stat().st_size > reference.MAX_REGISTRATION_BYTES:
            return "unreadable", (
                f"The dataset file {path} is larger than the server profiles at registration "
                f"({reference.MAX_REGISTRATION_BYTES >> 20} MiB); run runstone monitor profile {name}@{number}."
            )
        # The file must still hold the recorded bytes: the reference is exactly the training data,
        # and the server reads no file a client could not already prove it has.
        if reference.file_digest(path) != chosen.digest:
            return "unreadable", (
                f"The file {path} no longer matches the digest {chosen.digest[:12]} recorded with dataset "
                f"{chosen.name!r} (it changed, or was not logged with runstone.data.from_file); {give}"
            )
        from runstone.monitoring.profile import build_profile

        frame = reference.model_inputs(
            reference.read_table(path), self.signature_inputs(name, number), reference.targets_of(chosen.schema)
        )
        profile = build_profile(frame)
        profile["origin"] = "registration"  # inputs only: `runstone monitor profile` adds the outputs
        self.set_profile(name, number, profile, source=f"{path} (run {run_id})"[:2000], dataset_digest=chosen.digest,
                         replace=False)  # fmt: skip
        return "done", None

    # ------------------------------------------------------------------ prediction logs
    def ingest(self, name: str, ref: str | int, data: bytes) -> dict[str, int]:
        """Store a Parquet file of logged predictions (see logs.py); requests already logged are
        skipped, so sending a file again changes nothing."""
        import pyarrow as pa
        import pyarrow.compute as pc

        table = log_files.from_parquet(data)
        with self.ctx.transaction() as s:
            model, number = self._version(s, name, ref)
            ids = pc.unique(table.column("request_id")).to_pylist()
            known = store.known_request_ids(s, model.id, ids)
        if known:
            table = table.filter(pc.invert(pc.is_in(table.column("request_id"), value_set=pa.array(sorted(known)))))
        if not table.num_rows:
            return {"rows": 0, "requests": 0, "skipped": len(known)}
        first = table.filter(pc.equal(table.column("row"), 0))
        predictions = first.column("prediction").to_pylist() if "prediction" in first.column_names else None
        counted = table.group_by("request_id").aggregate([("row", "count")])
        counts = dict(
            zip(counted.column("request_id").to_pylist(), counted.column("row_count").to_pylist(), strict=True)
        )
        requests = [
            (
                rid, int(ts), None if predictions is None or predictions[i] is None else json.dumps(predictions[i]),
                int(counts.get(rid, 1)),
            )
            for i, (rid, ts) in enumerate(
                zip(first.column("request_id").to_pylist(), first.column("timestamp").to_pylist(), strict=True)
            )
        ]  # fmt: skip
        if any(len(r[0]) > 64 for r in requests):
            raise InvalidInput("Request ids of logged predictions are at most 64 characters.")
        times = table.column("timestamp")
        span = (int(pc.min(times).as_py()), int(pc.max(times).as_py()))
        key = f"monitoring/{model.id}/{number}/{span[0]}-{uuid.uuid4().hex}.parquet"
        self.store.write(key, [log_files.to_parquet(table)])
        with self.ctx.transaction(write=True) as s:
            store.insert_requests(s, model.id, number, requests)
            store.insert_log_file(s, model.id, number, key, table.num_rows, span, self.clock())
            # Logs that arrive for a window already computed: it is computed again.
            store.mark_changed(s, model.id, number, [r[1] for r in requests], self.clock())
            self.ctx.audit.write(s, "monitoring.ingest", "registered_model", name, None,
                                {"version": number, "rows": table.num_rows, "requests": len(requests), "file": key})  # fmt: skip
        return {"rows": table.num_rows, "requests": len(requests), "skipped": len(known)}

    def read_logs(self, name: str, ref: str | int, start: int, end: int) -> pa.Table | None:
        with self.ctx.transaction() as s:
            model, number = self._version(s, name, ref)
            keys = store.log_files(s, model.id, number, start, end)
        return self._read(keys, start, end)

    def _read(self, keys: Sequence[str], start: int, end: int) -> pa.Table | None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        tables = []
        for key in keys:
            local = self.store.local_path(key)
            source: object = str(local) if local is not None else io.BytesIO(b"".join(self.store.read(key)))
            table = pq.read_table(source)
            times = table.column("timestamp")
            tables.append(table.filter(pc.and_(pc.greater_equal(times, start), pc.less(times, end))))
        if not tables:
            return None
        return pa.concat_tables(tables, promote_options="permissive")

    def export(self, name: str, ref: str | int, start: int, end: int) -> bytes:
        """The window's logged rows as Parquet: the input columns by their names, the prediction,
        and the row's label when one arrived (the data a retraining run gets)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        table = self.read_logs(name, ref, start, end)
        with self.ctx.transaction() as s:
            model, number = self._version(s, name, ref)
            labels = {(r, i): v for r, i, v in store.window_labels(s, model.id, number, start, end)}
        if table is None:
            raise NotFound(f"Version {number} of {name!r} has no logged predictions in that window.")
        table = table.filter(pc.equal(table.column("status"), 200))
        columns = {c.removeprefix(log_files.INPUT_PREFIX): table.column(c) for c in table.column_names
                   if c.startswith(log_files.INPUT_PREFIX)}  # fmt: skip
        if "prediction" in table.column_names:
            columns["prediction"] = table.column("prediction")
        keys = zip(table.column("request_id").to_pylist(), table.column("row").to_pylist(), strict=True)
        found = [labels.get(k) for k in keys] if labels else [None] * table.num_rows
        columns["label"] = pa.array([None if v is None else json.loads(v) for v in found])
        columns["request_id"] = table.column("request_id")
        return log_files.to_parquet(pa.table(columns))

    # ------------------------------------------------------------------ labels
    def log_labels(
        self, request_ids: Sequence[str], labels: Sequence[object], *, model: str | None = None
    ) -> dict[str, int]:
        """Labels of scored rows, each named by its row key: ``<request id>:<row>`` (the row's
        position in its request, from 0), or the bare request id of a request that scored one row."""
        if len(request_ids) != len(labels):
            raise InvalidInput(f"Got {len(request_ids)} request ids but {len(labels)} labels; give one label per id.")
        if not request_ids:
            raise InvalidInput("Give at least one request id and its label.")
        if len(request_ids) > MAX_LABELS:
            raise InvalidInput(f"At most {MAX_LABELS} labels per call; send them in parts.")
        for label in labels:
            if label is None or isinstance(label, dict | list):
                raise InvalidInput("A label is a number, a string or a boolean.")
        ids = [str(r) for r in request_ids]
        split = {i: (head, int(tail)) for i in ids for head, sep, tail in [i.rpartition(":")] if sep and tail.isdigit()}
        with self.ctx.transaction(write=True) as s:
            model_id = registry_store.model_row(s, model).id if model is not None else None
            info = store.request_info(s, sorted({*ids, *(h for h, _ in split.values())}))

            def owners(request_id: str) -> list[tuple[int, int, int, int]]:
                found = info.get(request_id, [])
                return [f for f in found if f[0] == model_id] if model_id is not None else found

            rows: dict[tuple[int, str, int], tuple[int, int, str]] = {}
            unknown, whole, beyond = [], [], []
            for given, label in zip(ids, labels, strict=True):
                request, row = given, None
                entries = owners(given)
                if not entries and given in split:
                    request, row = split[given]
                    entries = owners(request)
                if not entries:
                    unknown.append(given)
                    continue
                if len(entries) > 1:
                    raise InvalidInput(f"Request id {request!r} was logged by several models; name the model.")
                owner, version, time, count = entries[0]
                if row is None:
                    if count > 1:
                        whole.append((given, count))
                        continue
                    row = 0
                if row >= count:
                    beyond.append((given, count))
                    continue
                rows[(owner, request, row)] = (version, time, json.dumps(label))
            if unknown:
                shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
                raise InvalidInput(
                    f"{len(unknown)} of the labels are for request ids that no logged prediction has: {shown}. "
                    "Nothing was recorded; ingest the prediction logs first.",
                    {"unknown_request_ids": unknown[:100]},
                )
            if whole:
                given, count = whole[0]
                raise InvalidInput(
                    f"Request {given!r} scored {count} rows, so a label names one of them: {given}:0 to "
                    f"{given}:{count - 1} (<request id>:<row>). Nothing was recorded.",
                    {"multi_row_request_ids": [g for g, _ in whole[:100]]},
                )
            if beyond:
                given, count = beyond[0]
                raise InvalidInput(
                    f"{given!r} names a row its request does not have: it scored {count} "
                    f"row{'s' if count > 1 else ''} (0 to {count - 1}). Nothing was recorded.",
                    {"unknown_rows": [g for g, _ in beyond[:100]]},
                )
            now = self.clock()
            store.set_labels(s, [(m, r, i, v, t, label) for (m, r, i), (v, t, label) in rows.items()], now)
            # Labels for a window already computed: it is computed again (quality, then rules).
            touched: dict[tuple[int, int], list[int]] = {}
            for (m, _, _), (v, t, _) in rows.items():
                touched.setdefault((m, v), []).append(t)
            for (m, v), times in touched.items():
                store.mark_changed(s, m, v, times, now)
            self.ctx.audit.write(s, "monitoring.labels", "registered_model", model or "*", None, {"labels": len(rows)})
        return {"labelled": len(rows)}

    # ------------------------------------------------------------------ windows
    def compute(self, name: str, ref: str | int, start: int, end: int) -> dict[str, object]:
        """One window's analysis, computed now (not stored)."""
        number, profile, keys, labels = self._window_inputs(name, ref, start, end)
        table = self._read(keys, start, end)
        labelled = join_labels(table, labels)
        result = analyze(table, profile, labelled, span=(start, end))
        return {"model": name, "version": number, **result}

    def _window_inputs(
        self, name: str, ref: str | int, start: int, end: int
    ) -> tuple[int, dict[str, Any] | None, list[str], list[tuple[str, int, str]]]:
        """A window's version number, reference profile (or None), log files and labels."""
        if end <= start:
            raise InvalidInput("A window ends after it starts.")
        with self.ctx.transaction() as s:
            model, number = self._version(s, name, ref)
            found = store.get_profile(s, model.id, name, number)
            keys = store.log_files(s, model.id, number, start, end)
            labels = store.window_labels(s, model.id, number, start, end)
        return number, found.profile if found else None, keys, labels

    def compute_spark(self, spark: Any, name: str, ref: str | int, start: int, end: int) -> dict[str, Any]:
        """One window's analysis computed by Spark over its Parquet logs (the same result as
        compute, for windows too large for one machine)."""
        from runstone.monitoring.spark_engine import analyze_spark

        number, profile, keys, labels = self._window_inputs(name, ref, start, end)
        paths = []
        for key in keys:
            local = self.store.local_path(key)
            if local is None:
                raise InvalidState(
                    "The Spark engine reads the prediction logs from the artifact root's folder; this artifact store "
                    "is not a local or mounted folder. Use the default engine."
                )
            paths.append(str(local))
        result = analyze_spark(spark, paths, profile, labels, span=(start, end))
        return {"model": name, "version": number, **result}

    def windows(self, name: str, ref: str | int | None = None, limit: int = 500) -> list[Window]:
        with self.ctx.transaction() as s:
            if ref is None:
                model, number = registry_store.model_row(s, name), None
            else:
                model, number = self._version(s, name, ref)
            return store.windows(s, model.id, name, number, limit)

    def logged_versions(self, name: str) -> list[int]:
        with self.ctx.transaction() as s:
            return store.logged_versions(s, registry_store.model_row(s, name).id)

    def evaluate_due(self, window_ms: int, *, owner: str, grace_ms: int = 0, limit: int = 100) -> int:
        """Compute every completed window no process has claimed yet and evaluate the rules on it;
        returns how many windows this process computed."""
        now = self.clock()
        with self.ctx.transaction() as s:
            spans = store.logged_spans(s)
        done = 0
        for model_id, name, version, first, _last in spans:
            with self.ctx.transaction() as s:
                after = store.last_window_end(s, model_id, version)
            start = after if after is not None else first - first % window_ms
            while start + window_ms <= now - grace_ms and done < limit:
                with self.ctx.transaction() as s:
                    logged = store.next_logged_time(s, model_id, version, start)
                if logged is None:
                    break
                if logged >= start + window_ms:  # no predictions in between: no window to evaluate
                    start = logged - (logged - start) % window_ms
                    continue
                span = (start, start + window_ms)
                with self.ctx.transaction(write=True) as s:
                    window_id = store.claim_window(s, model_id, version, span, owner, now, _LEASE_MS)
                if window_id is not None:
                    self._evaluate(model_id, name, version, window_id, span)
                    done += 1
                start += window_ms
        # Windows that late logs or labels reached, and claims whose process stopped: computed
        # again by exactly one process (the claim is a conditional update of the window's row).
        with self.ctx.transaction() as s:
            again = store.changed_windows(s, limit) + store.stale_claims(s, now, limit)
        for window_id, model_id, name, version, first, end in again:
            if done >= limit:
                break
            with self.ctx.transaction(write=True) as s:
                claimed = store.reclaim_window(s, window_id, owner, now, _LEASE_MS) or (
                    store.claim_window(s, model_id, version, (first, end), owner, now, _LEASE_MS) == window_id
                )
            if claimed:
                self._evaluate(model_id, name, version, window_id, (first, end))
                done += 1
        return done

    def _evaluate(self, model_id: int, name: str, version: int, window_id: int, span: tuple[int, int]) -> None:
        result = self.compute(name, version, *span)
        with self.ctx.transaction(write=True) as s:
            store.finish_window(s, window_id, result, self.clock())
            window = Window(window_id, name, version, span[0], span[1], "done", result, self.clock())
            history = store.windows(s, model_id, name, version, limit=100)
            for rule in store.rules(s, model_id, name):
                self._apply_rule(s, model_id, rule, window, history)
                # A window computed again (late labels or logs) is also one of the "N in a row"
                # of the windows after it: a new result can complete their streak.
                later = sorted((w for w in history if w.start_time >= window.end_time), key=lambda w: w.start_time)
                for after in later[: rule.spec["consecutive"] - 1]:
                    self._apply_rule(s, model_id, rule, after, history)

    def _apply_rule(self, s: Session, model_id: int, rule: Rule, window: Window, history: list[Window]) -> None:
        spec = rule.spec
        hits = rule_specs.matches(spec, window.result or {})
        if not hits or store.alerted(s, rule.id, window.id):
            return
        earlier = [w for w in history if w.end_time <= window.start_time][: spec["consecutive"] - 1]
        if len(earlier) < spec["consecutive"] - 1 or not all(rule_specs.matches(spec, w.result or {}) for w in earlier):
            return
        from runstone.monitoring.windows import parse_duration

        last = store.last_alert_time(s, rule.id)
        now = self.clock()
        if last is not None and spec["cooldown"] != 0 and now - last < parse_duration(spec["cooldown"]):
            return
        message = rule_specs.describe(spec, hits)
        types = {a["type"] for a in spec["actions"]}
        details = {"hits": hits, "window": {"start": window.start_time, "end": window.end_time}}
        alert_id = store.insert_alert(s, model_id, rule, window, message, details, retrain="retrain" in types, now=now)
        if "log" in types:
            log.warning("monitoring alert %s on %s version %s: %s", alert_id, window.model, window.version, message)
        if "webhook" in types:
            payload = {
                "event": ALERT_EVENT, "model": window.model, "actor": self.user, "time": now,
                "data": {"alert_id": alert_id, "rule": rule.name, "version": str(window.version), "message": message,
                         "hits": hits, "window": details["window"]},
            }  # fmt: skip
            webhook_store.enqueue(s, ALERT_EVENT, window.model, payload, now)

    # ------------------------------------------------------------------ rules
    def features(self, name: str) -> list[str] | None:
        """The model's input features: from the latest profiled version, else its signature."""
        with self.ctx.transaction() as s:
            model = registry_store.model_row(s, name)
            versions = sorted((v.version for v in registry_store.model_versions(s, model.id)), reverse=True)
            for number in versions:
                found = store.get_profile(s, model.id, name, number)
                if found is not None:
                    return list(found.profile["features"])
        for number in versions:
            signature = self.signature_inputs(name, number)
            if signature is not None:
                return signature
        return None

    def create_rule(self, name: str, spec: object) -> Rule:
        checked = rule_specs.check_rule(spec, self.features(name))
        with self.ctx.transaction(write=True) as s:
            model = registry_store.model_row(s, name)
            rule = store.insert_rule(s, model.id, name, checked["name"], checked, self.user, self.clock())
            self.ctx.audit.write(s, "monitoring.create_rule", "registered_model", name, None, checked)
        return rule

    def list_rules(self, name: str) -> list[Rule]:
        with self.ctx.transaction() as s:
            return store.rules(s, registry_store.model_row(s, name).id, name)

    def delete_rule(self, name: str, rule: str) -> None:
        with self.ctx.transaction(write=True) as s:
            store.delete_rule(s, registry_store.model_row(s, name).id, name, rule)
            self.ctx.audit.write(s, "monitoring.delete_rule", "registered_model", name, {"rule": rule}, None)

    # ------------------------------------------------------------------ alerts and retraining
    def alerts(self, name: str | None = None, limit: int = 200) -> list[Alert]:
        with self.ctx.transaction() as s:
            model_id = registry_store.model_row(s, name).id if name is not None else None
            return store.alerts(s, model_id, limit)

    def get_alert(self, alert_id: int) -> Alert:
        with self.ctx.transaction() as s:
            found = store.alerts(s, alert_id=alert_id, limit=1)
        if not found:
            raise NotFound(f"Alert {alert_id} not found.")
        return found[0]

    def claim_retraining(self) -> tuple[Alert, dict[str, Any]] | None:
        """Take one alert whose retraining waits; with its rule's retrain action."""
        with self.ctx.transaction(write=True) as s:
            alert_id = store.claim_pending_alert(s, self.clock(), _LEASE_MS)
            if alert_id is None:
                return None
            spec = store.rule_of_alert(s, alert_id)
        action = next(a for a in spec["actions"] if a["type"] == "retrain")
        return self.get_alert(alert_id), action

    def record_retraining(self, alert_id: int, *, status: str, **links: object) -> Alert:
        if status not in ("running", "done", "failed"):
            raise InvalidInput("A retraining status is running, done or failed.")
        allowed = {"run_id", "new_version", "approval_request_id", "action_note"}
        if set(links) - allowed:
            raise InvalidInput(f"Unknown retraining fields {sorted(set(links) - allowed)}.")
        self.get_alert(alert_id)
        with self.ctx.transaction(write=True) as s:
            store.update_alert(s, alert_id, action_status=status, **{k: v for k, v in links.items() if v is not None})
            self.ctx.audit.write(s, "monitoring.retraining", "alert", str(alert_id), None, {"status": status, **links})
        return self.get_alert(alert_id)

    # ------------------------------------------------------------------ retention
    def purge(self, before: int) -> dict[str, int]:
        """Remove raw logs and request rows older than ``before``; window results stay."""
        with self.ctx.transaction() as s:
            old = store.log_files_before(s, before)
        for _, key in old:
            self.store.delete_prefix(key)
        with self.ctx.transaction(write=True) as s:
            store.delete_log_files(s, [i for i, _ in old])
            requests = store.delete_requests_before(s, before)
        return {"files": len(old), "requests": requests}


def join_labels(table: pa.Table | None, labels: Sequence[tuple[str, int, str]]) -> list[tuple[Any, Any]]:
    """(prediction, label) of each labelled row of a window: labels are joined to the logged
    rows by request id and row."""
    if table is None or not labels or "prediction" not in table.column_names:
        return []
    import pyarrow as pa
    import pyarrow.compute as pc

    given = pa.table(
        {
            "request_id": pa.array([r for r, _, _ in labels], pa.string()),
            "row": pa.array([i for _, i, _ in labels], pa.int32()),
            "label": pa.array([v for _, _, v in labels], pa.string()),
        }
    )
    # Joined first (the labels are the small side), then the failed rows dropped from the few left.
    joined = table.select(["request_id", "row", "prediction", "status"]).join(
        given, keys=["request_id", "row"], join_type="inner"
    )
    joined = joined.filter(pc.equal(joined.column("status"), 200))
    return [
        (p, json.loads(v))
        for p, v in zip(joined.column("prediction").to_pylist(), joined.column("label").to_pylist(), strict=True)
    ]


def _dataset_json(dataset: Any) -> dict[str, object]:
    return {
        "name": dataset.name,
        "digest": dataset.digest,
        "source_type": dataset.source_type,
        "source": dataset.source,
        "schema": dataset.schema,
    }
