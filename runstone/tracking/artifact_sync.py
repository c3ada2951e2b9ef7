"""Flushing small artifact files whose bytes the database holds until they are on disk.

A server answers a small upload once the file is in place (not yet flushed) and its bytes are
committed with its manifest row: one flush, the database's commit, makes the 2xx durable. This
module then makes the files themselves durable, in the background and many at a time, and forgets
their bytes. When a server starts, it first does the same for whatever an earlier process left,
writing again from the database any file whose bytes never reached the disk (a power cut).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from runstone.artifacts.base import ArtifactStore, join_key
from runstone.governance.context import Context
from runstone.store import artifact_manifest as manifest

log = logging.getLogger("runstone.artifacts")
BATCH = 200
INTERVAL_SECONDS = 0.5
# Set when this process kept a file's bytes: the background pass has work (files that other
# processes keep are theirs to flush, or the next start's).
_kept = threading.Event()


def kept() -> None:
    """Tell the background pass that a file's bytes were kept."""
    _kept.set()


def _holds(store: ArtifactStore, key: str, sha256: str) -> bool:
    path: Path | None = store.local_path(key)
    if path is None:
        return False
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


class Flusher:
    """Flushes pending small files; ``run_once`` is one pass over all of them."""

    def __init__(self, context: Callable[[], Context], store: ArtifactStore) -> None:
        self.context = context
        self.store = store
        # Files found with other bytes than recorded on the last pass. A file being replaced right
        # now is briefly in that state (its new bytes are in place, its new row not yet
        # committed), so a file is written again from the database only when a second pass
        # finds it so too, or at start.
        self._suspects: set[tuple[int, str, str]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, *, restore: bool = False) -> int:
        """Flush every pending file (writing again those that lack their bytes when ``restore``
        or seen so before); how many were settled."""
        flush = getattr(self.store, "flush", None)
        if flush is None:
            return 0
        ctx = self.context()
        settled = 0
        suspects: set[tuple[int, str, str]] = set()
        while True:
            with ctx.transaction() as s:
                rows = manifest.pending_files(s, BATCH)
            done: list[tuple[int, str, str]] = []
            keys: list[str] = []
            for run_id, path, artifact_key, sha256, data in rows:
                key = join_key(artifact_key, path)
                ident = (run_id, path, sha256)
                if not _holds(self.store, key, sha256):
                    if not (restore or ident in self._suspects):
                        suspects.add(ident)
                        continue
                    log.warning(
                        "Artifact file %s of run %s lost its bytes before they reached the disk; writing it again.",
                        path,
                        run_id,
                    )
                    self.store.write(key, [data])
                keys.append(key)
                done.append(ident)
            if keys:
                flush(keys)
            if done:
                with ctx.transaction(write=True) as s:
                    manifest.settle(s, done)
            settled += len(done)
            if len(rows) < BATCH or not done:
                break
        self._suspects = suspects
        return settled

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="runstone-artifact-flush", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not _kept.wait(INTERVAL_SECONDS):
                continue
            if self._stop.wait(INTERVAL_SECONDS):  # let a burst of uploads gather
                break
            _kept.clear()
            try:
                self.run_once()
            except Exception:  # the bytes stay in the database; the next pass retries
                log.exception("Flushing small artifact files failed; retrying.")
                _kept.set()
            if self._suspects:
                _kept.set()  # look at them again on the next pass

    def stop(self) -> None:
        """Stop the background pass and flush what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            self.run_once()
        except Exception:  # the bytes stay in the database; the next start flushes them
            log.exception("Flushing small artifact files at shutdown failed; the next start will.")
