"""The files a registered model version holds, and the versions that hold an artifact path.

A version's package is the folder its source names: ``runs:/<run id>/<path>`` (the run's
artifacts at or below ``path``) or ``models:/m-<id>`` (all of a logged model's artifacts). Its
manifest is read from the SHA-256 recorded when each file was logged, never from the bytes in
storage now, so a file altered in storage before registration still shows as altered.
"""

from __future__ import annotations

import json
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from runstone.entities import ManifestFile, PackageManifest
from runstone.store import raw
from runstone.store.tables import (
    ArtifactRow,
    LoggedModelArtifactRow,
    LoggedModelRow,
    ModelVersionRow,
    RegisteredModelRow,
    RunRow,
)

_RUNS = re.compile(r"^runs:/(?P<run>[0-9a-f]{32})/(?P<path>.*)$")
_LOGGED = re.compile(r"^models:/(?P<id>m-[0-9a-f]{32})/?$")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def source_path(source: str) -> tuple[str, str] | None:
    """(run id, path inside its artifacts) of a runs:/ source, else None."""
    match = _RUNS.match(source)
    return None if match is None else (match["run"], match["path"].strip("/"))


def package_files(session: Session, source: str) -> PackageManifest:
    """The files of the package ``source`` names, as recorded in the artifact manifests."""
    files: list[ManifestFile] = []
    if (run := source_path(source)) is not None:
        run_id, path = run
        stmt = select(ArtifactRow.path, ArtifactRow.size, ArtifactRow.sha256).join(
            RunRow, RunRow.id == ArtifactRow.run_id
        )
        stmt = stmt.where(RunRow.uuid == run_id)
        if path:
            stmt = stmt.where(ArtifactRow.path.like(_escape_like(path) + "/%", escape="\\"))
        start = len(path) + 1 if path else 0
        files = [ManifestFile(p[start:], size, sha) for p, size, sha in session.execute(stmt)]
    elif (logged := _LOGGED.match(source)) is not None:
        stmt = (
            select(LoggedModelArtifactRow.path, LoggedModelArtifactRow.size, LoggedModelArtifactRow.sha256)
            .join(LoggedModelRow, LoggedModelRow.id == LoggedModelArtifactRow.model_pk)
            .where(LoggedModelRow.model_id == logged["id"])
        )
        files = [ManifestFile(p, size, sha) for p, size, sha in session.execute(stmt)]
    return PackageManifest(tuple(sorted(files, key=lambda f: f.path)))


def encode(manifest: PackageManifest) -> str:
    return json.dumps([[f.path, f.size, f.sha256] for f in manifest.files], separators=(",", ":"))


def decode(text: str) -> PackageManifest:
    return PackageManifest(tuple(ManifestFile(p, int(size), sha) for p, size, sha in json.loads(text)))


def _overlaps(held: str, path: str) -> bool:
    """Whether changing ``path`` ('' = everything) touches the package folder ``held``."""
    return not path or not held or held == path or held.startswith(path + "/") or path.startswith(held + "/")


def run_holders(session: Session, run_id: str, path: str) -> list[tuple[str, int]]:
    """(model, version) of the registered versions whose package in run ``run_id`` a change at
    ``path`` would touch."""
    # Straight to the driver: every artifact upload asks. Both halves use the run_uuid index:
    # versions of this run, and the few with no run recorded (imported without one) whose source
    # still names it. Their source's start is compared, not matched with LIKE: SQLite prepares a
    # statement with a bound LIKE pattern again for every new pattern (about 20 µs).
    start = f"runs:/{run_id}/"
    rows = raw.rows(
        session,
        "SELECT m.name, v.version, v.source FROM model_versions v JOIN registered_models m ON m.id = v.model_id "
        "WHERE v.run_uuid = ? OR (v.run_uuid IS NULL AND substr(v.source, 1, ?) = ?) ORDER BY v.id",
        (run_id, len(start), start),
    )
    found = []
    for name, version, source in rows:
        held = source_path(source)
        if held is not None and held[0] == run_id and _overlaps(held[1], path):
            found.append((name, version))
    return found


def logged_model_holders(session: Session, model_id: str) -> list[tuple[str, int]]:
    """(model, version) of the registered versions made from logged model ``model_id``."""
    rows = session.execute(
        select(RegisteredModelRow.name, ModelVersionRow.version)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .where(ModelVersionRow.source.in_([f"models:/{model_id}", f"models:/{model_id}/"]))
        .order_by(ModelVersionRow.id)
    )
    return [(name, version) for name, version in rows]


def registered_packages(session: Session) -> dict[str, tuple[str, int]]:
    """The runs (by id) and logged models (by ``m-`` id) that hold a registered version's
    package, each with one (model, version) that it holds."""
    rows = session.execute(
        select(RegisteredModelRow.name, ModelVersionRow.version, ModelVersionRow.source)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .order_by(ModelVersionRow.id)
    )
    held: dict[str, tuple[str, int]] = {}
    for name, version, source in rows:
        run = source_path(source)
        logged = _LOGGED.match(source)
        owner = run[0] if run is not None else logged["id"] if logged is not None else None
        if owner is not None:
            held.setdefault(owner, (name, version))
    return held
