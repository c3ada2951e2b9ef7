"""The fluent API's sender and its offline side: runs started and artifacts logged while the
server is away (or with ``RUNSTONE_MODE=offline``) go to the journal and are sent later."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from runstone.entities import Run, RunData, RunInfo, RunInputs, RunStatus
from runstone.errors import InvalidInput, Unavailable
from runstone.sdk import journal as wal
from runstone.sdk.batching import Batcher
from runstone.sdk.client import RunstoneClient


def make_batcher(client: RunstoneClient) -> Batcher:
    settings = client.settings
    directory = settings.home / "journal"
    book = wal.Journal(directory, fsync=settings.journal == "fsync")

    def apply_op(op: dict[str, Any]) -> Any:
        return wal.apply(client, op, book.files) if op["op"] != "end" else _end(client, op)

    def adopt() -> None:
        # Journals left by processes that died while logging to this server: sent once, by key.
        wal.sync(directory, lambda uri: client, only_uri=client.tracking_uri)

    return Batcher(
        client.log_batch,
        tracking_uri=client.tracking_uri,
        interval=settings.flush_interval,
        journal=book,
        write_ahead=settings.journal != "off",
        apply_op=apply_op,
        offline=settings.mode == "offline" and client.is_remote,
        heartbeat=client.heartbeat if client.is_remote else None,
        heartbeat_interval=settings.heartbeat_interval,
        adopt=adopt,
        fail_fast=client.fail_fast,
    )


def _end(client: RunstoneClient, op: dict[str, Any]) -> Run:
    return client.set_terminated(op["run_id"], op["status"], op["end_time"])


def start_offline(
    batcher: Batcher,
    client: RunstoneClient,
    experiment_id: str | None,
    experiment_name: str | None,
    run_name: str | None,
    tags: dict[str, str],
    parent_run_id: str | None,
) -> Run:
    """A run with an id made here; the server creates it with that id when it gets the journal."""
    run_id = uuid.uuid4().hex
    start = int(time.time() * 1000)
    batcher.op(
        {
            "op": "create_run",
            "run_id": run_id,
            "experiment_id": experiment_id,
            "experiment_name": experiment_name,
            "run_name": run_name,
            "start_time": start,
            "tags": tags,
            "parent_run_id": parent_run_id,
        }
    )
    info = RunInfo(
        run_id=run_id,
        experiment_id=experiment_id or "",
        run_name=run_name or "",
        user_id=client.user,
        status=RunStatus.RUNNING.value,
        start_time=start,
        end_time=None,
        lifecycle_stage="active",
        artifact_uri="",
    )
    return Run(info, RunData(tags=dict(tags)), RunInputs())


def must_queue(batcher: Batcher) -> bool:
    """Whether a direct write would overtake (or wait for) what is queued: then it is journaled."""
    return batcher.offline or batcher.down is not None or batcher.queued > 0


class Keeper:
    """Puts an artifact into the journal, to be uploaded after what was logged before it."""

    def __init__(self, batcher: Batcher) -> None:
        self.batcher = batcher

    def artifact(self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None) -> None:
        journal_artifact(self.batcher, run_id, local_path, artifact_path)

    def data(self, run_id: str, data: bytes, artifact_file: str) -> None:
        journal_bytes(self.batcher, run_id, data, artifact_file)

    def figure(self, run_id: str, figure: object, artifact_file: str) -> None:
        journal_figure(self.batcher, run_id, figure, artifact_file)


def upload(client: RunstoneClient, batcher: Batcher, send: Any, keep: Any) -> None:
    """Upload now, or (server away, offline mode, or writes queued before it) keep the file in
    the journal, to be uploaded after what was logged before it."""
    if client.is_remote and must_queue(batcher):
        keep(Keeper(batcher))
        return
    try:
        with client.fail_fast():
            send(client)
    except Unavailable as exc:
        if not client.is_remote:
            raise
        batcher.went_down(exc)
        keep(Keeper(batcher))


def journal_artifact(
    batcher: Batcher, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None
) -> None:
    """Copy a file or folder into the journal; it is uploaded after what was logged before it."""
    source = Path(local_path)
    if not source.exists():
        raise InvalidInput(f"No file or folder at {source}.")
    name = f"{uuid.uuid4().hex[:12]}/{source.name}"
    target = batcher_files(batcher) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    batcher.op({"op": "artifact", "run_id": run_id, "file": name, "artifact_path": artifact_path})


def journal_bytes(batcher: Batcher, run_id: str, data: bytes, artifact_file: str) -> None:
    path = PurePosixPath(artifact_file)
    name = f"{uuid.uuid4().hex[:12]}/{path.name}"
    target = batcher_files(batcher) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    parent = str(path.parent)
    batcher.op({"op": "artifact", "run_id": run_id, "file": name, "artifact_path": None if parent == "." else parent})


def journal_figure(batcher: Batcher, run_id: str, figure: object, artifact_file: str) -> None:
    folder = batcher_files(batcher) / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True)
    saved = RunstoneClient.save_figure(figure, artifact_file, folder)
    parent = str(PurePosixPath(artifact_file.replace("\\", "/")).parent)
    file = saved.relative_to(batcher_files(batcher)).as_posix()
    batcher.op({"op": "artifact", "run_id": run_id, "file": file, "artifact_path": None if parent == "." else parent})


def batcher_files(batcher: Batcher) -> Path:
    assert batcher.journal is not None
    return batcher.journal.files
