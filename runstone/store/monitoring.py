"""Monitoring repository: profiles, logged requests and labels, log files, windows, rules, alerts.

Returns the plain records below (never rows); repositories never commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runstone.entities import Alert, Rule, StoredProfile, Window
from runstone.errors import AlreadyExists, NotFound
from runstone.store.engine import rowcount
from runstone.store.monitoring_tables import (
    MonitoringAlertRow,
    MonitoringLabelRow,
    MonitoringLogFileRow,
    MonitoringProfileJobRow,
    MonitoringProfileRow,
    MonitoringRequestRow,
    MonitoringRuleRow,
    MonitoringWindowRow,
)
from runstone.store.tables import ModelVersionRow, RegisteredModelRow

_CHUNK = 5000


def _model_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(RegisteredModelRow.id, RegisteredModelRow.name).where(RegisteredModelRow.id.in_(wanted))
    )
    return {int(i): str(n) for i, n in rows}


# ----------------------------------------------------------------------------- profiles
def put_profile(session: Session, model_id: int, version: int, record: StoredProfile) -> None:
    session.execute(
        delete(MonitoringProfileRow).where(
            MonitoringProfileRow.model_id == model_id, MonitoringProfileRow.version == version
        )
    )
    session.add(
        MonitoringProfileRow(
            model_id=model_id, version=version, digest=record.digest, dataset_digest=record.dataset_digest,
            source=record.source, profile=json.dumps(record.profile, sort_keys=True), created_by=record.created_by,
            creation_time=record.creation_time,
        )
    )  # fmt: skip


def get_profile(session: Session, model_id: int, model: str, version: int) -> StoredProfile | None:
    row = session.get(MonitoringProfileRow, (model_id, version))
    if row is None:
        return None
    return StoredProfile(
        model, row.version, row.digest, row.dataset_digest, row.source, json.loads(row.profile), row.created_by,
        row.creation_time,
    )  # fmt: skip


# ----------------------------------------------------------------------------- profiles at registration
def versions_to_profile(session: Session, after_id: int, limit: int) -> list[tuple[int, str, int, str | None]]:
    """Versions with an id above ``after_id`` that have neither a profile nor a profile job:
    (version row id, model name, version number, run id), oldest first."""
    job = select(MonitoringProfileJobRow.version_id).where(MonitoringProfileJobRow.version_id == ModelVersionRow.id)
    profiled = select(MonitoringProfileRow.version).where(
        MonitoringProfileRow.model_id == ModelVersionRow.model_id,
        MonitoringProfileRow.version == ModelVersionRow.version,
    )
    rows = session.execute(
        select(ModelVersionRow.id, RegisteredModelRow.name, ModelVersionRow.version, ModelVersionRow.run_uuid)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .where(ModelVersionRow.id > after_id, ~job.exists(), ~profiled.exists())
        .order_by(ModelVersionRow.id)
        .limit(limit)
    )
    return [(int(i), str(n), int(v), r) for i, n, v, r in rows]


def expired_profile_jobs(session: Session, now: int, limit: int) -> list[tuple[int, str, int, str | None]]:
    """Profile jobs whose process stopped before finishing (lease past), as versions_to_profile."""
    rows = session.execute(
        select(ModelVersionRow.id, RegisteredModelRow.name, ModelVersionRow.version, ModelVersionRow.run_uuid)
        .join(MonitoringProfileJobRow, MonitoringProfileJobRow.version_id == ModelVersionRow.id)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .where(MonitoringProfileJobRow.status == "pending", MonitoringProfileJobRow.lease_until < now)
        .order_by(ModelVersionRow.id)
        .limit(limit)
    )
    return [(int(i), str(n), int(v), r) for i, n, v, r in rows]


def claim_profile_job(session: Session, version_id: int, owner: str, now: int, lease_ms: int) -> bool:
    """Take the version's profile job (insert it, or take over an expired one)."""
    try:
        with session.begin_nested():
            session.add(MonitoringProfileJobRow(version_id=version_id, status="pending", note=None, claimed_by=owner,
                                                lease_until=now + lease_ms, updated_time=now))  # fmt: skip
            session.flush()
            return True
    except IntegrityError:
        pass
    result = session.execute(
        update(MonitoringProfileJobRow)
        .where(
            MonitoringProfileJobRow.version_id == version_id,
            MonitoringProfileJobRow.status == "pending",
            MonitoringProfileJobRow.lease_until < now,
        )
        .values(claimed_by=owner, lease_until=now + lease_ms, updated_time=now)
    )
    return bool(rowcount(result))


def finish_profile_job(session: Session, version_id: int, status: str, note: str | None, now: int) -> None:
    session.execute(
        update(MonitoringProfileJobRow)
        .where(MonitoringProfileJobRow.version_id == version_id)
        .values(status=status, note=note, updated_time=now)
    )


def profile_job(session: Session, model_id: int, version: int) -> tuple[str, str | None] | None:
    """(status, note) of the version's profile job."""
    row = session.execute(
        select(MonitoringProfileJobRow.status, MonitoringProfileJobRow.note)
        .join(ModelVersionRow, ModelVersionRow.id == MonitoringProfileJobRow.version_id)
        .where(ModelVersionRow.model_id == model_id, ModelVersionRow.version == version)
    ).first()
    return (str(row[0]), row[1]) if row else None


# ----------------------------------------------------------------------------- requests and labels
def known_request_ids(session: Session, model_id: int, request_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(request_ids), _CHUNK):
        chunk = list(request_ids[start : start + _CHUNK])
        found.update(
            session.scalars(
                select(MonitoringRequestRow.request_id).where(
                    MonitoringRequestRow.model_id == model_id, MonitoringRequestRow.request_id.in_(chunk)
                )
            )
        )
    return found


def insert_requests(
    session: Session, model_id: int, version: int, rows: Sequence[tuple[str, int, str | None, int]]
) -> None:
    """Rows of (request id, time, first row's prediction as JSON, number of scored rows)."""
    values = [
        {"model_id": model_id, "request_id": r, "version": version, "time": t, "prediction": p, "rows": n}
        for r, t, p, n in rows
    ]
    for start in range(0, len(values), _CHUNK):
        session.execute(insert(MonitoringRequestRow), values[start : start + _CHUNK])


def request_info(session: Session, request_ids: Sequence[str]) -> dict[str, list[tuple[int, int, int, int]]]:
    """For each known request id: (model id, version, time, rows scored) of every model that logged it."""
    found: dict[str, list[tuple[int, int, int, int]]] = {}
    for start in range(0, len(request_ids), _CHUNK):
        chunk = list(request_ids[start : start + _CHUNK])
        for model_id, request_id, version, time, rows in session.execute(
            select(
                MonitoringRequestRow.model_id, MonitoringRequestRow.request_id, MonitoringRequestRow.version,
                MonitoringRequestRow.time, MonitoringRequestRow.rows,
            ).where(MonitoringRequestRow.request_id.in_(chunk))
        ):  # fmt: skip
            found.setdefault(request_id, []).append((int(model_id), int(version), int(time), int(rows or 1)))
    return found


def set_labels(session: Session, labels: Sequence[tuple[int, str, int, int, int, str]], now: int) -> None:
    """Labels as (model id, request id, row, version, request time, label as JSON); a row
    labelled again takes the new label."""
    for start in range(0, len(labels), _CHUNK):
        chunk = labels[start : start + _CHUNK]
        session.execute(
            delete(MonitoringLabelRow).where(
                tuple_(MonitoringLabelRow.model_id, MonitoringLabelRow.request_id, MonitoringLabelRow.row).in_(
                    [(m, r, i) for m, r, i, *_ in chunk]
                )
            )
        )
        session.execute(
            insert(MonitoringLabelRow),
            [
                {"model_id": m, "request_id": r, "row": i, "version": v, "time": t, "label": label, "label_time": now}
                for m, r, i, v, t, label in chunk
            ],
        )


def window_labels(session: Session, model_id: int, version: int, start: int, end: int) -> list[tuple[str, int, str]]:
    """(request id, row, label as JSON) of the labelled rows of a window."""
    rows = session.execute(
        select(MonitoringLabelRow.request_id, MonitoringLabelRow.row, MonitoringLabelRow.label).where(
            MonitoringLabelRow.model_id == model_id,
            MonitoringLabelRow.version == version,
            MonitoringLabelRow.time >= start,
            MonitoringLabelRow.time < end,
        )
    )
    return [(str(r), int(i), str(label)) for r, i, label in rows]


def delete_requests_before(session: Session, before: int) -> int:
    session.execute(delete(MonitoringLabelRow).where(MonitoringLabelRow.time < before))
    result = session.execute(delete(MonitoringRequestRow).where(MonitoringRequestRow.time < before))
    return int(rowcount(result))


# ----------------------------------------------------------------------------- log files
def insert_log_file(
    session: Session, model_id: int, version: int, key: str, rows: int, span: tuple[int, int], now: int
) -> None:
    session.add(
        MonitoringLogFileRow(
            model_id=model_id, version=version, key=key, rows=rows, min_time=span[0], max_time=span[1],
            creation_time=now,
        )
    )  # fmt: skip


def log_files(session: Session, model_id: int, version: int, start: int, end: int) -> list[str]:
    return list(
        session.scalars(
            select(MonitoringLogFileRow.key)
            .where(
                MonitoringLogFileRow.model_id == model_id,
                MonitoringLogFileRow.version == version,
                MonitoringLogFileRow.min_time < end,
                MonitoringLogFileRow.max_time >= start,
            )
            .order_by(MonitoringLogFileRow.id)
        )
    )


def next_logged_time(session: Session, model_id: int, version: int, after: int) -> int | None:
    """The first time at or after ``after`` that a log file of the version covers (None: none)."""
    same = (MonitoringLogFileRow.model_id == model_id, MonitoringLogFileRow.version == version)
    spanning = session.scalar(
        select(func.count())
        .select_from(MonitoringLogFileRow)
        .where(*same, MonitoringLogFileRow.min_time < after, MonitoringLogFileRow.max_time >= after)
    )
    if spanning:
        return after
    value = session.scalar(
        select(func.min(MonitoringLogFileRow.min_time)).where(*same, MonitoringLogFileRow.min_time >= after)
    )
    return int(value) if value is not None else None


def log_files_before(session: Session, before: int) -> list[tuple[int, str]]:
    return [(i, k) for i, k in session.execute(
        select(MonitoringLogFileRow.id, MonitoringLogFileRow.key).where(MonitoringLogFileRow.max_time < before)
    )]  # fmt: skip


def delete_log_files(session: Session, ids: Sequence[int]) -> None:
    if ids:
        session.execute(delete(MonitoringLogFileRow).where(MonitoringLogFileRow.id.in_(list(ids))))


def logged_spans(session: Session) -> list[tuple[int, str, int, int, int]]:
    """(model id, model name, version, first time, last time) of every version with logs."""
    rows = session.execute(
        select(
            MonitoringLogFileRow.model_id,
            RegisteredModelRow.name,
            MonitoringLogFileRow.version,
            func.min(MonitoringLogFileRow.min_time),
            func.max(MonitoringLogFileRow.max_time),
        )
        .join(RegisteredModelRow, RegisteredModelRow.id == MonitoringLogFileRow.model_id)
        .group_by(MonitoringLogFileRow.model_id, RegisteredModelRow.name, MonitoringLogFileRow.version)
    )
    return [(m, n, v, lo, hi) for m, n, v, lo, hi in rows]


def logged_versions(session: Session, model_id: int) -> list[int]:
    return sorted(
        session.scalars(
            select(MonitoringLogFileRow.version).where(MonitoringLogFileRow.model_id == model_id).distinct()
        )
    )


# ----------------------------------------------------------------------------- windows
def _window(row: MonitoringWindowRow, model: str) -> Window:
    result = json.loads(row.result) if row.result else None
    return Window(row.id, model, row.version, row.start_time, row.end_time, row.status, result, row.computed_time)


def claim_window(
    session: Session, model_id: int, version: int, span: tuple[int, int], owner: str, now: int, lease_ms: int
) -> int | None:
    """Insert the window's claim row (or take over an expired claim); None when another process
    holds it or has computed it."""
    start, end = span
    try:
        with session.begin_nested():
            row = MonitoringWindowRow(
                model_id=model_id, version=version, start_time=start, end_time=end, status="claimed",
                claimed_by=owner, lease_until=now + lease_ms, started_time=now,
            )  # fmt: skip
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:
        pass
    result = session.execute(
        update(MonitoringWindowRow)
        .where(
            MonitoringWindowRow.model_id == model_id,
            MonitoringWindowRow.version == version,
            MonitoringWindowRow.start_time == start,
            MonitoringWindowRow.end_time == end,
            MonitoringWindowRow.status == "claimed",
            MonitoringWindowRow.lease_until < now,
        )
        .values(claimed_by=owner, lease_until=now + lease_ms, started_time=now)
        .returning(MonitoringWindowRow.id)
    ).first()
    return int(result[0]) if result else None


def finish_window(session: Session, window_id: int, result: Mapping[str, object], now: int) -> None:
    session.execute(
        update(MonitoringWindowRow)
        .where(MonitoringWindowRow.id == window_id)
        .values(status="done", result=json.dumps(result, sort_keys=True, allow_nan=False), computed_time=now)
    )


def _changed() -> Any:
    return (
        (MonitoringWindowRow.status == "done")
        & MonitoringWindowRow.changed_time.is_not(None)
        & or_(
            MonitoringWindowRow.started_time.is_(None),
            MonitoringWindowRow.changed_time >= MonitoringWindowRow.started_time,
        )
    )


def mark_changed(session: Session, model_id: int, version: int, times: Sequence[int], now: int) -> int:
    """Note that logs or labels arrived for the windows of a version holding any of ``times``
    (ms); such a window, once done, is computed again. Returns how many windows were marked."""
    if not times:
        return 0
    ordered = sorted(set(times))
    found = session.execute(
        select(MonitoringWindowRow.id, MonitoringWindowRow.start_time, MonitoringWindowRow.end_time).where(
            MonitoringWindowRow.model_id == model_id,
            MonitoringWindowRow.version == version,
            MonitoringWindowRow.start_time <= ordered[-1],
            MonitoringWindowRow.end_time > ordered[0],
        )
    ).all()
    import bisect

    hit = [int(i) for i, start, end in found if bisect.bisect_left(ordered, start) < bisect.bisect_left(ordered, end)]
    for begin in range(0, len(hit), _CHUNK):
        session.execute(
            update(MonitoringWindowRow)
            .where(MonitoringWindowRow.id.in_(hit[begin : begin + _CHUNK]))
            .values(changed_time=now)
        )
    return len(hit)


def changed_windows(session: Session, limit: int) -> list[tuple[int, int, str, int, int, int]]:
    """Done windows that logs or labels reached after their computation started:
    (window id, model id, model name, version, start, end)."""
    rows = session.execute(
        select(
            MonitoringWindowRow.id, MonitoringWindowRow.model_id, RegisteredModelRow.name, MonitoringWindowRow.version,
            MonitoringWindowRow.start_time, MonitoringWindowRow.end_time,
        )
        .join(RegisteredModelRow, RegisteredModelRow.id == MonitoringWindowRow.model_id)
        .where(_changed())
        .order_by(MonitoringWindowRow.end_time)
        .limit(limit)
    )  # fmt: skip
    return [(int(i), int(m), str(n), int(v), int(a), int(b)) for i, m, n, v, a, b in rows]


def reclaim_window(session: Session, window_id: int, owner: str, now: int, lease_ms: int) -> bool:
    """Claim a changed window to compute it again; exactly one process succeeds."""
    result = session.execute(
        update(MonitoringWindowRow)
        .where(MonitoringWindowRow.id == window_id, _changed())
        .values(status="claimed", claimed_by=owner, lease_until=now + lease_ms, started_time=now)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def stale_claims(session: Session, now: int, limit: int) -> list[tuple[int, int, str, int, int, int]]:
    """Windows whose claim expired before they were computed (their process stopped), as changed_windows."""
    rows = session.execute(
        select(
            MonitoringWindowRow.id, MonitoringWindowRow.model_id, RegisteredModelRow.name, MonitoringWindowRow.version,
            MonitoringWindowRow.start_time, MonitoringWindowRow.end_time,
        )
        .join(RegisteredModelRow, RegisteredModelRow.id == MonitoringWindowRow.model_id)
        .where(MonitoringWindowRow.status == "claimed", MonitoringWindowRow.lease_until < now)
        .limit(limit)
    )  # fmt: skip
    return [(int(i), int(m), str(n), int(v), int(a), int(b)) for i, m, n, v, a, b in rows]


def last_window_end(session: Session, model_id: int, version: int) -> int | None:
    value = session.scalar(
        select(func.max(MonitoringWindowRow.end_time)).where(
            MonitoringWindowRow.model_id == model_id, MonitoringWindowRow.version == version
        )
    )
    return int(value) if value is not None else None


def windows(
    session: Session, model_id: int, model: str, version: int | None = None, limit: int = 500, *, done: bool = True
) -> list[Window]:
    stmt = select(MonitoringWindowRow).where(MonitoringWindowRow.model_id == model_id)
    if version is not None:
        stmt = stmt.where(MonitoringWindowRow.version == version)
    if done:
        stmt = stmt.where(MonitoringWindowRow.status == "done")
    rows = session.scalars(
        stmt.order_by(MonitoringWindowRow.end_time.desc(), MonitoringWindowRow.id.desc()).limit(limit)
    )
    return [_window(r, model) for r in rows]


# ----------------------------------------------------------------------------- rules
def _rule(row: MonitoringRuleRow, model: str) -> Rule:
    return Rule(row.id, model, row.name, json.loads(row.spec), row.created_by, row.creation_time)


def insert_rule(
    session: Session, model_id: int, model: str, name: str, spec: Mapping[str, object], user: str, now: int
) -> Rule:
    exists = session.scalar(
        select(MonitoringRuleRow.id).where(MonitoringRuleRow.model_id == model_id, MonitoringRuleRow.name == name)
    )
    if exists is not None:
        raise AlreadyExists(f"Model {model!r} already has a monitoring rule named {name!r}.")
    row = MonitoringRuleRow(
        model_id=model_id, name=name, spec=json.dumps(spec, sort_keys=True), created_by=user, creation_time=now
    )
    session.add(row)
    session.flush()
    return _rule(row, model)


def rules(session: Session, model_id: int, model: str) -> list[Rule]:
    rows = session.scalars(
        select(MonitoringRuleRow).where(MonitoringRuleRow.model_id == model_id).order_by(MonitoringRuleRow.id)
    )
    return [_rule(r, model) for r in rows]


def delete_rule(session: Session, model_id: int, model: str, name: str) -> None:
    result = session.execute(
        delete(MonitoringRuleRow).where(MonitoringRuleRow.model_id == model_id, MonitoringRuleRow.name == name)
    )
    if not rowcount(result):
        raise NotFound(f"Model {model!r} has no monitoring rule named {name!r}.")


# ----------------------------------------------------------------------------- alerts
def _alert(row: MonitoringAlertRow, rule: str, model: str) -> Alert:
    return Alert(
        row.id, rule, model, row.version, row.window_id, row.time, row.message, json.loads(row.details),
        row.action_status, row.run_id, row.new_version, row.approval_request_id, row.action_note,
    )  # fmt: skip


def insert_alert(session: Session, model_id: int, rule: Rule, window: Window, message: str, details: Mapping[str, object],
                 *, retrain: bool, now: int) -> int:  # fmt: skip
    row = MonitoringAlertRow(
        rule_id=rule.id, model_id=model_id, version=window.version, window_id=window.id, time=now, message=message,
        details=json.dumps(details, sort_keys=True, default=str), action_status="pending" if retrain else "none",
        lease_until=0,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def alerted(session: Session, rule_id: int, window_id: int) -> bool:
    """Whether the rule already fired on the window (a window computed again alerts once)."""
    found = session.scalar(
        select(MonitoringAlertRow.id).where(
            MonitoringAlertRow.rule_id == rule_id, MonitoringAlertRow.window_id == window_id
        )
    )
    return found is not None


def last_alert_time(session: Session, rule_id: int) -> int | None:
    value = session.scalar(select(func.max(MonitoringAlertRow.time)).where(MonitoringAlertRow.rule_id == rule_id))
    return int(value) if value is not None else None


def alerts(
    session: Session, model_id: int | None = None, limit: int = 200, *, alert_id: int | None = None
) -> list[Alert]:
    stmt = select(MonitoringAlertRow, MonitoringRuleRow.name).join(
        MonitoringRuleRow, MonitoringRuleRow.id == MonitoringAlertRow.rule_id
    )
    if model_id is not None:
        stmt = stmt.where(MonitoringAlertRow.model_id == model_id)
    if alert_id is not None:
        stmt = stmt.where(MonitoringAlertRow.id == alert_id)
    rows = session.execute(stmt.order_by(MonitoringAlertRow.id.desc()).limit(limit)).all()
    names = _model_names(session, (a.model_id for a, _ in rows))
    return [_alert(a, rule, names[a.model_id]) for a, rule in rows]


def claim_pending_alert(session: Session, now: int, lease_ms: int) -> int | None:
    """Take the oldest retraining action that waits (or whose worker went away)."""
    candidate = session.scalar(
        select(MonitoringAlertRow.id)
        .where(
            MonitoringAlertRow.action_status.in_(("pending", "running")),
            MonitoringAlertRow.lease_until < now,
        )
        .order_by(MonitoringAlertRow.id)
        .limit(1)
    )
    if candidate is None:
        return None
    result = session.execute(
        update(MonitoringAlertRow)
        .where(MonitoringAlertRow.id == candidate, MonitoringAlertRow.lease_until < now)
        .values(action_status="running", lease_until=now + lease_ms)
    )
    return int(candidate) if rowcount(result) else None


def update_alert(session: Session, alert_id: int, **values: object) -> None:
    session.execute(update(MonitoringAlertRow).where(MonitoringAlertRow.id == alert_id).values(**values))


def rule_of_alert(session: Session, alert_id: int) -> dict[str, Any]:
    spec = session.scalar(
        select(MonitoringRuleRow.spec)
        .join(MonitoringAlertRow, MonitoringAlertRow.rule_id == MonitoringRuleRow.id)
        .where(MonitoringAlertRow.id == alert_id)
    )
    if spec is None:
        raise NotFound(f"Alert {alert_id} not found.")
    return dict(json.loads(spec))
