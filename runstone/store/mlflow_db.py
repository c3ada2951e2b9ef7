"""Reading an MLflow tracking database (MLflow's own SQL schema), for ``runstone import-mlflow``.

Everything read is handed out in the shapes of MLflow's REST API (proto-JSON dicts), so the
importer treats a database and a live MLflow server alike. The database is only read.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import MetaData, Table, and_, create_engine, inspect, or_, select
from sqlalchemy.engine import Connection

from runstone.store import mlflow_messages as msg

_LOGGED_MODEL_STATUS = {
    0: "LOGGED_MODEL_STATUS_UNSPECIFIED",
    1: "LOGGED_MODEL_PENDING",
    2: "LOGGED_MODEL_READY",
    3: "LOGGED_MODEL_UPLOAD_FAILED",
}


def _kv(rows: Iterable[tuple[str, str | None]]) -> list[msg.KeyValue]:
    return [{"key": k, "value": "" if v is None else v} for k, v in rows]


def _value(value: float | None, is_nan: object = False) -> float:
    return math.nan if is_nan or value is None else float(value)


class MlflowDatabase:
    """An MLflow tracking database, read-only."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.tables = set(inspect(self.engine).get_table_names())
        if "experiments" not in self.tables or "runs" not in self.tables:
            raise ValueError(
                f"{self.engine.url.render_as_string(hide_password=True)} is not an MLflow tracking database."
            )
        self._metadata = MetaData()
        self._reflected: dict[str, Table] = {}

    def close(self) -> None:
        self.engine.dispose()

    def t(self, name: str) -> Table:
        """MLflow's table ``name``, as the database has it (columns vary between MLflow versions)."""
        if name not in self._reflected:
            self._reflected[name] = Table(name, self._metadata, autoload_with=self.engine)
        return self._reflected[name]

    def _rows(self, statement: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(statement))

    # ------------------------------------------------------------------ tracking
    def experiments(self) -> list[msg.Experiment]:
        e, et = self.t("experiments").c, self.t("experiment_tags").c
        tags: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
        for key, value, exp_id in self._rows(select(et.key, et.value, et.experiment_id)):
            tags[exp_id].append((key, value))
        out: list[msg.Experiment] = []
        for row in self._rows(
            select(
                e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time
            ).order_by(e.experiment_id)
        ):
            out.append(
                {
                    "experiment_id": str(row.experiment_id),
                    "name": row.name,
                    "artifact_location": row.artifact_location,
                    "lifecycle_stage": row.lifecycle_stage or "active",
                    "creation_time": row.creation_time,
                    "last_update_time": row.last_update_time,
                    "tags": _kv(tags[row.experiment_id]),
                }
            )
        return out

    def runs(self, experiment_id: str) -> Iterator[msg.Run]:
        """Every run of an experiment (active and deleted), whole, a thousand at a time."""
        r = self.t("runs").c
        ids = [
            row[0]
            for row in self._rows(
                select(r.run_uuid).where(r.experiment_id == int(experiment_id)).order_by(r.start_time, r.run_uuid)
            )
        ]
        for start in range(0, len(ids), 1000):
            with self.engine.connect() as conn:
                yield from self._load_runs(conn, ids[start : start + 1000])

    def _load_runs(self, conn: Connection, ids: list[str]) -> list[msg.Run]:
        p, tg, lm, r = self.t("params").c, self.t("tags").c, self.t("latest_metrics").c, self.t("runs").c
        params: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for key, value, run in conn.execute(select(p.key, p.value, p.run_uuid).where(p.run_uuid.in_(ids))):
            params[run].append((key, value))
        tags: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for key, value, run in conn.execute(select(tg.key, tg.value, tg.run_uuid).where(tg.run_uuid.in_(ids))):
            tags[run].append((key, value))
        metrics: dict[str, list[msg.Metric]] = defaultdict(list)
        for key, value, ts, step, is_nan, run in conn.execute(
            select(lm.key, lm.value, lm.timestamp, lm.step, lm.is_nan, lm.run_uuid).where(lm.run_uuid.in_(ids))
        ):
            metrics[run].append({"key": key, "value": _value(value, is_nan), "timestamp": ts, "step": step})
        inputs, outputs = self._inputs(conn, ids)
        out: list[msg.Run] = []
        for row in conn.execute(
            select(
                r.run_uuid,
                r.name,
                r.user_id,
                r.status,
                r.start_time,
                r.end_time,
                r.lifecycle_stage,
                r.artifact_uri,
                r.experiment_id,
            ).where(r.run_uuid.in_(ids))
        ):
            info: msg.RunInfo = {
                "run_id": row.run_uuid,
                "run_name": row.name or "",
                "experiment_id": str(row.experiment_id),
                "user_id": row.user_id or "",
                "status": row.status,
                "start_time": row.start_time,
                "artifact_uri": row.artifact_uri,
                "lifecycle_stage": row.lifecycle_stage or "active",
            }
            if row.end_time is not None:
                info["end_time"] = row.end_time
            out.append(
                {
                    "info": info,
                    "data": {
                        "metrics": metrics[row.run_uuid],
                        "params": _kv(params[row.run_uuid]),
                        "tags": _kv(tags[row.run_uuid]),
                    },
                    "inputs": inputs[row.run_uuid],
                    "outputs": outputs[row.run_uuid],
                }
            )
        order = {run_id: i for i, run_id in enumerate(ids)}
        return sorted(out, key=lambda run: order[run["info"]["run_id"]])

    def _inputs(self, conn: Connection, ids: list[str]) -> tuple[dict[str, msg.RunInputs], dict[str, msg.RunOutputs]]:
        inputs: dict[str, msg.RunInputs] = defaultdict(lambda: {"dataset_inputs": [], "model_inputs": []})
        outputs: dict[str, msg.RunOutputs] = defaultdict(lambda: {"model_outputs": []})
        if "inputs" not in self.tables:
            return inputs, outputs
        i = self.t("inputs").c
        input_tags: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        if "input_tags" in self.tables:
            it = self.t("input_tags").c
            for uuid, name, value in conn.execute(
                select(it.input_uuid, it.name, it.value)
                .join_from(self.t("input_tags"), self.t("inputs"), i.input_uuid == it.input_uuid)
                .where(i.destination_id.in_(ids))
            ):
                input_tags[uuid].append((name, value))
        if "datasets" in self.tables:
            d = self.t("datasets").c
            for row in conn.execute(
                select(
                    i.input_uuid,
                    i.destination_id,
                    d.name,
                    d.digest,
                    d.dataset_source_type,
                    d.dataset_source,
                    d.dataset_schema,
                    d.dataset_profile,
                )
                .join_from(self.t("inputs"), self.t("datasets"), d.dataset_uuid == i.source_id)
                .where(i.source_type == "DATASET", i.destination_type == "RUN", i.destination_id.in_(ids))
            ):
                dataset: msg.Dataset = {
                    "name": row.name,
                    "digest": row.digest,
                    "source_type": row.dataset_source_type,
                    "source": row.dataset_source,
                }
                if row.dataset_schema is not None:
                    dataset["schema"] = row.dataset_schema
                if row.dataset_profile is not None:
                    dataset["profile"] = row.dataset_profile
                inputs[row.destination_id]["dataset_inputs"].append(
                    {"dataset": dataset, "tags": _kv(input_tags[row.input_uuid])}
                )
        step = i.step if "step" in i else None
        columns = [i.source_type, i.source_id, i.destination_type, i.destination_id] + (
            [step] if step is not None else []
        )
        for row in conn.execute(
            select(*columns).where(
                or_(
                    and_(i.source_type == "RUN_OUTPUT", i.source_id.in_(ids)),
                    and_(i.source_type == "MODEL_INPUT", i.destination_id.in_(ids)),
                )
            )
        ):
            if row.source_type == "RUN_OUTPUT" and row.destination_type == "MODEL_OUTPUT":
                link_step = row.step if step is not None else 0
                outputs[row.source_id]["model_outputs"].append({"model_id": row.destination_id, "step": link_step or 0})
            elif row.source_type == "MODEL_INPUT":
                inputs[row.destination_id]["model_inputs"].append({"model_id": row.source_id})
        return inputs, outputs

    def metric_history(self, run_id: str, key: str) -> list[msg.Metric]:
        m = self.t("metrics").c
        return [
            {"key": key, "value": _value(value, is_nan), "timestamp": ts, "step": step}
            for value, ts, step, is_nan in self._rows(
                select(m.value, m.timestamp, m.step, m.is_nan)
                .where(m.run_uuid == run_id, m.key == key)
                .order_by(m.step, m.timestamp)
            )
        ]

    # ------------------------------------------------------------------ logged models
    def logged_models(self, experiment_id: str) -> list[msg.LoggedModel]:
        if "logged_models" not in self.tables:
            return []
        exp = int(experiment_id)
        lt, lp, lmm, lm = (
            self.t("logged_model_tags").c,
            self.t("logged_model_params").c,
            self.t("logged_model_metrics").c,
            self.t("logged_models").c,
        )
        tags: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for model_id, key, value in self._rows(
            select(lt.model_id, lt.tag_key, lt.tag_value).where(lt.experiment_id == exp)
        ):
            tags[model_id].append((key, value))
        params: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for model_id, key, value in self._rows(
            select(lp.model_id, lp.param_key, lp.param_value).where(lp.experiment_id == exp)
        ):
            params[model_id].append((key, value))
        metrics: dict[str, list[msg.Metric]] = defaultdict(list)
        for row in self._rows(select(self.t("logged_model_metrics")).where(lmm.experiment_id == exp)):
            point: msg.Metric = {
                "key": row.metric_name,
                "value": _value(row.metric_value),
                "timestamp": row.metric_timestamp_ms,
                "step": row.metric_step,
                "run_id": row.run_id,
                "model_id": row.model_id,
            }
            if row.dataset_name:
                point["dataset_name"] = row.dataset_name
            if row.dataset_digest:
                point["dataset_digest"] = row.dataset_digest
            metrics[row.model_id].append(point)
        out: list[msg.LoggedModel] = []
        for row in self._rows(
            select(self.t("logged_models"))
            .where(lm.experiment_id == exp, or_(lm.lifecycle_stage.is_(None), lm.lifecycle_stage == "active"))
            .order_by(lm.creation_timestamp_ms)
        ):
            info: msg.LoggedModelInfo = {
                "model_id": row.model_id,
                "experiment_id": str(row.experiment_id),
                "name": row.name,
                "artifact_uri": row.artifact_location,
                "creation_timestamp_ms": row.creation_timestamp_ms,
                "last_updated_timestamp_ms": row.last_updated_timestamp_ms,
                "status": _LOGGED_MODEL_STATUS.get(row.status, "LOGGED_MODEL_STATUS_UNSPECIFIED"),
                "tags": _kv(tags[row.model_id]),
            }
            if row.model_type:
                info["model_type"] = row.model_type
            if row.source_run_id:
                info["source_run_id"] = row.source_run_id
            if row.status_message:
                info["status_message"] = row.status_message
            out.append({"info": info, "data": {"params": _kv(params[row.model_id]), "metrics": metrics[row.model_id]}})
        return out

    # ------------------------------------------------------------------ registry
    def registered_models(self) -> list[msg.RegisteredModel]:
        if "registered_models" not in self.tables:
            return []
        rt, rm = self.t("registered_model_tags").c, self.t("registered_models").c
        tags: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for key, value, name in self._rows(select(rt.key, rt.value, rt.name)):
            tags[name].append((key, value))
        aliases: dict[str, list[msg.Alias]] = defaultdict(list)
        if "registered_model_aliases" in self.tables:
            ra = self.t("registered_model_aliases").c
            for alias, version, name in self._rows(select(ra.alias, ra.version, ra.name).order_by(ra.alias)):
                aliases[name].append({"alias": alias, "version": str(version)})
        return [
            {
                "name": row.name,
                "creation_timestamp": row.creation_time,
                "last_updated_timestamp": row.last_updated_time,
                "description": row.description or "",
                "tags": _kv(tags[row.name]),
                "aliases": aliases[row.name],
            }
            for row in self._rows(
                select(rm.name, rm.creation_time, rm.last_updated_time, rm.description).order_by(rm.name)
            )
        ]

    def model_versions(self, name: str) -> list[msg.ModelVersion]:
        vt, mv = self.t("model_version_tags").c, self.t("model_versions").c
        tags: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
        for key, value, number in self._rows(select(vt.key, vt.value, vt.version).where(vt.name == name)):
            tags[number].append((key, value))
        out: list[msg.ModelVersion] = []
        for row in self._rows(
            select(
                mv.version,
                mv.creation_time,
                mv.last_updated_time,
                mv.description,
                mv.user_id,
                mv.current_stage,
                mv.source,
                mv.run_id,
                mv.status,
            )
            .where(mv.name == name)
            .order_by(mv.version)
        ):
            version: msg.ModelVersion = {
                "name": name,
                "version": str(row.version),
                "creation_timestamp": row.creation_time,
                "last_updated_timestamp": row.last_updated_time,
                "user_id": row.user_id or "",
                "current_stage": row.current_stage or "None",
                "description": row.description or "",
                "source": row.source or "",
                "status": row.status or "READY",
                "tags": _kv(tags[row.version]),
            }
            if row.run_id:
                version["run_id"] = row.run_id
            out.append(version)
        return out
