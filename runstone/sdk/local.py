"""The embedded backend: the services in-process, on the SQLite file and artifact folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from runstone.entities import FileInfo
from runstone.errors import InvalidInput


class LocalArtifacts:
    """The HttpArtifacts interface over an in-process ArtifactService."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def upload(self, run_id: str, path: str, local_file: Path, progress: Any = None) -> FileInfo:
        def chunks():  # type: ignore[no-untyped-def]
            with open(local_file, "rb") as src:
                while chunk := src.read(1024 * 1024):
                    if progress is not None:
                        progress(len(chunk))
                    yield chunk

        return self.service.log_artifact(run_id, path, chunks())

    def list_dir(self, run_id: str, path: str = "") -> list[FileInfo]:
        return self.service.list_artifacts(run_id, path)

    def files(self, run_id: str, path: str = "") -> list[FileInfo]:
        return self.service.files(run_id, path)

    def download(self, run_id: str, path: str, dest: Path, progress: Any = None) -> None:
        artifact = self.service.open(run_id, path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        digest = hashlib.sha256()
        try:
            if artifact.local_path is not None:
                shutil.copyfile(artifact.local_path, tmp)
                with open(tmp, "rb") as src:
                    while chunk := src.read(1024 * 1024):
                        digest.update(chunk)
                        if progress is not None:
                            progress(len(chunk))
            else:
                with open(tmp, "wb") as out:
                    for chunk in self.service.read(artifact):
                        digest.update(chunk)
                        out.write(chunk)
                        if progress is not None:
                            progress(len(chunk))
            if artifact.info.sha256 and digest.hexdigest() != artifact.info.sha256:
                raise InvalidInput(f"Stored artifact {path!r} does not match its recorded SHA-256.")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
