"""The ArtifactStore contract, run on every backend: a local folder and S3 on a real SeaweedFS."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from s3server import S3Server

from runstone.artifacts.base import ArtifactStore, Stored
from runstone.artifacts.local import LocalArtifactStore
from runstone.artifacts.s3 import S3ArtifactStore
from runstone.errors import InvalidInput, NotFound

MiB = 1024 * 1024


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "store")
    server: S3Server = request.getfixturevalue("s3_server")
    # A prefix of its own per test: tests share the session's bucket but never see each other.
    client = request.getfixturevalue("s3_client")
    return S3ArtifactStore(f"s3://{server.bucket}/contract-{uuid.uuid4().hex}", client=client)


def read_all(store: ArtifactStore, key: str) -> bytes:
    return b"".join(store.read(key))


def stored(data: bytes) -> Stored:
    return Stored(len(data), hashlib.sha256(data).hexdigest())


def test_is_an_artifact_store(store):
    assert isinstance(store, ArtifactStore)


def test_the_readiness_probe_passes_and_leaves_nothing_behind(store):
    store.check_writable()
    store.write("kept.txt", [b"k"])
    store.check_writable()
    assert store.exists("kept.txt")
    local = store.local_path("kept.txt")
    if local is not None:
        assert [p.name for p in local.parent.rglob("*") if p.is_file()] == ["kept.txt"]


def test_round_trip_reports_size_and_sha256(store):
    pieces = [b"alpha ", b"", b"beta " * 1000, bytes(range(256))]
    data = b"".join(pieces)
    assert store.write("runs/1/model.bin", iter(pieces)) == stored(data)
    assert read_all(store, "runs/1/model.bin") == data
    assert store.exists("runs/1/model.bin")


def test_write_file(store, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(b"w" * (3 * MiB + 17))
    assert store.write_file("w/weights.bin", source) == stored(source.read_bytes())
    assert read_all(store, "w/weights.bin") == source.read_bytes()


def test_overwrite_replaces_content(store):
    store.write("k/file.txt", [b"first version, longer than the second"])
    assert store.write("k/file.txt", [b"second"]) == stored(b"second")
    assert read_all(store, "k/file.txt") == b"second"


def test_empty_file(store):
    assert store.write("empty.txt", iter(())) == stored(b"")
    assert store.exists("empty.txt")
    assert read_all(store, "empty.txt") == b""


def test_nested_keys_are_independent(store):
    store.write("a/b/c/d.txt", [b"deep"])
    store.write("a/b/e.txt", [b"shallow"])
    store.write("a/x.txt", [b"top"])
    assert read_all(store, "a/b/c/d.txt") == b"deep"
    assert read_all(store, "a/b/e.txt") == b"shallow"
    assert read_all(store, "a/x.txt") == b"top"
    assert not store.exists("a/b")


def test_delete_prefix_removes_everything_below_and_nothing_beside(store):
    for key in ("run/a/x.txt", "run/a/y/z.txt", "run/a/y/deeper/w.txt", "run/ab.txt", "run/ab/c.txt", "run/b.txt"):
        store.write(key, [key.encode()])
    store.delete_prefix("run/a")
    for gone in ("run/a/x.txt", "run/a/y/z.txt", "run/a/y/deeper/w.txt"):
        assert not store.exists(gone)
        with pytest.raises(NotFound):
            read_all(store, gone)
    # Keys that merely start with the same characters are not below the prefix.
    for kept in ("run/ab.txt", "run/ab/c.txt", "run/b.txt"):
        assert read_all(store, kept) == kept.encode()


def test_delete_prefix_of_one_file_and_of_nothing(store):
    store.write("d/one.txt", [b"1"])
    store.write("d/one.txt.bak", [b"2"])
    store.delete_prefix("d/one.txt")
    assert not store.exists("d/one.txt")
    assert read_all(store, "d/one.txt.bak") == b"2"
    store.delete_prefix("never/written")  # absent is fine


def test_delete_prefix_refuses_the_whole_root(store):
    store.write("keep.txt", [b"k"])
    with pytest.raises(InvalidInput, match="whole artifact root"):
        store.delete_prefix("")
    assert read_all(store, "keep.txt") == b"k"


def test_missing_key(store):
    assert not store.exists("no/such/file")
    with pytest.raises(NotFound, match=r"No artifact at 'no/such/file'"):
        read_all(store, "no/such/file")


def test_failed_write_keeps_the_old_content(store):
    store.write("model.bin", [b"good old model"])

    def broken() -> Iterator[bytes]:
        # More than one multipart part on S3, so an upload really is under way when it fails.
        for _ in range(20):
            yield b"n" * MiB
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.write("model.bin", broken())
    assert read_all(store, "model.bin") == b"good old model"

    with pytest.raises(ConnectionResetError):
        store.write("new.bin", broken())
    assert not store.exists("new.bin")


def test_large_file_streams_in_both_directions(store, peak_memory):
    size = 64 * MiB
    expected = hashlib.sha256()

    def generate() -> Iterator[bytes]:
        for i in range(size // MiB):
            block = bytes([i % 251]) * (MiB - 1) + b"\n"
            expected.update(block)
            yield block

    with peak_memory() as writing:
        result = store.write("big/data.bin", generate())
    digest, length = hashlib.sha256(), 0
    with peak_memory() as reading:
        for chunk in store.read("big/data.bin"):
            digest.update(chunk)
            length += len(chunk)
    assert result == Stored(size, expected.hexdigest())
    assert (length, digest.hexdigest()) == (size, expected.hexdigest())
    assert writing.growth < 24 * MiB, f"writing 64 MiB held {writing.growth / MiB:.1f} MiB in memory"
    assert reading.growth < 8 * MiB, f"reading 64 MiB held {reading.growth / MiB:.1f} MiB in memory"


# ----------------------------------------------------------------- local folder only


def test_local_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    store.write("m/model.bin", [b"old"])

    def broken() -> Iterator[bytes]:
        yield b"partial"
        raise OSError("disk trouble")

    with pytest.raises(OSError, match="disk trouble"):
        store.write("m/model.bin", broken())
    assert (tmp_path / "store" / "m" / "model.bin").read_bytes() == b"old"
    leftovers = [p for p in (tmp_path / "store").rglob("*") if p.is_file() and p.name != "model.bin"]
    assert leftovers == []


def test_local_path_points_at_the_stored_bytes(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    store.write("a/b.txt", [b"bytes"])
    path = store.local_path("a/b.txt")
    assert path is not None
    assert path.read_bytes() == b"bytes"
    assert store.local_path("a/missing.txt") is None
    assert store.local_path("a") is None, "a folder is not a stored file"


@pytest.mark.parametrize("key", ["../outside.txt", "a/../../outside.txt", "/etc/passwd"])
def test_local_keys_cannot_leave_the_root(tmp_path, key):
    store = LocalArtifactStore(tmp_path / "store")
    with pytest.raises(InvalidInput, match="leaves the artifact root"):
        store.write(key, [b"x"])
    with pytest.raises(InvalidInput, match="leaves the artifact root"):
        store.delete_prefix(key)
    assert not (tmp_path / "outside.txt").exists()


def test_local_file_cannot_replace_a_folder(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    store.write("plots/a.png", [b"png"])
    with pytest.raises(InvalidInput, match="is a folder"):
        store.write("plots", [b"x"])
    assert read_all(store, "plots/a.png") == b"png"


# ------------------------------------------------------------------ S3 only


@pytest.mark.s3
def test_s3_store_names_bucket_and_prefix(s3_server, s3_client):
    store = S3ArtifactStore(f"s3://{s3_server.bucket}/team/artifacts/", client=s3_client)
    assert store.root_uri == f"s3://{s3_server.bucket}/team/artifacts"
    store.write("k.txt", [b"v"])
    body = s3_client.get_object(Bucket=s3_server.bucket, Key="team/artifacts/k.txt")["Body"].read()
    assert body == b"v"
    assert store.local_path("k.txt") is None


@pytest.mark.parametrize("uri", ["s3://", "s3:///prefix", "gs://bucket/x"])
def test_s3_store_rejects_malformed_uris(uri):
    with pytest.raises(InvalidInput, match="Expected s3://bucket"):
        S3ArtifactStore(uri, client=object())


@pytest.mark.s3
def test_s3_store_with_wrong_credentials_fails_instead_of_reporting_absence(s3_server, s3_client):
    import boto3
    from botocore.exceptions import ClientError

    good = S3ArtifactStore(f"s3://{s3_server.bucket}/creds-{uuid.uuid4().hex}", client=s3_client)
    good.write("present.txt", [b"here"])
    wrong = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key="not-the-secret",
        region_name="us-east-1",
    )
    with closing(wrong):
        bad = S3ArtifactStore(good.root_uri, client=wrong)
        with pytest.raises(ClientError, match=r"403|Forbidden|SignatureDoesNotMatch"):
            bad.exists("present.txt")
        with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
            read_all(bad, "present.txt")


@pytest.mark.s3
def test_s3_failed_upload_leaves_no_multipart_upload_behind(s3_server, s3_client):
    client = s3_client
    prefix = f"aborted-{uuid.uuid4().hex}"
    store = S3ArtifactStore(f"s3://{s3_server.bucket}/{prefix}", client=client)

    def broken() -> Iterator[bytes]:
        for _ in range(20):
            yield b"p" * MiB
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        store.write("big.bin", broken())
    uploads = client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=prefix).get("Uploads", [])
    assert uploads == []


@pytest.mark.s3
def test_s3_key_too_long_is_invalid_input(s3_server, s3_client):
    store = S3ArtifactStore(f"s3://{s3_server.bucket}/p", client=s3_client)
    with pytest.raises(InvalidInput, match="too long for S3"):
        store.write("é" * 600, [b"x"])


def test_local_store_sweeps_temporary_files_no_writer_holds(tmp_path):
    """A writer that crashed leaves a temporary file; the next start removes it, not one still written."""
    import fcntl

    from runstone.artifacts.local import LocalArtifactStore

    LocalArtifactStore(tmp_path)
    left, writing = tmp_path / ".tmp" / "left", tmp_path / ".tmp" / "writing"
    left.parent.mkdir()
    left.write_bytes(b"x")  # a writer that died: its lock went with it, whatever the file's age
    with open(writing, "wb") as writer:
        fcntl.flock(writer.fileno(), fcntl.LOCK_EX)
        writer.write(b"y")
        writer.flush()
        assert LocalArtifactStore(tmp_path).swept == 1
        assert not left.exists()
        assert writing.exists(), "a file an upload is still writing stays"


def test_readiness_holds_while_a_replica_starting_at_the_same_moment_sweeps(tmp_path, monkeypatch):
    """Two replicas started together on one folder: the sweep of one may remove the readiness
    probe of the other before that one deletes it; the store is writable all the same."""
    store = LocalArtifactStore(tmp_path)
    write = store._write

    def write_then_another_replica_starts(target: Path, chunks: object) -> Stored:
        stored = write(target, chunks)  # type: ignore[arg-type]
        assert LocalArtifactStore(tmp_path).swept == 1  # the probe, written and unlocked
        return stored

    monkeypatch.setattr(store, "_write", write_then_another_replica_starts)
    store.check_writable()


# A key is walked below the root (links followed): the file a key names is the one the operating
# system would find, and a link that leaves the root refuses the key.
_KEYS = [
    ("a/b/f", "a/b/f"),
    ("a/b/new/x/y", "a/b/new/x/y"),
    ("a/inside/f", "a/b/f"),  # a link to a folder inside the root is followed
    ("a/inside/new/z", "a/b/new/z"),
    ("a/outside/passwd", None),  # a link out of the root
    ("a/../a/b", "a/b"),
    ("a//b/./f", "a/b/f"),
    ("a/new/../../x", "x"),
    ("../x", None),
    ("/etc/passwd", None),
    ("a/new/x/../../../..", None),
]


@pytest.mark.parametrize(("key", "found"), _KEYS)
def test_local_store_resolves_keys_as_the_file_system_does(tmp_path: Path, key: str, found: str | None) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    (store.root / "a" / "b").mkdir(parents=True)
    (store.root / "a" / "b" / "f").write_bytes(b"f")
    (store.root / "a" / "inside").symlink_to(store.root / "a" / "b")
    (store.root / "a" / "outside").symlink_to(tmp_path)
    if found is None:
        with pytest.raises(InvalidInput, match="leaves the artifact root"):
            store._resolve(key)
        with pytest.raises(InvalidInput):
            store.write(key, [b"x"])
        assert not list(tmp_path.glob("passwd")) and not (tmp_path / "x").exists()
    else:
        assert store._resolve(key) == store.root / found
