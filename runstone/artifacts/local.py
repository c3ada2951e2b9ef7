"""Artifacts in a local folder: temporary name, SHA-256, fsync, rename into place."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from runstone.artifacts.base import CHUNK, Stored
from runstone.errors import InvalidInput, NotFound


class LocalArtifactStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root_uri = self.root.as_uri()
        self._tmp = self.root / ".tmp"
        _sweep(self._tmp)

    def _resolve(self, key: str) -> Path:
        target = (self.root / key).resolve()
        if target != self.root and self.root not in target.parents:
            raise InvalidInput(f"Artifact key {key!r} leaves the artifact root.")
        return target

    def write(self, key: str, chunks: Iterable[bytes]) -> Stored:
        target = self._resolve(key)
        if target.is_dir():
            raise InvalidInput(f"Artifact {key!r} is a folder; it cannot be overwritten by a file.")
        self._tmp.mkdir(exist_ok=True)
        tmp = self._tmp / uuid.uuid4().hex
        digest = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return Stored(size, digest.hexdigest())

    def write_file(self, key: str, path: Path) -> Stored:
        with open(path, "rb") as src:
            return self.write(key, iter(lambda: src.read(CHUNK), b""))

    def read(self, key: str) -> Iterator[bytes]:
        target = self._resolve(key)
        if not target.is_file():
            raise NotFound(f"No artifact at {key!r}.")
        return _chunks(target)

    def exists(self, key: str) -> bool:
        return self._resolve(key).is_file()

    def delete_prefix(self, prefix: str) -> None:
        target = self._resolve(prefix)
        if target == self.root:
            raise InvalidInput("Refusing to delete the whole artifact root.")
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        target = self._resolve(key)
        return target if target.is_file() else None


_STALE_SECONDS = 24 * 3600


def _sweep(tmp: Path) -> None:
    """Remove temporary files that a crashed writer left behind (older than a day: a live
    upload may still be writing the newer ones)."""
    if not tmp.is_dir():
        return
    cutoff = time.time() - _STALE_SECONDS
    for leftover in tmp.iterdir():
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            pass


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as src:
        while chunk := src.read(CHUNK):
            yield chunk


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
