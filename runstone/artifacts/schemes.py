"""Artifact store by URI scheme: a folder (or file://) by default, s3:// for teams."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from runstone.artifacts.base import ArtifactStore
from runstone.errors import InvalidInput


def open_store(uri: str, *, s3_endpoint_url: str | None = None) -> ArtifactStore:
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "s3":
        from runstone.artifacts.s3 import S3ArtifactStore

        return S3ArtifactStore(uri, endpoint_url=s3_endpoint_url)
    if parsed.scheme == "file":
        from runstone.artifacts.local import LocalArtifactStore

        return LocalArtifactStore(Path(urllib.parse.unquote(parsed.path)))
    if parsed.scheme in ("",) or (len(parsed.scheme) == 1 and uri[1:3] in (":\\", ":/")):
        from runstone.artifacts.local import LocalArtifactStore

        return LocalArtifactStore(Path(uri))
    raise InvalidInput(f"Unsupported artifact destination {uri!r}; use a folder, file:// or s3://.")
