"""Artifacts through RunstoneClient: embedded (local) and over HTTP (remote), same behaviour."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from inprocess import forward

from runstone.config import Settings
from runstone.entities import FileInfo
from runstone.errors import InvalidInput, InvalidState, NotFound
from runstone.sdk import client as client_module
from runstone.sdk.client import RunstoneClient


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "remote"])
def client(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> Iterator[RunstoneClient]:
    # ``settings`` is named here so that each kind of client also runs on SQLite and PostgreSQL.
    if request.param == "remote":
        yield request.getfixturevalue("remote_client")
        return
    # The embedded backend is cached per process; keep this test's engines to itself.
    client_module.close_local_backends()
    yield request.getfixturevalue("local_client")
    client_module.close_local_backends()


@pytest.fixture
def run_id(client: RunstoneClient) -> str:
    return client.create_run("0").info.run_id


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A training job's output folder."""
    root = tmp_path / "outputs"
    (root / "plots").mkdir(parents=True)
    (root / "model" / "data").mkdir(parents=True)
    (root / "plots" / "loss.png").write_bytes(b"\x89PNG loss")
    (root / "model" / "MLmodel").write_text("flavors: {}\n")
    (root / "model" / "data" / "weights.bin").write_bytes(bytes(range(256)) * 4096)
    (root / "model" / "empty.txt").write_bytes(b"")
    return root


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_log_artifact_and_list(client, run_id, project):
    info = client.log_artifact(run_id, project / "plots" / "loss.png")
    assert info == FileInfo("loss.png", False, 9, sha(b"\x89PNG loss"))
    nested = client.log_artifact(run_id, project / "plots" / "loss.png", "figures/epoch-1")
    assert nested.path == "figures/epoch-1/loss.png"
    assert client.list_artifacts(run_id) == [
        FileInfo("figures", True, 9),
        FileInfo("loss.png", False, 9, sha(b"\x89PNG loss")),
    ]
    assert client.list_artifacts(run_id, "figures") == [FileInfo("figures/epoch-1", True, 9)]


def test_log_artifacts_folder_and_download_it_back(client, run_id, project, tmp_path):
    uploaded = client.log_artifacts(run_id, project / "model", "model")
    assert sorted(f.path for f in uploaded) == ["model/MLmodel", "model/data/weights.bin", "model/empty.txt"]
    weights = (project / "model" / "data" / "weights.bin").read_bytes()
    assert {f.path: (f.file_size, f.sha256) for f in uploaded}["model/data/weights.bin"] == (len(weights), sha(weights))
    assert client.list_artifacts(run_id) == [FileInfo("model", True, len(weights) + len("flavors: {}\n"))]

    folder = Path(client.download_artifacts(run_id, "model", tmp_path / "dl-folder"))
    assert folder == tmp_path / "dl-folder" / "model"
    assert tree(folder) == tree(project / "model")

    one = Path(client.download_artifacts(run_id, "model/data/weights.bin", tmp_path / "dl-file"))
    assert one == tmp_path / "dl-file" / "weights.bin"
    assert one.read_bytes() == weights

    whole = Path(client.download_artifacts(run_id, "", tmp_path / "dl-all"))
    assert tree(whole) == {f"model/{k}": v for k, v in tree(project / "model").items()}
    assert not list(tmp_path.rglob("*.part")), "no temporary download files are left behind"


def test_download_without_destination_goes_to_a_fresh_folder(client, run_id, project):
    client.log_artifact(run_id, project / "plots" / "loss.png")
    path = Path(client.download_artifacts(run_id, "loss.png"))
    try:
        assert path.read_bytes() == b"\x89PNG loss"
    finally:
        path.unlink()
        path.parent.rmdir()


def test_log_text_and_dict(client, run_id, tmp_path):
    client.log_text(run_id, "héllo\n", "notes/readme.txt")
    client.log_dict(run_id, {"classes": 3, "names": ["a", "b"]}, "meta/config.json")
    folder = Path(client.download_artifacts(run_id, "", tmp_path / "dl"))
    assert (folder / "notes" / "readme.txt").read_text(encoding="utf-8") == "héllo\n"
    assert json.loads((folder / "meta" / "config.json").read_text()) == {"classes": 3, "names": ["a", "b"]}


def test_errors_are_the_same_everywhere(client, run_id, project, tmp_path):
    with pytest.raises(NotFound, match="has no artifact at 'missing'"):
        client.download_artifacts(run_id, "missing", tmp_path)
    with pytest.raises(InvalidInput, match="is not a file"):
        client.log_artifact(run_id, project / "plots")
    with pytest.raises(InvalidInput, match="is not a folder"):
        client.log_artifacts(run_id, project / "plots" / "loss.png")
    with pytest.raises(InvalidInput, match=r"must not contain '\.' or '\.\.' segments"):
        client.log_artifact(run_id, project / "plots" / "loss.png", "../../elsewhere")
    with pytest.raises(InvalidInput, match=r"must not contain '\.' or '\.\.' segments"):
        client.download_artifacts(run_id, "../other-run", tmp_path)
    # Dot segments must not lead a request to another run's artifacts either.
    other = client.create_run("0").info.run_id
    with pytest.raises(InvalidInput, match=r"must not contain '\.' or '\.\.' segments"):
        client.log_artifact(run_id, project / "plots" / "loss.png", f"../../{other}/artifacts")
    assert client.list_artifacts(other) == []
    client.delete_run(run_id)
    with pytest.raises(InvalidState, match="is deleted"):
        client.log_artifact(run_id, project / "plots" / "loss.png")


# ------------------------------------------------------------------ HTTP transport only


class Faulty(httpx.BaseTransport):
    """Passes requests to the in-process server after ``before(request)`` had its say."""

    def __init__(self, inner: httpx.BaseTransport, before: Callable[[httpx.Request], None]) -> None:
        self.inner = inner
        self.before = before

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.before(request)
        return forward(self.inner, request)


def test_retried_upload_sends_the_whole_file_again(http, settings, project):
    attempts: list[bytes] = []

    def drop_first_upload(request: httpx.Request) -> None:
        if request.method == "PUT":
            attempts.append(request.read())
            if len(attempts) == 1:
                raise httpx.ReadError("connection reset by peer after the body was sent")

    with httpx.Client(base_url="http://testserver", transport=Faulty(http._transport, drop_first_upload)) as flaky:
        client = RunstoneClient(
            "http://testserver", http_client=flaky, settings=settings.model_copy(update={"http_retries": 2})
        )
        weights = project / "model" / "data" / "weights.bin"
        info = client.log_artifact(client.create_run("0").info.run_id, weights)
    assert attempts == [weights.read_bytes()] * 2
    assert (info.file_size, info.sha256) == (weights.stat().st_size, sha(weights.read_bytes()))


def test_upload_declares_its_length_and_sends_the_file_as_it_was_when_the_upload_began(http, remote_client, tmp_path):
    run_id = remote_client.create_run("0").info.run_id
    seen: list[httpx.Request] = []
    growing, shrinking = tmp_path / "growing.log", tmp_path / "shrinking.bin"
    growing.write_bytes(b"x" * 3_000_000)
    shrinking.write_bytes(b"y" * 3_000_000)

    def change_the_file(request: httpx.Request) -> None:
        seen.append(request)
        if request.url.path.endswith("growing.log"):
            with growing.open("ab") as out:  # a training job appends to its log while it is uploaded
                out.write(b"more")
        elif request.url.path.endswith("shrinking.bin"):
            shrinking.write_bytes(b"y" * 10)

    with httpx.Client(base_url="http://testserver", transport=Faulty(http._transport, change_the_file)) as watched:
        client = RunstoneClient("http://testserver", http_client=watched, settings=remote_client.settings)
        info = client.log_artifact(run_id, growing)
        with pytest.raises(InvalidInput, match="became shorter while it was being uploaded"):
            client.log_artifact(run_id, shrinking)
    upload = next(r for r in seen if r.method == "PUT")
    assert upload.headers["content-length"] == "3000000"
    assert "transfer-encoding" not in upload.headers
    assert (info.file_size, info.sha256) == (3_000_000, sha(b"x" * 3_000_000))
    assert [f.path for f in remote_client.list_artifacts(run_id)] == ["growing.log"]


@pytest.mark.parametrize("name", ["plots/loss.png", "model/data/weights.bin"])  # hashed in place; on a thread
def test_download_refuses_a_corrupted_transfer(http, remote_client, project, tmp_path, name):
    run_id = remote_client.create_run("0").info.run_id
    remote_client.log_artifact(run_id, project / name)

    def corrupt(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        body = bytearray(response.read())
        body[-1] ^= 0xFF  # same length, one byte wrong
        return httpx.Response(200, headers=response.headers, content=bytes(body))

    class Corrupting(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = forward(http._transport, request)
            return corrupt(request, response) if "/artifacts/" in request.url.path else response

    with httpx.Client(base_url="http://testserver", transport=Corrupting()) as bad:
        client = RunstoneClient("http://testserver", http_client=bad, settings=remote_client.settings)
        with pytest.raises(InvalidInput, match="does not match its recorded SHA-256"):
            client.download_artifacts(run_id, Path(name).name, tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == [], "neither the bad file nor a temporary file is kept"


def test_a_listing_with_unsafe_paths_is_refused(remote_client, tmp_path):
    run_id = "0" * 32

    def lying_server(request: httpx.Request) -> httpx.Response:
        files = [{"path": "../../outside.txt", "is_dir": False, "file_size": 1, "sha256": sha(b"x")}]
        return httpx.Response(200, json={"files": files})

    with httpx.Client(base_url="http://testserver", transport=httpx.MockTransport(lying_server)) as liar:
        client = RunstoneClient("http://testserver", http_client=liar, settings=remote_client.settings)
        with pytest.raises(InvalidInput, match="unsafe artifact path"):
            client.download_artifacts(run_id, "", tmp_path / "dl" / "here")
    assert not (tmp_path / "outside.txt").exists()
