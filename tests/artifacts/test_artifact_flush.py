"""Small artifact files a server acknowledges before they are flushed: their bytes are committed
with the manifest row, the file is flushed later, and a file whose bytes never reached the disk
(a power cut) is written again from the database. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import text

from runstone.tracking.artifact_sync import Flusher
from runstone.tracking.artifacts import SMALL_FILE_BYTES, ArtifactService
from runstone.tracking.gc import collect


@pytest.fixture
def service(tracking, backend) -> ArtifactService:
    return ArtifactService(tracking.ctx, backend.store, defer_flush=True)


@pytest.fixture
def flusher(backend) -> Flusher:
    return Flusher(backend.context, backend.store)


@pytest.fixture
def run_id(tracking) -> str:
    return str(tracking.create_run().info.run_id)


def pending(backend) -> set[str]:
    with backend.db.engine.connect() as conn:
        return {row[0] for row in conn.execute(text("SELECT path FROM artifact_pending"))}


def on_disk(settings, run_id: str, path: str) -> Path:
    return Path(settings.artifact_root) / "0" / run_id / "artifacts" / path


def content(service: ArtifactService, run_id: str, path: str) -> bytes:
    return b"".join(service.read(service.open(run_id, path)))


def test_a_small_file_is_readable_at_once_and_its_bytes_are_kept_until_flushed(
    service, flusher, backend, settings, run_id
):
    service.log_artifact(run_id, "a/small.txt", [b"hello ", b"world"])
    big = b"x" * (SMALL_FILE_BYTES + 1)
    service.log_artifact(run_id, "big.bin", [big])
    # The small file is in place for readers; only its bytes wait in the database, not the big one's.
    assert content(service, run_id, "a/small.txt") == b"hello world"
    assert on_disk(settings, run_id, "a/small.txt").read_bytes() == b"hello world"
    assert pending(backend) == {"a/small.txt"}
    assert flusher.run_once() == 1
    assert pending(backend) == set()
    assert content(service, run_id, "a/small.txt") == b"hello world"
    assert content(service, run_id, "big.bin") == big


def test_files_whose_bytes_never_reached_the_disk_are_written_again_at_start(
    service, flusher, backend, settings, run_id
):
    files = {f"f{i}.bin": bytes([i]) * (100 + i) for i in range(5)}
    for name, data in files.items():
        service.log_artifact(run_id, f"deep/er/{name}", [data])
    # A power cut: some files lost, one cut short, one left empty.
    on_disk(settings, run_id, "deep/er/f0.bin").unlink()
    on_disk(settings, run_id, "deep/er/f1.bin").write_bytes(b"\x01" * 3)
    on_disk(settings, run_id, "deep/er/f2.bin").write_bytes(b"")
    assert flusher.run_once(restore=True) == 5
    for name, data in files.items():
        assert on_disk(settings, run_id, f"deep/er/{name}").read_bytes() == data
        assert service.open(run_id, f"deep/er/{name}").info.sha256 == hashlib.sha256(data).hexdigest()
    assert pending(backend) == set()


def test_a_background_pass_waits_one_pass_before_writing_a_file_again(service, flusher, backend, settings, run_id):
    service.log_artifact(run_id, "m.txt", [b"recorded"])
    # Other bytes than recorded: what a replacement in flight looks like for a moment.
    on_disk(settings, run_id, "m.txt").write_bytes(b"in flight")
    assert flusher.run_once() == 0
    assert pending(backend) == {"m.txt"}
    assert on_disk(settings, run_id, "m.txt").read_bytes() == b"in flight"
    # Still so on the next pass: written again from the database.
    assert flusher.run_once() == 1
    assert on_disk(settings, run_id, "m.txt").read_bytes() == b"recorded"
    assert pending(backend) == set()


def test_replacing_deleting_and_purging_forget_kept_bytes(service, flusher, backend, tracking, run_id):
    service.log_artifact(run_id, "r.txt", [b"old"])
    service.log_artifact(run_id, "r.txt", [b"y" * (SMALL_FILE_BYTES + 10)])  # now a big, flushed file
    service.log_artifact(run_id, "gone/d.txt", [b"d"])
    service.log_artifact(run_id, "kept.txt", [b"k"])
    assert pending(backend) == {"gone/d.txt", "kept.txt"}
    service.delete_artifacts(run_id, "gone")
    assert pending(backend) == {"kept.txt"}
    tracking.delete_run(run_id)
    collect(tracking.ctx, backend.store)
    assert pending(backend) == set()
    assert flusher.run_once(restore=True) == 0
