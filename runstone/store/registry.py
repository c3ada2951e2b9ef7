"""Model registry repository: registered models, versions, tags, aliases, assignment history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runstone.entities import Assignment, ModelVersion, PackageManifest, RegisteredModel
from runstone.errors import AlreadyExists, InvalidInput, NotFound
from runstone.store import paging
from runstone.store import version_manifests as manifests
from runstone.store.engine import rowcount
from runstone.store.search import number_condition, string_condition
from runstone.store.tables import (
    AssignmentRow,
    ModelAliasRow,
    ModelVersionRow,
    ModelVersionTagRow,
    RegisteredModelRow,
    RegisteredModelTagRow,
)
from runstone.store.upsert import upsert

if TYPE_CHECKING:
    from runstone.tracking.search import Comparison


@dataclass(frozen=True)
class ModelRef:
    """What services need to know of a registered model row, without the row."""

    id: int
    name: str
    policy: str | None


@dataclass(frozen=True)
class VersionRef:
    id: int
    model_id: int
    version: int
    stage: str
    source: str
    run_uuid: str | None
    description: str
    manifest_digest: str | None = None


def _model_ref(row: RegisteredModelRow) -> ModelRef:
    return ModelRef(row.id, row.name, row.policy)


def _version_ref(row: ModelVersionRow) -> VersionRef:
    return VersionRef(
        row.id, row.model_id, row.version, row.stage, row.source, row.run_uuid, row.description, row.manifest_digest
    )


# ----------------------------------------------------------------- registered models
def insert_model(session: Session, name: str, description: str, tags: dict[str, str], user: str, now: int) -> int:
    if session.scalar(select(RegisteredModelRow.id).where(RegisteredModelRow.name == name)) is not None:
        raise AlreadyExists(f"Registered model {name!r} already exists.")
    row = RegisteredModelRow(
        name=name, description=description, created_by=user, creation_time=now, last_update_time=now
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # a concurrent request created the name after the check above
        raise AlreadyExists(f"Registered model {name!r} already exists.") from None
    if tags:
        set_model_tags(session, row.id, tags)
    return row.id


def model_row(session: Session, name: str, *, lock: bool = False) -> ModelRef:
    stmt = select(RegisteredModelRow).where(RegisteredModelRow.name == name)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(f"Registered model {name!r} not found.")
    return _model_ref(row)


def model_by_id(session: Session, model_id: int) -> ModelRef:
    row = session.get(RegisteredModelRow, model_id)
    if row is None:
        raise NotFound(f"Registered model {model_id} not found.")
    return _model_ref(row)


def update_model(session: Session, model_id: int, now: int, **values: object) -> None:
    try:
        with session.begin_nested():
            session.execute(
                update(RegisteredModelRow)
                .where(RegisteredModelRow.id == model_id)
                .values(last_update_time=now, **values)
            )
    except IntegrityError:  # only the name is unique: a concurrent request took it first
        raise AlreadyExists(f"Registered model {values.get('name')!r} already exists.") from None


def delete_model(session: Session, model_id: int) -> None:
    session.execute(delete(RegisteredModelRow).where(RegisteredModelRow.id == model_id))


def set_model_tags(session: Session, model_id: int, tags: dict[str, str]) -> None:
    upsert(
        session,
        RegisteredModelTagRow.__table__,
        [{"model_id": model_id, "key": k, "value": v} for k, v in tags.items()],
        keys=["model_id", "key"],
        update=["value"],
    )


def delete_model_tag(session: Session, model_id: int, name: str, key: str) -> None:
    result = session.execute(
        delete(RegisteredModelTagRow).where(
            RegisteredModelTagRow.model_id == model_id, RegisteredModelTagRow.key == key
        )
    )
    if not rowcount(result):
        raise NotFound(f"Registered model {name!r} has no tag {key!r}.")


def touch_model(session: Session, model_id: int, now: int) -> None:
    session.execute(update(RegisteredModelRow).where(RegisteredModelRow.id == model_id).values(last_update_time=now))


def load_models(session: Session, refs: Sequence[ModelRef]) -> list[RegisteredModel]:
    ids = [r.id for r in refs]
    if not ids:
        return []
    by_id = {r.id: r for r in session.scalars(select(RegisteredModelRow).where(RegisteredModelRow.id.in_(ids)))}
    rows = [by_id[i] for i in ids]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    for model_id, key, value in session.execute(
        select(RegisteredModelTagRow.model_id, RegisteredModelTagRow.key, RegisteredModelTagRow.value).where(
            RegisteredModelTagRow.model_id.in_(ids)
        )
    ):
        tags[model_id][key] = value
    aliases: dict[int, dict[str, str]] = defaultdict(dict)
    for model_id, alias, version in session.execute(
        select(ModelAliasRow.model_id, ModelAliasRow.alias, ModelAliasRow.version)
        .where(ModelAliasRow.model_id.in_(ids))
        .order_by(ModelAliasRow.alias)
    ):
        aliases[model_id][alias] = str(version)
    # The latest version in each stage, as MLflow's latest_versions.
    latest = (
        select(ModelVersionRow.model_id, ModelVersionRow.stage, func.max(ModelVersionRow.version).label("version"))
        .where(ModelVersionRow.model_id.in_(ids))
        .group_by(ModelVersionRow.model_id, ModelVersionRow.stage)
        .subquery()
    )
    latest_rows = session.scalars(
        select(ModelVersionRow).join(
            latest, (latest.c.model_id == ModelVersionRow.model_id) & (latest.c.version == ModelVersionRow.version)
        )
    ).all()
    ordered = [_version_ref(v) for v in sorted(latest_rows, key=lambda v: v.version)]
    latest_by_model: dict[int, list[ModelVersion]] = defaultdict(list)
    for row, loaded in zip(ordered, load_versions(session, ordered), strict=True):
        latest_by_model[row.model_id].append(loaded)
    return [
        RegisteredModel(
            name=r.name,
            creation_timestamp=r.creation_time,
            last_updated_timestamp=r.last_update_time,
            description=r.description,
            user_id=r.created_by,
            tags=tags[r.id],
            aliases=aliases[r.id],
            latest_versions=latest_by_model[r.id],
        )
        for r in rows
    ]


def search_models(
    session: Session,
    comparisons: list[Comparison],
    order_by: list[tuple[str, bool]],
    max_results: int,
    page_token: str | None,
    only: Collection[str] | None = None,
) -> tuple[list[ModelRef], str | None]:
    """``only``: the names of the models the caller may read (None: every one)."""
    stmt = select(RegisteredModelRow)
    if only is not None:
        stmt = stmt.where(RegisteredModelRow.name.in_(list(only)))
    for c in comparisons:
        if c.entity == "tag":
            stmt = stmt.where(
                RegisteredModelRow.id.in_(
                    select(RegisteredModelTagRow.model_id).where(
                        RegisteredModelTagRow.key == c.key, string_condition(RegisteredModelTagRow.value, c.op, c.value)
                    )
                )
            )
        elif c.key == "name":
            stmt = stmt.where(string_condition(RegisteredModelRow.name, c.op, c.value))
        else:
            raise InvalidInput(f"Registered models can be filtered by name and tags, not {c.key!r}.")
    columns = {
        "name": RegisteredModelRow.name,
        "creation_timestamp": RegisteredModelRow.creation_time,
        "last_updated_timestamp": RegisteredModelRow.last_update_time,
        "timestamp": RegisteredModelRow.last_update_time,
    }
    sort: list[paging.SortKey] = []
    for field, ascending in order_by:
        if field not in columns:
            raise InvalidInput(
                f"Cannot order registered models by {field!r}; use name, creation_timestamp or last_updated_timestamp."
            )
        sort.append((columns[field], ascending))
    sort.append((RegisteredModelRow.name, True))  # unique
    query = paging.fingerprint("registered models", comparisons, order_by)
    rows, token = paging.page(session, stmt, sort, max_results=max_results, page_token=page_token, query=query)
    return [_model_ref(r) for r in rows], token


# ------------------------------------------------------------------------ versions
def next_version(session: Session, model_id: int) -> int:
    current = session.scalar(select(func.max(ModelVersionRow.version)).where(ModelVersionRow.model_id == model_id))
    return (current or 0) + 1


def insert_version(
    session: Session,
    *,
    model_id: int,
    version: int,
    source: str,
    run_uuid: str | None,
    description: str,
    tags: dict[str, str],
    user: str,
    now: int,
) -> VersionRef:
    """A new version, with the manifest of the files its source holds now."""
    manifest = manifests.package_files(session, source)
    row = ModelVersionRow(
        manifest=manifests.encode(manifest),
        manifest_digest=manifest.digest,
        model_id=model_id,
        version=version,
        source=source,
        run_uuid=run_uuid,
        status="READY",
        stage="None",
        description=description,
        created_by=user,
        creation_time=now,
        last_update_time=now,
    )
    session.add(row)
    session.flush()
    if tags:
        set_version_tags(session, row.id, tags)
    return _version_ref(row)


def version_manifest(session: Session, ref: VersionRef) -> PackageManifest:
    """The manifest recorded for a version when it was registered (or by `runstone db upgrade`)."""
    text = session.scalar(select(ModelVersionRow.manifest).where(ModelVersionRow.id == ref.id))
    return manifests.decode(text) if text is not None else manifests.package_files(session, ref.source)


# The largest value of the INTEGER columns that hold version numbers and request ids.
MAX_INTEGER = 2**31 - 1


def parse_version(version: str | int) -> int:
    try:
        number = int(str(version))
    except ValueError:
        raise InvalidInput(f"Model version must be a positive integer, got {version!r}.") from None
    if number < 1:
        raise InvalidInput(f"Model version must be a positive integer, got {version!r}.")
    return number


def version_row(session: Session, model: ModelRef, version: str | int) -> VersionRef:
    number = parse_version(version)
    row = None
    if number <= MAX_INTEGER:  # larger numbers are never stored, and SQLite cannot even bind them
        row = session.scalars(
            select(ModelVersionRow).where(ModelVersionRow.model_id == model.id, ModelVersionRow.version == number)
        ).first()
    if row is None:
        raise NotFound(f"Model version {version} of registered model {model.name!r} not found.")
    return _version_ref(row)


def update_version(session: Session, version_id: int, now: int, **values: object) -> None:
    session.execute(
        update(ModelVersionRow).where(ModelVersionRow.id == version_id).values(last_update_time=now, **values)
    )


def delete_version(session: Session, version_id: int) -> None:
    session.execute(delete(ModelVersionRow).where(ModelVersionRow.id == version_id))


def set_version_tags(session: Session, version_id: int, tags: dict[str, str]) -> None:
    upsert(
        session,
        ModelVersionTagRow.__table__,
        [{"version_id": version_id, "key": k, "value": v} for k, v in tags.items()],
        keys=["version_id", "key"],
        update=["value"],
    )


def delete_version_tag(session: Session, row: VersionRef, key: str) -> None:
    result = session.execute(
        delete(ModelVersionTagRow).where(ModelVersionTagRow.version_id == row.id, ModelVersionTagRow.key == key)
    )
    if not rowcount(result):
        raise NotFound(f"Model version {row.version} has no tag {key!r}.")


def load_versions(session: Session, refs: Sequence[VersionRef]) -> list[ModelVersion]:
    """Whole version entities for refs, in their order, in a fixed number of queries."""
    ids = [r.id for r in refs]
    if not ids:
        return []
    by_id = {r.id: r for r in session.scalars(select(ModelVersionRow).where(ModelVersionRow.id.in_(ids)))}
    rows = [by_id[i] for i in ids]
    names = dict(
        session.execute(
            select(RegisteredModelRow.id, RegisteredModelRow.name).where(
                RegisteredModelRow.id.in_({r.model_id for r in rows})
            )
        ).all()
    )
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    aliases: dict[tuple[int, int], list[str]] = defaultdict(list)
    if ids:
        for version_id, key, value in session.execute(
            select(ModelVersionTagRow.version_id, ModelVersionTagRow.key, ModelVersionTagRow.value).where(
                ModelVersionTagRow.version_id.in_(ids)
            )
        ):
            tags[version_id][key] = value
        model_ids = {r.model_id for r in rows}
        for model_id, alias, version in session.execute(
            select(ModelAliasRow.model_id, ModelAliasRow.alias, ModelAliasRow.version)
            .where(ModelAliasRow.model_id.in_(model_ids))
            .order_by(ModelAliasRow.alias)
        ):
            aliases[(model_id, version)].append(alias)
    return [
        ModelVersion(
            name=names[r.model_id],
            version=str(r.version),
            creation_timestamp=r.creation_time,
            last_updated_timestamp=r.last_update_time,
            current_stage=r.stage,
            description=r.description,
            source=r.source,
            run_id=r.run_uuid,
            status=r.status,
            user_id=r.created_by,
            tags=tags[r.id],
            aliases=aliases[(r.model_id, r.version)],
            manifest_digest=r.manifest_digest,
        )
        for r in rows
    ]


def versions_in_stage(session: Session, model_id: int, stage: str) -> list[VersionRef]:
    """The versions of a model in a stage, newest first."""
    rows = session.scalars(
        select(ModelVersionRow)
        .where(ModelVersionRow.model_id == model_id, ModelVersionRow.stage == stage)
        .order_by(ModelVersionRow.version.desc())
    )
    return [_version_ref(r) for r in rows]


def model_versions(session: Session, model_id: int) -> list[VersionRef]:
    rows = session.scalars(
        select(ModelVersionRow).where(ModelVersionRow.model_id == model_id).order_by(ModelVersionRow.version.desc())
    )
    return [_version_ref(r) for r in rows]


def search_versions(
    session: Session,
    comparisons: list[Comparison],
    order_by: list[tuple[str, bool]],
    max_results: int,
    page_token: str | None,
    only: Collection[str] | None = None,
) -> tuple[list[VersionRef], str | None]:
    stmt = select(ModelVersionRow).join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
    if only is not None:
        stmt = stmt.where(RegisteredModelRow.name.in_(list(only)))
    for c in comparisons:
        if c.entity == "tag":
            stmt = stmt.where(
                ModelVersionRow.id.in_(
                    select(ModelVersionTagRow.version_id).where(
                        ModelVersionTagRow.key == c.key, string_condition(ModelVersionTagRow.value, c.op, c.value)
                    )
                )
            )
            continue
        if c.key == "version_number":
            stmt = stmt.where(number_condition(ModelVersionRow.version, c.op, c.number()))
            continue
        column = {
            "name": RegisteredModelRow.name,
            "run_id": ModelVersionRow.run_uuid,
            "source_path": ModelVersionRow.source,
            "current_stage": ModelVersionRow.stage,
        }.get(c.key)
        if column is None:
            raise InvalidInput(
                f"Model versions can be filtered by name, version_number, run_id, source_path, current_stage "
                f"and tags, not {c.key!r}."
            )
        stmt = stmt.where(string_condition(column, c.op, c.value))
    columns = {
        "name": RegisteredModelRow.name,
        "version_number": ModelVersionRow.version,
        "creation_timestamp": ModelVersionRow.creation_time,
        "last_updated_timestamp": ModelVersionRow.last_update_time,
    }
    sort: list[paging.SortKey] = []
    for field, ascending in order_by:
        if field not in columns:
            raise InvalidInput(
                f"Cannot order model versions by {field!r}; use name, version_number, creation_timestamp or "
                "last_updated_timestamp."
            )
        sort.append((columns[field], ascending))
    if not order_by:
        sort.append((ModelVersionRow.last_update_time, False))
    sort += [(RegisteredModelRow.name, True), (ModelVersionRow.version, False)]  # unique together
    query = paging.fingerprint("model versions", comparisons, order_by)
    rows, token = paging.page(session, stmt, sort, max_results=max_results, page_token=page_token, query=query)
    return [_version_ref(r) for r in rows], token


# ------------------------------------------------------------------------- aliases
def alias_version(session: Session, model_id: int, alias: str) -> int | None:
    return session.scalar(
        select(ModelAliasRow.version).where(ModelAliasRow.model_id == model_id, ModelAliasRow.alias == alias)
    )


def set_alias(session: Session, model_id: int, alias: str, version: int) -> None:
    upsert(
        session,
        ModelAliasRow.__table__,
        [{"model_id": model_id, "alias": alias, "version": version}],
        keys=["model_id", "alias"],
        update=["version"],
    )


def delete_alias(session: Session, model_id: int, alias: str) -> None:
    session.execute(delete(ModelAliasRow).where(ModelAliasRow.model_id == model_id, ModelAliasRow.alias == alias))


def aliases_of_version(session: Session, model_id: int, version: int) -> list[str]:
    return list(
        session.scalars(
            select(ModelAliasRow.alias).where(ModelAliasRow.model_id == model_id, ModelAliasRow.version == version)
        )
    )


# ------------------------------------------------------------------------ history
def record_assignment(
    session: Session,
    *,
    model_id: int,
    kind: str,
    target: str,
    version: int | None,
    previous_version: int | None,
    actor: str,
    reason: str,
    request_id: int | None,
    now: int,
    rollback: bool = False,
) -> None:
    session.add(
        AssignmentRow(
            is_rollback=rollback,
            model_id=model_id,
            kind=kind,
            target=target,
            version=version,
            previous_version=previous_version,
            actor=actor,
            reason=reason,
            request_id=request_id,
            time=now,
        )
    )
    session.flush()


def assignments(
    session: Session, model_id: int, *, kind: str | None = None, target: str | None = None, until: int | None = None
) -> list[Assignment]:
    stmt = select(AssignmentRow).where(AssignmentRow.model_id == model_id)
    if kind:
        stmt = stmt.where(AssignmentRow.kind == kind)
    if target:
        stmt = stmt.where(AssignmentRow.target == target)
    if until is not None:
        stmt = stmt.where(AssignmentRow.time <= until)
    return [
        Assignment(
            kind=r.kind,
            target=r.target,
            version=None if r.version is None else str(r.version),
            previous_version=None if r.previous_version is None else str(r.previous_version),
            actor=r.actor,
            reason=r.reason,
            time=r.time,
            request_id=r.request_id,
            rollback=r.is_rollback,
        )
        for r in session.scalars(stmt.order_by(AssignmentRow.time, AssignmentRow.id))
    ]
