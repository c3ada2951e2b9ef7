"""Reading the artifacts of an MLflow store: from its artifact root folder, or through the
artifact proxy of the MLflow server being imported.

MLflow records where each run's (and logged model's) artifacts live as a URI:
``mlflow-artifacts:/<key>`` behind a proxying server, ``file:///.../<key>`` or a bare path for
a local root, ``s3://bucket/prefix/<key>`` and so on. The key always ends in
``<experiment id>/<run id>/artifacts`` or ``<experiment id>/models/<model id>/artifacts``, which
is how a folder reader finds the files under the root it was given (also after the store was
copied elsewhere). MLflow makes that folder when the first file is logged, so a run without
artifacts has none: an absent folder holds no files. A folder reader never reads outside its root.
"""

from __future__ import annotations

import os
import posixpath
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import httpx

from runstone.errors import InvalidInput, NotFound, Unavailable

_CHUNK = 1024 * 1024
_KEY_TAIL = re.compile(r"(?:^|/)(\d+/(?:[0-9a-f]{32}|models/m-[0-9a-f]{32})/artifacts)/?$")


class ArtifactReader(Protocol):
    def files(self, uri: str) -> list[tuple[str, int]] | None:
        """(path, size) of every file below ``uri``; None when this reader cannot reach it."""

    def read(self, uri: str, path: str) -> Iterator[bytes]: ...

    def remarks(self) -> list[str]:
        """What the import report should say about this reader, once everything was read."""


def key_of(uri: str) -> str | None:
    """The ``<experiment>/<run>/artifacts`` (or logged model) key at the end of an artifact URI."""
    parsed = urllib.parse.urlparse(uri)
    match = _KEY_TAIL.search(urllib.parse.unquote(parsed.path).rstrip("/"))
    return match.group(1) if match else None


class FolderReader:
    """An MLflow artifact root folder (``--artifacts-destination`` or ``--default-artifact-root``)."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()
        if not self.root.is_dir():
            raise InvalidInput(f"MLflow artifact root {root} is not a folder.")
        self.folders = self.absent = 0

    def _folder(self, uri: str) -> Path | None:
        """The folder ``uri`` names under the root (which may not exist); None when it names none."""
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme in ("", "file"):
            direct = Path(urllib.parse.unquote(parsed.path)).resolve()
            if direct.is_relative_to(self.root) and direct != self.root:
                return direct
        key = key_of(uri)
        if key is None:
            return None
        folder = (self.root / key).resolve()
        return folder if folder.is_relative_to(self.root) else None

    def files(self, uri: str) -> list[tuple[str, int]] | None:
        folder = self._folder(uri)
        if folder is None:
            return None
        if not folder.is_dir():
            self.absent += 1
            return []
        self.folders += 1
        found = []
        for dirpath, _dirs, names in os.walk(folder):
            for name in names:
                path = Path(dirpath, name)
                # A link pointing out of the root is not an artifact of this store.
                if not path.resolve().is_relative_to(self.root) or not path.is_file():
                    continue
                found.append((path.relative_to(folder).as_posix(), path.stat().st_size))
        return sorted(found)

    def remarks(self) -> list[str]:
        if self.absent and not self.folders:
            # Not one folder where the store's runs keep theirs: most likely another folder.
            return [
                f"None of the {self.absent} runs and logged models has an artifact folder under {self.root}; "
                "if they have artifacts, give MLflow's artifact root with --artifacts."
            ]
        return []

    def read(self, uri: str, path: str) -> Iterator[bytes]:
        folder = self._folder(uri)
        if folder is None or not folder.is_dir():
            raise NotFound(f"No artifact folder for {uri} under {self.root}.")
        target = (folder / path).resolve()
        if not target.is_relative_to(folder):
            raise InvalidInput(f"Artifact path {path!r} leaves its folder.")
        with open(target, "rb") as f:
            yield from iter(lambda: f.read(_CHUNK), b"")


class ProxyReader:
    """The artifact proxy of the MLflow server being imported (``mlflow-artifacts:/`` URIs)."""

    def __init__(self, base_url: str, http: httpx.Client | None = None, *, timeout: float = 300) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http or httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def remarks(self) -> list[str]:
        return []

    @staticmethod
    def _key(uri: str) -> str | None:
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme != "mlflow-artifacts":
            return None
        return urllib.parse.unquote(parsed.path).strip("/")

    def _get(self, url: str, **kwargs: object) -> httpx.Response:
        try:
            response = self.http.get(url, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            raise Unavailable(f"MLflow server {self.base_url} could not be reached: {exc}") from None
        if response.status_code != 200:
            raise NotFound(f"MLflow server {self.base_url} answered {response.status_code} for {url}.")
        return response

    def files(self, uri: str) -> list[tuple[str, int]] | None:
        key = self._key(uri)
        if key is None:
            return None
        found: list[tuple[str, int]] = []
        pending = [""]
        while pending:
            sub = pending.pop()
            listing = self._get("/api/2.0/mlflow-artifacts/artifacts", params={"path": posixpath.join(key, sub)})
            for entry in listing.json().get("files", []):
                path = posixpath.join(sub, entry["path"]) if sub else entry["path"]
                if entry.get("is_dir"):
                    pending.append(path)
                else:
                    found.append((path, int(entry.get("file_size", 0))))
        return sorted(found)

    def read(self, uri: str, path: str) -> Iterator[bytes]:
        key = self._key(uri)
        if key is None:
            raise NotFound(f"{uri} is not served by {self.base_url}.")
        url = "/api/2.0/mlflow-artifacts/artifacts/" + urllib.parse.quote(posixpath.join(key, path))
        try:
            with self.http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise NotFound(f"MLflow server {self.base_url} answered {response.status_code} for {url}.")
                yield from response.iter_bytes(_CHUNK)
        except httpx.HTTPError as exc:
            raise Unavailable(f"Reading {url} from MLflow server {self.base_url} failed: {exc}") from None
