"""Artifacts of runs: stored under server-generated keys, recorded with size and SHA-256.

The client names a path *inside* the run (``plots/loss.png``); where the bytes go is decided
here, from the run's artifact key. Paths are decoded once by the HTTP layer and checked by
:func:`runstone.artifacts.base.clean_path`, so nothing can escape the run's root.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runstone.artifacts.base import ArtifactStore, Stored, clean_path, join_key
from runstone.entities import FileInfo, LifecycleStage
from runstone.errors import Immutable, InvalidInput, InvalidState, NotFound, PayloadTooLarge
from runstone.governance.context import Context
from runstone.limits import MAX_ARTIFACT_BYTES, MAX_RUN_ARTIFACT_BYTES
from runstone.store import artifact_manifest as manifest
from runstone.store import runs as run_store
from runstone.store import version_manifests
from runstone.tracking import artifact_sync

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from runstone.artifacts.local import Staged


@dataclass(frozen=True)
class ArtifactLimits:
    """The operator's limits on stored artifacts (settings max_artifact_bytes, max_run_artifact_bytes)."""

    file_bytes: int = MAX_ARTIFACT_BYTES
    owner_bytes: int = MAX_RUN_ARTIFACT_BYTES

    def bounded(self, chunks: Iterable[bytes], owner: str, held: int) -> Iterator[bytes]:
        """``chunks``, raising 413 inside the store's write (which then keeps nothing of the file)
        once they pass the per-file limit or what ``owner``, holding ``held`` bytes besides this
        file, may still take."""
        received = 0
        for chunk in chunks:
            received += len(chunk)
            self.check(received, owner, held)
            yield chunk

    def check(self, size: int, owner: str, held: int) -> None:
        """Raise 413 when a file of ``size`` bytes passes the per-file limit or what ``owner``,
        holding ``held`` bytes besides it, may still take."""
        if size > self.file_bytes:
            raise PayloadTooLarge(
                f"Artifact is larger than the limit of {self.file_bytes} bytes per file (RUNSTONE_MAX_ARTIFACT_BYTES).",
                {"limit": self.file_bytes, "setting": "max_artifact_bytes"},
            )
        if size > self.owner_bytes - held:
            raise PayloadTooLarge(
                f"{owner} would hold more than its limit of {self.owner_bytes} bytes of artifacts "
                f"(RUNSTONE_MAX_RUN_ARTIFACT_BYTES); it holds {held} bytes besides this file.",
                {"limit": self.owner_bytes, "setting": "max_run_artifact_bytes", "held": held},
            )


@dataclass(frozen=True)
class ArtifactFile:
    info: FileInfo
    key: str
    local_path: Path | None


# Files up to this size are kept in the database with their manifest row until they are flushed
# (runstone.tracking.artifact_sync), when the service is built with ``defer_flush``.
SMALL_FILE_BYTES = 64 * 1024


def _small(chunks: Iterable[bytes], limit: int) -> tuple[bytes | None, Iterable[bytes]]:
    """The whole of ``chunks`` when it is at most ``limit`` bytes, else None and every chunk."""
    it = iter(chunks)
    head: list[bytes] = []
    size = 0
    for chunk in it:
        head.append(chunk)
        size += len(chunk)
        if size > limit:
            return None, itertools.chain(head, it)
    return b"".join(head), ()


class ArtifactService:
    def __init__(
        self, ctx: Context, store: ArtifactStore, limits: ArtifactLimits | None = None, *, defer_flush: bool = False
    ) -> None:
        self.ctx = ctx
        self.store = store
        self.limits = limits or ArtifactLimits()
        # A server keeps a small file's bytes in the commit of its manifest row and flushes the
        # file later, in the background: one flush per upload instead of three.
        self.defer_flush = defer_flush and hasattr(store, "write_unsynced")

    def _run(self, run_id: str, *, writable: bool) -> tuple[int, str]:
        with self.ctx.transaction() as s:
            return _run_row(s, run_id, writable=writable)

    def artifact_key(self, run_id: str, *, writable: bool = False) -> str:
        """The storage key of the run's artifacts; ``writable`` refuses a deleted run."""
        return self._run(run_id, writable=writable)[1]

    def check_writable(self, run_id: str, path: str) -> None:
        """Refuse a change at ``path`` ('' = all of the run's artifacts) when the run is deleted
        or the path holds (or lies inside) the package of a registered model version."""
        self._run(run_id, writable=True)
        with self.ctx.transaction() as s:
            _refuse_registered(s, run_id, clean_path(path, allow_empty=True))

    def log_artifact(
        self,
        run_id: str,
        path: str,
        chunks: Iterable[bytes],
        *,
        under: str | None = None,
        staged: Staged | None = None,
    ) -> FileInfo:
        """Store one file at ``path`` inside the run's artifacts (replacing an older one).

        ``under``: the artifact key the caller addressed the run by (MLflow's artifact proxy); a
        run stored under another key is not found there. ``staged``: the file's bytes already
        written in the store's temporary folder (its ``stage()``), put in place without a copy;
        ``chunks`` are then not read.
        """
        path = clean_path(path)
        parents = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
        owner = f"Run {run_id}"
        if staged is None and self.defer_flush:
            small, chunks = _small(chunks, SMALL_FILE_BYTES)
            if small is not None:
                # A small file: checked, put in place (not yet flushed) and recorded with its
                # bytes in one write transaction, whose commit is the upload's one flush.
                with self.ctx.transaction(write=True) as s:
                    internal, key, held = _placeable(s, run_id, path, parents, under)
                    self.limits.check(len(small), owner, held)
                    stored = self.store.write_unsynced(join_key(key, path), small)  # type: ignore[attr-defined]
                    self._record(s, run_id, internal, path, stored, pending=small)
                artifact_sync.kept()
                return FileInfo(path, False, stored.size, stored.sha256)
        with self.ctx.transaction() as s:  # one read transaction for every check before the file is written
            internal, key, held = _placeable(s, run_id, path, parents, under)
        adopt = getattr(self.store, "adopt", None) if staged is not None else None
        if staged is not None and adopt is not None:
            self.limits.check(staged.size, owner, held)
            stored = adopt(join_key(key, path), staged)
        else:
            stored = self.store.write(join_key(key, path), self.limits.bounded(chunks, owner, held))
        with self.ctx.transaction(write=True) as s:
            self._record(s, run_id, internal, path, stored)
        return FileInfo(path, False, stored.size, stored.sha256)

    def _record(
        self, s: Session, run_id: str, internal: int, path: str, stored: Stored, *, pending: bytes | None = None
    ) -> None:
        manifest.record(s, internal, path, stored.size, stored.sha256, self.ctx.clock(), pending=pending)
        self.ctx.audit.write(
            s, "run.log_artifact", "run", run_id, None, {"path": path, "size": stored.size, "sha256": stored.sha256}
        )

    def log_file(self, run_id: str, path: str, local_file: Path) -> FileInfo:
        with open(local_file, "rb") as src:
            return self.log_artifact(run_id, path, iter(lambda: src.read(1024 * 1024), b""))

    def list_artifacts(self, run_id: str, path: str = "") -> list[FileInfo]:
        """The files and folders directly inside ``path``, folders with their total size."""
        prefix = clean_path(path, allow_empty=True)
        internal, _ = self._run(run_id, writable=False)
        with self.ctx.transaction() as s:
            files = manifest.files_under(s, internal, prefix)
        return children(files, prefix)

    def files(self, run_id: str, path: str = "") -> list[FileInfo]:
        """Every file at or below ``path``."""
        prefix = clean_path(path, allow_empty=True)
        internal, _ = self._run(run_id, writable=False)
        with self.ctx.transaction() as s:
            found = manifest.files_under(s, internal, prefix)
        if prefix and not found:
            raise NotFound(f"Run {run_id} has no artifact at {prefix!r}.")
        return found

    def files_of_runs(self, run_ids: Sequence[str], path: str = "") -> dict[str, list[FileInfo]]:
        """Every file at or below ``path`` of each of many runs, in one read transaction (a run
        with none there has an empty list); an unknown run is NotFound."""
        prefix = clean_path(path, allow_empty=True)
        wanted = list(dict.fromkeys(run_ids))
        with self.ctx.transaction() as s:
            found = run_store.ids_for_uuids(s, wanted)
            for run_id in wanted:
                if run_id not in found:
                    _run_row(s, run_id, writable=False)  # raises the one NotFound message
            listed = manifest.files_under_runs(s, [found[r] for r in wanted], prefix)
        return {r: listed[found[r]] for r in wanted}

    def open(self, run_id: str, path: str) -> ArtifactFile:
        path = clean_path(path)
        internal, key = self._run(run_id, writable=False)
        with self.ctx.transaction() as s:
            info = manifest.get(s, internal, path)
        if info is None:
            raise NotFound(f"Run {run_id} has no artifact file at {path!r}.")
        full = join_key(key, path)
        return ArtifactFile(info, full, self.store.local_path(full))

    def read(self, artifact: ArtifactFile) -> Iterator[bytes]:
        return self.store.read(artifact.key)

    def open_all(self, run_id: str, path: str = "") -> list[ArtifactFile]:
        """Every file at or below ``path``, ready to read (one run lookup, one query)."""
        prefix = clean_path(path, allow_empty=True)
        found = self.files(run_id, prefix)
        _, key = self._run(run_id, writable=False)
        return [ArtifactFile(f, join_key(key, f.path), None) for f in found]

    def delete_artifacts(self, run_id: str, path: str = "") -> int:
        prefix = clean_path(path, allow_empty=True)
        internal, key = self._run(run_id, writable=True)
        with self.ctx.transaction(write=True) as s:
            _refuse_registered(s, run_id, prefix)
            count = manifest.delete_under(s, internal, prefix)
            if count == 0 and prefix:
                raise NotFound(f"Run {run_id} has no artifact at {prefix!r}.")
            self.ctx.audit.write(s, "run.delete_artifacts", "run", run_id, {"path": prefix, "files": count}, None)
        self.store.delete_prefix(join_key(key, prefix))
        return count


def _run_row(s: Session, run_id: str, *, writable: bool, under: str | None = None, path: str = "") -> tuple[int, str]:
    row = run_store.get_row(s, run_id)
    if under is not None and row.artifact_key != under:
        raise NotFound(f"No run or logged model stores artifacts at {under}/{path}.")
    if writable and row.lifecycle_stage != LifecycleStage.ACTIVE.value:
        raise InvalidState(f"Run {run_id} is deleted; restore it before adding artifacts.")
    return row.id, row.artifact_key


def _placeable(s: Session, run_id: str, path: str, parents: list[str], under: str | None) -> tuple[int, str, int]:
    """Refuse a file at ``path`` of the run (deleted run, registered package, a folder there or
    a file above); the run's internal id, its artifact key and the bytes it holds besides the
    file now at ``path``."""
    internal, key = _run_row(s, run_id, writable=True, under=under, path=path)
    _refuse_registered(s, run_id, path)
    found = manifest.placement(s, internal, path, parents)
    if found.below:
        raise InvalidInput(f"Artifact path {path!r} is a folder of run {run_id}; choose a file path.")
    if found.clash is not None:
        raise InvalidInput(
            f"Artifact path {path!r} lies inside {found.clash!r}, which is a file of run {run_id}; "
            "a file cannot also be a folder."
        )
    return internal, key, found.total - (found.replaced or 0)


def _refuse_registered(s: Session, run_id: str, path: str) -> None:
    held = version_manifests.run_holders(s, run_id, path)
    if held:
        name, version = held[0]
        what = f"Artifact {path!r}" if path else "The artifacts"
        raise Immutable(
            f"{what} of run {run_id} belong{'s' if path else ''} to version {version} of registered model {name!r}, "
            "whose files cannot change once registered. Log the new files in a new run (or under another path) "
            "and register them as a new version.",
            {"registered_model": name, "version": str(version), "run_id": run_id, "path": path},
        )


def children(files: Sequence[FileInfo], prefix: str) -> list[FileInfo]:
    """The entries directly inside ``prefix`` among ``files`` (all at or below it)."""
    if prefix and len(files) == 1 and files[0].path == prefix:
        return [files[0]]
    entries: dict[str, FileInfo] = {}
    start = len(prefix) + 1 if prefix else 0
    for f in files:
        if f.path == prefix:
            continue
        head, sep, _ = f.path[start:].partition("/")
        child = f"{prefix}/{head}" if prefix else head
        if sep:
            prior = entries.get(child)
            entries[child] = FileInfo(
                child, True, (prior.file_size or 0) + (f.file_size or 0) if prior else f.file_size
            )
        else:
            entries[child] = f
    return [entries[k] for k in sorted(entries)]
