"""ArtifactService: a run's artifacts with their manifest, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from runstone.entities import FileInfo
from runstone.errors import Immutable, InvalidInput, InvalidState, NotFound
from runstone.governance.audit import AuditService
from runstone.tracking.artifacts import ArtifactService


@pytest.fixture
def service(tracking, backend) -> ArtifactService:
    return ArtifactService(tracking.ctx, backend.store)


@pytest.fixture
def run_id(tracking) -> str:
    return str(tracking.create_run().info.run_id)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def content(service: ArtifactService, run_id: str, path: str) -> bytes:
    return b"".join(service.read(service.open(run_id, path)))


def test_log_read_and_manifest(service, run_id, settings):
    info = service.log_artifact(run_id, "plots/loss.png", [b"\x89PNG", b"...data"])
    assert info == FileInfo("plots/loss.png", False, 11, sha(b"\x89PNG...data"))
    artifact = service.open(run_id, "plots/loss.png")
    assert artifact.info == info
    assert content(service, run_id, "plots/loss.png") == b"\x89PNG...data"
    # The bytes live under the run's server-chosen key inside the configured root.
    on_disk = stored_files(Path(settings.artifact_root))
    assert on_disk == {f"0/{run_id}/artifacts/plots/loss.png": b"\x89PNG...data"}


def test_overwrite_updates_size_and_checksum(service, run_id):
    service.log_artifact(run_id, "model.bin", [b"v1 is longer"])
    service.log_artifact(run_id, "model.bin", [b"v2"])
    assert service.files(run_id) == [FileInfo("model.bin", False, 2, sha(b"v2"))]
    assert content(service, run_id, "model.bin") == b"v2"


def test_list_shows_files_and_folders_with_total_sizes(service, run_id):
    service.log_artifact(run_id, "README.md", [b"12345"])
    service.log_artifact(run_id, "data/train.csv", [b"x" * 100])
    service.log_artifact(run_id, "data/split/test.csv", [b"y" * 30])
    service.log_artifact(run_id, "data/split/val.csv", [b"z" * 7])
    service.log_artifact(run_id, "data_other.txt", [b"o"])
    assert service.list_artifacts(run_id) == [
        FileInfo("README.md", False, 5, sha(b"12345")),
        FileInfo("data", True, 137),
        FileInfo("data_other.txt", False, 1, sha(b"o")),
    ]
    assert service.list_artifacts(run_id, "data") == [
        FileInfo("data/split", True, 37),
        FileInfo("data/train.csv", False, 100, sha(b"x" * 100)),
    ]
    assert service.list_artifacts(run_id, "data/split/") == [
        FileInfo("data/split/test.csv", False, 30, sha(b"y" * 30)),
        FileInfo("data/split/val.csv", False, 7, sha(b"z" * 7)),
    ]
    assert service.list_artifacts(run_id, "data/train.csv") == [FileInfo("data/train.csv", False, 100, sha(b"x" * 100))]
    assert service.list_artifacts(run_id, "nothing/here") == []


def test_like_wildcards_in_paths_are_literal(service, run_id):
    service.log_artifact(run_id, "a_b/1.txt", [b"1"])
    service.log_artifact(run_id, "axb/2.txt", [b"2"])
    service.log_artifact(run_id, "100%/3.txt", [b"3"])
    service.log_artifact(run_id, "100x/4.txt", [b"4"])
    assert [f.path for f in service.files(run_id, "a_b")] == ["a_b/1.txt"]
    assert [f.path for f in service.files(run_id, "100%")] == ["100%/3.txt"]


def test_files_lists_everything_below(service, run_id):
    for path in ("m/a.txt", "m/sub/b.txt", "other.txt"):
        service.log_artifact(run_id, path, [path.encode()])
    assert sorted(f.path for f in service.files(run_id)) == ["m/a.txt", "m/sub/b.txt", "other.txt"]
    assert sorted(f.path for f in service.files(run_id, "m")) == ["m/a.txt", "m/sub/b.txt"]
    assert [f.path for f in service.files(run_id, "other.txt")] == ["other.txt"]
    with pytest.raises(NotFound, match="has no artifact at 'missing'"):
        service.files(run_id, "missing")


def test_a_folder_cannot_be_overwritten_by_a_file(service, run_id, settings):
    service.log_artifact(run_id, "plots/a.png", [b"a"])
    with pytest.raises(InvalidInput, match="'plots' is a folder of run"):
        service.log_artifact(run_id, "plots", [b"file"])
    assert service.files(run_id) == [FileInfo("plots/a.png", False, 1, sha(b"a"))]


def test_only_files_below_a_path_make_it_a_folder(service, run_id):
    # Neighbours that sort right around "a/" (".", "-", "0", "b" after "a") are not below "a".
    for neighbour in ("a.txt", "a-b/c", "a0", "ab/c", "a00/d"):
        service.log_artifact(run_id, neighbour, [b"n"])
    service.log_artifact(run_id, "a", [b"file"])
    assert content(service, run_id, "a") == b"file"
    service.log_artifact(run_id, "b/%_/x", [b"x"])
    with pytest.raises(InvalidInput, match="'b/%_' is a folder of run"):
        service.log_artifact(run_id, "b/%_", [b"file"])
    service.log_artifact(run_id, "b/%a", [b"file"])  # LIKE's wildcards are literal
    assert content(service, run_id, "b/%a") == b"file"


def test_a_registered_package_without_its_run_recorded_stays_read_only(service, run_id, backend):
    service.log_artifact(run_id, "model/MLmodel", [b"flavors: {}\n"])
    service.log_artifact(run_id, "model/weights.bin", [b"w"])
    registry = backend.registry(service.ctx)
    registry.create_registered_model("imported")
    registry.create_model_version("imported", f"runs:/{run_id}/model")
    # A version imported without its run recorded is known by its source alone.
    with backend.db.transaction(write=True) as s:
        s.execute(text("UPDATE model_versions SET run_uuid = NULL"))
    with pytest.raises(Immutable, match="version 1 of registered model 'imported'"):
        service.log_artifact(run_id, "model/weights.bin", [b"changed"])
    service.log_artifact(run_id, "model-notes.txt", [b"beside the package"])
    assert content(service, run_id, "model/weights.bin") == b"w"


def test_a_file_cannot_become_a_folder(service, run_id, settings):
    service.log_artifact(run_id, "model", [b"weights"])
    with pytest.raises(InvalidInput, match="lies inside 'model', which is a file"):
        service.log_artifact(run_id, "model/extra/config.json", [b"{}"])
    assert service.list_artifacts(run_id) == [FileInfo("model", False, 7, sha(b"weights"))]
    assert content(service, run_id, "model") == b"weights"


def test_deleted_run_accepts_no_artifacts_but_keeps_its_own(service, tracking, run_id, settings):
    service.log_artifact(run_id, "kept.txt", [b"k"])
    tracking.delete_run(run_id)
    with pytest.raises(InvalidState, match="is deleted; restore it before adding artifacts"):
        service.log_artifact(run_id, "late.txt", [b"too late"])
    assert [f.path for f in service.list_artifacts(run_id)] == ["kept.txt"]
    assert content(service, run_id, "kept.txt") == b"k"
    assert not any(p.name == "late.txt" for p in Path(settings.artifact_root).rglob("*"))
    tracking.restore_run(run_id)
    service.log_artifact(run_id, "late.txt", [b"now"])
    assert content(service, run_id, "late.txt") == b"now"


def test_unknown_run(service):
    with pytest.raises(NotFound, match="No run with id 'f00'"):
        service.log_artifact("f00", "x.txt", [b"x"])
    with pytest.raises(NotFound, match="No run with id 'f00'"):
        service.list_artifacts("f00")


def test_missing_file(service, run_id):
    service.log_artifact(run_id, "dir/file.txt", [b"x"])
    with pytest.raises(NotFound, match=r"has no artifact file at 'dir/other\.txt'"):
        service.open(run_id, "dir/other.txt")
    with pytest.raises(NotFound, match="has no artifact file at 'dir'"):
        service.open(run_id, "dir")


def test_bad_paths_write_nothing(service, run_id, tmp_path):
    before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    for path in ("../escape.txt", "a/../../escape.txt", "/abs.txt", "%2e%2e/escape.txt", "a\\b", ""):
        with pytest.raises(InvalidInput, match="Artifact path"):
            service.log_artifact(run_id, path, [b"evil"])
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == before
    assert service.files(run_id) == []


def test_failed_upload_records_nothing_and_keeps_the_old_file(service, run_id, settings):
    service.log_artifact(run_id, "model.bin", [b"good"])

    def broken() -> Iterator[bytes]:
        yield b"half of a new mod"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        service.log_artifact(run_id, "model.bin", broken())
    with pytest.raises(ConnectionResetError):
        service.log_artifact(run_id, "new.bin", broken())
    assert service.files(run_id) == [FileInfo("model.bin", False, 4, sha(b"good"))]
    assert content(service, run_id, "model.bin") == b"good"
    assert list(stored_files(Path(settings.artifact_root)).values()) == [b"good"]


def test_delete_artifacts(service, run_id, settings):
    for path in ("logs/a.txt", "logs/sub/b.txt", "logsx.txt", "keep.txt"):
        service.log_artifact(run_id, path, [path.encode()])
    assert service.delete_artifacts(run_id, "logs") == 2
    assert sorted(f.path for f in service.files(run_id)) == ["keep.txt", "logsx.txt"]
    assert sorted(stored_files(Path(settings.artifact_root))) == [
        f"0/{run_id}/artifacts/keep.txt",
        f"0/{run_id}/artifacts/logsx.txt",
    ]
    with pytest.raises(NotFound, match="has no artifact at 'logs'"):
        service.delete_artifacts(run_id, "logs")
    assert service.delete_artifacts(run_id) == 2
    assert service.files(run_id) == []
    assert stored_files(Path(settings.artifact_root)) == {}


def test_uploads_and_deletes_are_audited(service, tracking, run_id):
    service.log_artifact(run_id, "a.txt", [b"abc"])
    service.delete_artifacts(run_id, "a.txt")
    events = AuditService(tracking.ctx.db).events(target_type="run", target_id=run_id)
    logged = [e for e in events if e.action == "run.log_artifact"]
    assert [e.after for e in logged] == [{"path": "a.txt", "size": 3, "sha256": sha(b"abc")}]
    assert logged[0].actor == "tester"
    deleted = [e for e in events if e.action == "run.delete_artifacts"]
    assert [e.before for e in deleted] == [{"path": "a.txt", "files": 1}]


def test_runs_do_not_share_artifacts(service, tracking, run_id):
    other = tracking.create_run().info.run_id
    service.log_artifact(run_id, "same.txt", [b"mine"])
    service.log_artifact(other, "same.txt", [b"theirs"])
    assert content(service, run_id, "same.txt") == b"mine"
    assert content(service, other, "same.txt") == b"theirs"
    service.delete_artifacts(other)
    assert content(service, run_id, "same.txt") == b"mine"


def test_files_of_many_runs_in_one_read(service, tracking, run_id):
    other = str(tracking.create_run().info.run_id)
    empty = str(tracking.create_run().info.run_id)
    for path in ("images/a+step+1+timestamp+5+u.png", "images/b/step-2-5-x.png", "imagesque.txt", "model.pkl"):
        service.log_artifact(run_id, path, [b"1"])
    service.log_artifact(other, "images/c%step%3%timestamp%5%00ab.png", [b"2"])
    listed = service.files_of_runs([run_id, other, empty, run_id], "images")
    assert list(listed) == [run_id, other, empty]
    assert [f.path for f in listed[run_id]] == ["images/a+step+1+timestamp+5+u.png", "images/b/step-2-5-x.png"]
    assert [f.path for f in listed[other]] == ["images/c%step%3%timestamp%5%00ab.png"]
    assert listed[empty] == []
    with pytest.raises(NotFound, match=r"f{32}"):
        service.files_of_runs([run_id, "f" * 32], "images")
