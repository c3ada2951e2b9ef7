"""The ArtifactStore protocol and the rules every store shares.

Keys are server-generated, '/'-separated and relative to the store's root; clients never
choose a storage location. Every write computes the SHA-256 and size of what it stored.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from runstone.errors import InsufficientStorage, InvalidInput, RunstoneError, Unavailable

CHUNK = 1024 * 1024
MAX_PATH_LENGTH = 1000  # bytes of UTF-8; the manifest column holds 1000 characters
# The longest file name common filesystems accept (ext4, XFS, APFS, NTFS's 255 UTF-16 units).
MAX_SEGMENT_BYTES = 255


@dataclass(frozen=True)
class Stored:
    size: int
    sha256: str


@runtime_checkable
class ArtifactStore(Protocol):
    root_uri: str

    def write(self, key: str, chunks: Iterable[bytes]) -> Stored:
        """Store the bytes under ``key`` atomically: readers see the old or the new file."""

    def write_file(self, key: str, path: Path) -> Stored:
        """Store a local file under ``key``."""

    def read(self, key: str) -> Iterator[bytes]:
        """The bytes under ``key``, in chunks; NotFound when absent."""

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> None:
        """Remove ``prefix`` and everything below it; absent is fine."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path of the stored bytes when the store is local, else None."""

    def check_writable(self) -> None:
        """Store and remove a small probe; raise Unavailable or InsufficientStorage if it fails."""


# What a failing disk or mount says, and what the caller is told (never the path).
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_UNWRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def storage_error(exc: OSError, what: str = "The artifact store") -> RunstoneError | None:
    """The error to answer for a storage failure, or None when ``exc`` is not one."""
    if exc.errno in _FULL:
        return InsufficientStorage(
            f"{what} has no room for this: {os.strerror(exc.errno)}. Free space or raise the limit, then retry.",
            {"reason": errno.errorcode[exc.errno]},
        )
    if exc.errno in _UNWRITABLE:
        return Unavailable(
            f"{what} cannot be written: {os.strerror(exc.errno)}. Retry once an operator has fixed it.",
            {"reason": errno.errorcode[exc.errno]},
        )
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_path(path: str, *, allow_empty: bool = False) -> str:
    """Validate a client-supplied artifact path (already decoded once) and normalize it.

    The result is relative, has no '.', '..' or empty segments, and so stays inside the root it
    is joined to.
    """
    if not isinstance(path, str):
        raise InvalidInput("Artifact path must be a string.")
    stripped = path.strip("/")
    if not stripped:
        if allow_empty:
            return ""
        raise InvalidInput("Artifact path must not be empty.")
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("Artifact path must be valid UTF-8 text.") from None
    if len(encoded) > MAX_PATH_LENGTH:
        raise InvalidInput(f"Artifact path is longer than {MAX_PATH_LENGTH} bytes.")
    if _CONTROL.search(path):
        raise InvalidInput("Artifact path must not contain control characters (NUL included).")
    if "\\" in path:
        raise InvalidInput(f"Artifact path {path!r} must use '/' as separator, not '\\'.")
    # '%' is an ordinary character of a file name (MLflow's log_image writes names like
    # 'k%step%5%timestamp%1700000000000%<uuid>.png'), but a layer in front of the server (a proxy,
    # a client library) may percent-decode the path once or twice more. None of those forms may
    # name something outside the run, even read by a decoder that ends a name at a NUL or takes
    # '\' for a separator.
    if "%" in path:
        once = urllib.parse.unquote(path)
        forms: tuple[str, ...] = (path, once, once.partition("\x00")[0])
        twice = urllib.parse.unquote(once)
        forms += (twice, twice.partition("\x00")[0])
    else:
        forms = (path,)  # nothing to decode; a NUL was refused above
    for form in forms:
        if form.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", form):
            raise InvalidInput(f"Artifact path {path!r} must be relative to the run's artifact root.")
        if any(part in ("..", ".") for part in re.split(r"[/\\]", form)):
            raise InvalidInput(f"Artifact path {path!r} must not contain '.' or '..' segments.")
    parts = stripped.split("/")
    if any(part == "" for part in parts):
        raise InvalidInput(f"Artifact path {path!r} must not contain empty segments.")
    for part in parts:
        if len(part.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidInput(
                f"Artifact path segment {part[:40]!r}... is longer than {MAX_SEGMENT_BYTES} bytes; "
                "shorten the file or folder name."
            )
    normalized = posixpath.normpath(stripped)
    if normalized != stripped:
        raise InvalidInput(f"Artifact path {path!r} is not in normal form.")
    return stripped


def join_key(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))
