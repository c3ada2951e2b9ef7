"""/api/v1/runs/{run_id}/artifacts: upload, list, download (files and zipped folders)."""

from __future__ import annotations

import functools
import hashlib
import logging
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Iterator
from typing import IO, Annotated, cast

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from runstone.deps import artifacts
from runstone.errors import RunstoneError
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.schemas.tracking import DeletedCount, FileAnswer, FileList, file_public
from runstone.server import uploads
from runstone.server.http import JSON, Route, binary
from runstone.server.lean import on_thread
from runstone.tracking.artifacts import ArtifactFile, ArtifactService

log = logging.getLogger("runstone.server")
router = APIRouter(prefix="/api/v1/runs/{run_id}", tags=["artifacts"], route_class=Route, default_response_class=JSON)
Artifacts = Annotated[ArtifactService, Depends(artifacts)]


def _attachment(filename: str) -> str:
    """A Content-Disposition value that survives quotes and non-ASCII names (RFC 6266)."""
    quoted = urllib.parse.quote(filename, safe="")
    if quoted == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename*=utf-8''{quoted}"


@router.put("/artifacts/{path:path}", summary="Upload one artifact file (raw request body)", response_model=FileAnswer)
@needs(Permission.EDIT, "run", "run_id")
async def upload_artifact(run_id: str, path: str, request: Request, service: Artifacts) -> JSON:
    limit = request.app.state.settings.max_artifact_bytes
    spool = await uploads.receive(request, limit, getattr(service.store, "stage", None))
    try:
        info = await on_thread(
            functools.partial(service.log_artifact, run_id, path, spool.chunks(), staged=spool.staged)
        )
    finally:
        spool.close()
    # A ready answer: validating it again as the response model costs more than the answer.
    return JSON({"file": file_public(info)})


@router.get("/artifacts", summary="List artifacts directly inside a folder", response_model=FileList)
@needs(Permission.READ, "run", "run_id")
def list_artifacts(run_id: str, service: Artifacts, path: str = "", recursive: bool = False) -> dict[str, object]:
    files = service.files(run_id, path) if recursive else service.list_artifacts(run_id, path)
    return {"files": [file_public(f) for f in files]}


@router.get(
    "/artifacts/{path:path}",
    summary="Download one artifact file",
    response_model=None,
    response_class=Response,
    responses=binary(),
)
@needs(Permission.READ, "run", "run_id")
def download_artifact(run_id: str, path: str, service: Artifacts) -> FileResponse | StreamingResponse:
    artifact = service.open(run_id, path)
    return file_response(artifact, service.read)


def file_response(
    artifact: ArtifactFile, read: Callable[[ArtifactFile], Iterator[bytes]]
) -> FileResponse | StreamingResponse:
    """One stored file as a download carrying its recorded SHA-256."""
    headers = {"X-Checksum-Sha256": artifact.info.sha256 or "", "X-Content-Type-Options": "nosniff"}
    filename = artifact.info.path.rsplit("/", 1)[-1]
    if artifact.local_path is not None:
        return FileResponse(
            artifact.local_path, headers=headers, filename=filename, media_type="application/octet-stream"
        )
    headers["Content-Length"] = str(artifact.info.file_size)
    headers["Content-Disposition"] = _attachment(filename)
    return StreamingResponse(read(artifact), headers=headers, media_type="application/octet-stream")


class _Pipe:
    """A write-only file whose written bytes are collected for a streaming response."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


ERRORS_MEMBER = "runstone-errors.txt"


def _zip_stream(service: ArtifactService, files: list[ArtifactFile], prefix: str) -> Iterator[bytes]:
    """The files as a zip, streamed. A file that cannot be read is left out, one that fails
    midway or whose bytes no longer match its recorded SHA-256 is marked, and the archive then
    ends with ERRORS_MEMBER saying which and why: it is never silently incomplete."""
    pipe = _Pipe()
    stamp = time.localtime()[:6]
    problems: list[str] = []
    with zipfile.ZipFile(cast(IO[bytes], pipe), "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for artifact in files:
            path = artifact.info.path
            if not prefix:
                name = path
            elif path == prefix:  # the path is one file: zip it under its own name
                name = path.rsplit("/", 1)[-1]
            else:
                name = path[len(prefix) + 1 :]
            # Any failure is caught: once the response has started, the archive must still end
            # properly and say what went wrong (the details go to the server's log).
            try:
                chunks = service.read(artifact)
            except Exception as exc:
                log.warning("zip of %s: %s could not be read", path, name, exc_info=True)
                problems.append(f"{name}: left out, it could not be read ({_reason(exc)})")
                continue
            entry = zipfile.ZipInfo(name, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            digest = hashlib.sha256()
            complete = True
            with archive.open(entry, "w", force_zip64=True) as member:
                try:
                    for chunk in chunks:
                        digest.update(chunk)
                        member.write(chunk)
                        yield pipe.take()
                except Exception as exc:
                    log.warning("zip of %s: reading %s failed midway", path, name, exc_info=True)
                    problems.append(f"{name}: incomplete, reading it failed midway ({_reason(exc)})")
                    complete = False
            if complete and artifact.info.sha256 and digest.hexdigest() != artifact.info.sha256:
                problems.append(f"{name}: its content does not match the SHA-256 recorded when it was logged")
            yield pipe.take()
        if problems:
            archive.writestr(zipfile.ZipInfo(ERRORS_MEMBER, date_time=stamp), "\n".join(problems) + "\n")
    yield pipe.take()


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, RunstoneError) else type(exc).__name__


@router.get(
    "/artifacts-zip",
    summary="Download a folder of artifacts as a zip file",
    response_model=None,
    response_class=Response,
    responses=binary("application/zip"),
)
@needs(Permission.READ, "run", "run_id")
def download_zip(run_id: str, service: Artifacts, path: str = "") -> StreamingResponse:
    files = service.open_all(run_id, path)  # fails with 404 before the response starts
    name = (path.strip("/").rsplit("/", 1)[-1] or run_id) + ".zip"
    return StreamingResponse(
        _zip_stream(service, files, path.strip("/")),
        media_type="application/zip",
        headers={"Content-Disposition": _attachment(name)},
    )


@router.delete("/artifacts/{path:path}", summary="Delete an artifact file or folder", response_model=DeletedCount)
@needs(Permission.EDIT, "run", "run_id")
def delete_artifacts(run_id: str, path: str, service: Artifacts) -> dict[str, object]:
    return {"deleted": service.delete_artifacts(run_id, path)}
