"""Artifacts in a local folder: temporary name, SHA-256, fsync, rename into place.

A file being written lives in ``<root>/.tmp`` under a random name, with an exclusive ``flock``
held by its writer until it is renamed into place or removed. The lock goes away with the
writer's process, so a store opening (a server starting) removes every temporary file whose
lock it can take: what a crashed writer left, whatever its age, but never the file of an upload
still in flight in another process or replica sharing the folder (on a network file system,
as far as its locks are honoured: NFSv4's are).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import shutil
import stat
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from runstone.artifacts.base import CHUNK, Stored, storage_error
from runstone.errors import InvalidInput, NotFound, Unavailable

_NOT_NAMES = frozenset(("", ".", ".."))


class LocalArtifactStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            # Said to the operator who chose the folder, so naming it is fine here.
            raise Unavailable(f"The artifact destination {self.root} cannot be used: {exc.strerror}.") from None
        self.root_uri = self.root.as_uri()
        self._root_text = str(self.root)
        self._tmp = self.root / ".tmp"
        self.swept = sweep(self._tmp)

    def _resolve(self, key: str) -> Path:
        """The path of ``key``, every symbolic link in it followed; refused when that leaves the root.

        A key of plain names (no empty, ``.`` or ``..`` part) is walked below the root, which is
        resolved already, one ``lstat`` per part that exists; a link anywhere, or any other
        key, is resolved whole (``realpath``). Both give the same path: what every upload pays is
        the walk, not a resolution of the root's own folders again."""
        return Path(self._walk(key)[0])

    def _walk(self, key: str) -> tuple[str, int | None]:
        """The path of ``key`` as :meth:`_resolve` finds it, and the mode of what is there (None
        when nothing is)."""
        path = self._root_text
        parts = key.split("/")
        mode: int | None = None
        for index, part in enumerate(parts):
            if part in _NOT_NAMES:
                return self._walk_whole(key)
            path = f"{path}/{part}"
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                rest = parts[index + 1 :]
                if any(p in _NOT_NAMES for p in rest):
                    return self._walk_whole(key)
                return "/".join([path, *rest]), None  # nothing below a missing folder can be a link
            except (OSError, ValueError):
                return self._walk_whole(key)
            if stat.S_ISLNK(mode):
                return self._walk_whole(key)
        return path, mode

    def _walk_whole(self, key: str) -> tuple[str, int | None]:
        target = os.path.realpath(os.path.join(self._root_text, key))
        if target != self._root_text and not target.startswith(self._root_text + os.sep):
            raise InvalidInput(f"Artifact key {key!r} leaves the artifact root.")
        try:
            return target, os.stat(target).st_mode
        except (OSError, ValueError):
            return target, None

    def write(self, key: str, chunks: Iterable[bytes]) -> Stored:
        target = self._resolve(key)
        if target.is_dir():
            raise InvalidInput(f"Artifact {key!r} is a folder; it cannot be overwritten by a file.")
        try:
            return self._write(target, chunks)
        except OSError as exc:
            error = storage_error(exc)
            if error is None:
                raise
            raise error from None

    def write_unsynced(self, key: str, data: bytes) -> Stored:
        """Put ``data`` under ``key`` atomically for readers, without waiting for the disk: the
        caller keeps the bytes durable elsewhere until :meth:`flush` has returned for the key.

        Every small upload comes here, so it goes straight to the system calls: the walk that
        resolves the key also tells whether a folder or file is there, and the bytes go through a
        locked temporary file (as :class:`Staged` does) without a Python file object."""
        target, mode = self._walk(key)
        if mode is not None and stat.S_ISDIR(mode):
            raise InvalidInput(f"Artifact {key!r} is a folder; it cannot be overwritten by a file.")
        try:
            if mode is None:
                _make_parents(Path(target).parent)
            self._put(target, data)
            return Stored(len(data), hashlib.sha256(data).hexdigest())
        except OSError as exc:
            error = storage_error(exc)
            if error is None:
                raise
            raise error from None

    def _put(self, target: str, data: bytes) -> None:
        temp = f"{self._tmp}/{uuid.uuid4().hex}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            fd = os.open(temp, flags, 0o666)
        except FileNotFoundError:
            self._tmp.mkdir(exist_ok=True)
            fd = os.open(temp, flags, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # until it is in place: a store opening leaves it alone
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        finally:
            os.close(fd)

    def flush(self, keys: Iterable[str]) -> None:
        """Make the files under ``keys`` and their folders' entries durable (fsync each file and
        each folder from the file up to the root: a folder made by ``write_unsynced`` is new)."""
        keys = list(keys)
        if keys and _syncfs(self.root):
            return
        folders: set[Path] = set()
        for key in keys:
            target = self._resolve(key)
            fd = os.open(target, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            folder = target.parent
            while folder != self.root and self.root in folder.parents and folder not in folders:
                folders.add(folder)
                folder = folder.parent
        for folder in sorted(folders, key=lambda f: -len(f.parts)):
            _fsync_dir(folder)
        if folders:
            _fsync_dir(self.root)

    def _write(self, target: Path, chunks: Iterable[bytes]) -> Stored:
        staged = self.stage()
        try:
            for chunk in chunks:
                staged.write(chunk)
            return self._place(target, staged, sync=True)
        finally:
            staged.discard()

    def stage(self) -> Staged:
        """A new temporary file in the store's folder, for bytes that :meth:`adopt` then puts in
        place without copying them (an upload received straight into the store)."""
        try:
            self._tmp.mkdir(exist_ok=True)
            return Staged(self._tmp / uuid.uuid4().hex)
        except OSError as exc:
            raise storage_error(exc) or exc from None

    def adopt(self, key: str, staged: Staged) -> Stored:
        """Put the bytes of ``staged`` under ``key`` durably and atomically, as :meth:`write` does."""
        target = self._resolve(key)
        if target.is_dir():
            raise InvalidInput(f"Artifact {key!r} is a folder; it cannot be overwritten by a file.")
        try:
            return self._place(target, staged, sync=True)
        except OSError as exc:
            error = storage_error(exc)
            if error is None:
                raise
            raise error from None
        finally:
            staged.discard()

    def _place(self, target: Path, staged: Staged, *, sync: bool) -> Stored:
        staged.finish(sync=sync)
        created = _make_parents(target.parent)
        os.replace(staged.path, target)
        staged.placed = True
        if sync:
            _fsync_dir(target.parent)
            # A folder this write made is an entry of its own parent, which must reach the
            # disk too for the file to be found after a power cut.
            for folder in created:
                _fsync_dir(folder.parent)
        return Stored(staged.size, staged.sha256)

    def check_writable(self) -> None:
        probe = self._tmp / f"ready-{uuid.uuid4().hex}"
        try:
            self._write(probe, [b"ok"])
            # A replica starting at the same moment may have swept the probe already.
            probe.unlink(missing_ok=True)
        except OSError as exc:
            raise storage_error(exc) or Unavailable(
                f"The artifact store cannot be written: {exc.strerror}.", {"reason": "error"}
            ) from None

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


# Bytes of a staged file after which the disk is asked to start writing them.
WRITE_BACK = 8 * 1024 * 1024


class Staged:
    """A file being written in the store's temporary folder, locked as in flight (see the
    module's docstring), with the size and SHA-256 of what was written so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.placed = False
        self._written_back = 0
        self._digest = hashlib.sha256()
        self._file = open(path, "wb")  # noqa: SIM115 - closed by finish() or discard()
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)

    def write(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self.size += len(chunk)
        self._file.write(chunk)
        if self.size - self._written_back >= WRITE_BACK:
            # Start writing what came so far to the disk while the rest arrives, so that the
            # final fsync has little left to wait for (Linux's sync_file_range; it does not wait).
            self._file.flush()
            if _SYNC_FILE_RANGE is not None:
                _SYNC_FILE_RANGE(self._file.fileno(), self._written_back, self.size - self._written_back, 2)
            self._written_back = self.size

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def chunks(self) -> Iterator[bytes]:
        """What was written so far, read back."""
        self._file.flush()
        return _chunks(self.path)

    def finish(self, *, sync: bool) -> None:
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def discard(self) -> None:
        """Close the file and remove it unless it was put in place."""
        self._file.close()
        if not self.placed:
            self.path.unlink(missing_ok=True)


def sweep(tmp: Path) -> int:
    """Remove the temporary files no live writer holds (see the module docstring); their count."""
    if not tmp.is_dir():
        return 0
    removed = 0
    for leftover in tmp.iterdir():
        try:
            info = leftover.stat()
            # A writer creates its file empty and locks it at once: an empty file of the last
            # seconds may be one about to be locked. An empty leftover costs nothing to keep.
            if info.st_size == 0 and time.time() - info.st_mtime < 5:
                continue
            with open(leftover, "rb") as probe:
                fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                leftover.unlink()
                removed += 1
        except OSError:  # held by a writer (BlockingIOError), already gone, or not ours to remove
            pass
    return removed


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as src:
        while chunk := src.read(CHUNK):
            yield chunk


def _syncfs(root: Path) -> bool:
    """Flush everything written to the file system holding ``root`` (Linux's syncfs): one flush
    for a whole batch of files instead of one per file and folder. False where it is unavailable
    or fails; the caller then fsyncs each file and folder."""
    if _SYNCFS is None:
        return False
    fd = os.open(root, os.O_RDONLY)
    try:
        return bool(_SYNCFS(fd) == 0)
    finally:
        os.close(fd)


def _libc(name: str, argtypes: list[Any] | None = None) -> Any:
    """A function of Linux's C library, or None where it is missing."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        call = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    if argtypes is not None:
        call.argtypes = argtypes
    return call


_SYNCFS = _libc("syncfs")
_SYNC_FILE_RANGE = _libc("sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint])


def _make_parents(folder: Path) -> list[Path]:
    """Make ``folder`` and its missing parents; the ones made, deepest first."""
    missing: list[Path] = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir(exist_ok=True)
    return missing


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
