"""/api/v1/runs/{run_id}/artifacts through the real HTTP stack, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def run_id(http) -> str:
    response = http.post("/api/v1/runs", json={"experiment_id": "0"})
    assert response.status_code == 201
    return str(response.json()["run"]["info"]["run_id"])


def put(http, run_id: str, path: str, data: bytes) -> httpx.Response:
    return http.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=data)


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_answers_size_and_checksum(http, run_id):
    response = put(http, run_id, "plots/loss.png", b"png bytes")
    assert response.status_code == 200
    assert response.json() == {
        "file": {"path": "plots/loss.png", "is_dir": False, "file_size": 9, "sha256": sha(b"png bytes")}
    }


def test_download_carries_checksum_and_length(http, run_id):
    put(http, run_id, "model/weights.bin", b"w" * 5000)
    response = http.get(f"/api/v1/runs/{run_id}/artifacts/model/weights.bin")
    assert response.status_code == 200
    assert response.content == b"w" * 5000
    assert response.headers["x-checksum-sha256"] == sha(b"w" * 5000)
    assert response.headers["content-length"] == "5000"
    assert response.headers["content-type"] == "application/octet-stream"
    assert 'filename="weights.bin"' in response.headers["content-disposition"]


def test_list_with_folder_sizes_and_recursive(http, run_id):
    put(http, run_id, "a.txt", b"1234")
    put(http, run_id, "data/x.csv", b"x" * 10)
    put(http, run_id, "data/deep/y.csv", b"y" * 20)
    listed = http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"]
    assert listed == [
        {"path": "a.txt", "is_dir": False, "file_size": 4, "sha256": sha(b"1234")},
        {"path": "data", "is_dir": True, "file_size": 30},
    ]
    inside = http.get(f"/api/v1/runs/{run_id}/artifacts", params={"path": "data"}).json()["files"]
    assert [(f["path"], f["is_dir"], f["file_size"]) for f in inside] == [
        ("data/deep", True, 20),
        ("data/x.csv", False, 10),
    ]
    everything = http.get(f"/api/v1/runs/{run_id}/artifacts", params={"recursive": "true"}).json()["files"]
    assert sorted(f["path"] for f in everything) == ["a.txt", "data/deep/y.csv", "data/x.csv"]


def test_zip_of_a_folder_the_whole_run_and_one_file(http, run_id):
    put(http, run_id, "top.txt", b"top")
    put(http, run_id, "data/x.csv", b"x" * 3000)
    put(http, run_id, "data/deep/y.csv", b"")

    def unzip(params: dict[str, str]) -> tuple[httpx.Response, dict[str, bytes]]:
        response = http.get(f"/api/v1/runs/{run_id}/artifacts-zip", params=params)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            assert archive.testzip() is None
            return response, {name: archive.read(name) for name in archive.namelist()}

    response, folder = unzip({"path": "data"})
    assert folder == {"x.csv": b"x" * 3000, "deep/y.csv": b""}
    assert 'filename="data.zip"' in response.headers["content-disposition"]
    _, whole = unzip({})
    assert whole == {"top.txt": b"top", "data/x.csv": b"x" * 3000, "data/deep/y.csv": b""}
    _, single = unzip({"path": "data/x.csv"})
    assert single == {"x.csv": b"x" * 3000}
    missing = http.get(f"/api/v1/runs/{run_id}/artifacts-zip", params={"path": "nope"})
    assert missing.status_code == 404
    assert "has no artifact at 'nope'" in missing.json()["error"]["message"]


def raw_url(http, target: str):
    """``target`` sent as written: a URL of the client's own class (httpx's, or httpx2's for
    Starlette's test client when that is installed) keeps dot segments a string would lose."""
    return type(http.base_url)(f"http://testserver{target}")


# Raw request targets: httpx would otherwise remove dot segments before sending.
BAD_UPLOAD_TARGETS = [
    "%2e%2e/x",
    "%2E%2E/%2E%2E/escape.txt",
    "a/%2e%2e/%2e%2e/%2e%2e/escape.txt",
    "..%2fescape.txt",
    "%2e%2e%2f%2e%2e%2fescape.txt",
    "%2fetc/escape.txt",
    "..%5cescape.txt",
    "a%00b.txt",
    "a//b.txt",
    "",
]


def test_bad_upload_paths_answer_400_and_write_nothing(http, run_id, tmp_path):
    before = files_under(tmp_path)
    for raw in BAD_UPLOAD_TARGETS:
        url = raw_url(http, f"/api/v1/runs/{run_id}/artifacts/{raw}")
        response = http.request("PUT", url, content=b"evil")
        assert response.status_code == 400, (raw, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_input", raw
        assert "Artifact path" in error["message"], raw
    assert files_under(tmp_path) == before
    assert http.get(f"/api/v1/runs/{run_id}/artifacts", params={"recursive": "true"}).json()["files"] == []


def test_bad_download_and_listing_paths_answer_400(http, run_id):
    for raw in ("%2e%2e/x", "..%2f..%2fetc/passwd", "%2fetc/passwd"):
        response = http.request("GET", raw_url(http, f"/api/v1/runs/{run_id}/artifacts/{raw}"))
        assert response.status_code == 400, raw
        assert response.json()["error"]["code"] == "invalid_input"
    for path in ("../..", "a/../../b", "/etc", "a\\b"):
        for route in ("artifacts", "artifacts-zip"):
            response = http.get(f"/api/v1/runs/{run_id}/{route}", params={"path": path})
            assert response.status_code == 400, (route, path, response.text)
            assert response.json()["error"]["code"] == "invalid_input"


def test_deleted_run_rejects_uploads(http, run_id, tmp_path):
    assert put(http, run_id, "before.txt", b"b").status_code == 200
    assert http.post(f"/api/v1/runs/{run_id}/delete").status_code == 200
    before = files_under(tmp_path)
    response = put(http, run_id, "after.txt", b"a")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"
    assert "is deleted; restore it" in response.json()["error"]["message"]
    assert files_under(tmp_path) == before
    assert http.get(f"/api/v1/runs/{run_id}/artifacts/before.txt").content == b"b"


def test_unknown_run(http):
    response = put(http, "0" * 32, "a.txt", b"a")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert http.get(f"/api/v1/runs/{'0' * 32}/artifacts").status_code == 404


def test_folder_and_file_paths_do_not_mix(http, run_id):
    put(http, run_id, "plots/a.png", b"a")
    response = put(http, run_id, "plots", b"file over folder")
    assert response.status_code == 400
    assert "is a folder" in response.json()["error"]["message"]
    response = put(http, run_id, "plots/a.png/b.png", b"folder under file")
    assert response.status_code == 400
    assert "which is a file" in response.json()["error"]["message"]
    missing = http.get(f"/api/v1/runs/{run_id}/artifacts/plots")
    assert missing.status_code == 404, "a folder is not a downloadable file"


def test_delete_file_and_folder(http, run_id, settings):
    for path in ("logs/a.txt", "logs/b/c.txt", "keep.txt"):
        put(http, run_id, path, path.encode())
    response = http.delete(f"/api/v1/runs/{run_id}/artifacts/logs")
    assert response.json() == {"deleted": 2}
    assert [f["path"] for f in http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"]] == ["keep.txt"]
    assert files_under(Path(settings.artifact_root)) == [f"0/{run_id}/artifacts/keep.txt"]
    assert http.get(f"/api/v1/runs/{run_id}/artifacts/logs/a.txt").status_code == 404
    assert http.delete(f"/api/v1/runs/{run_id}/artifacts/logs").status_code == 404


def test_artifact_size_limit(app, http, run_id, tmp_path):
    app.state.settings = app.state.settings.model_copy(update={"max_artifact_bytes": 1000})
    assert put(http, run_id, "fits.bin", b"f" * 1000).status_code == 200
    before = files_under(tmp_path)
    declared = put(http, run_id, "declared.bin", b"d" * 1001)  # Content-Length says it is too big

    def chunked():
        for _ in range(5):
            yield b"c" * 300

    streamed = http.put(f"/api/v1/runs/{run_id}/artifacts/streamed.bin", content=chunked())
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        assert "larger than the limit of 1000 bytes" in response.json()["error"]["message"]
    assert files_under(tmp_path) == before
    listed = http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"]
    assert [f["path"] for f in listed] == ["fits.bin"]


def test_non_ascii_names_download(http, run_id):
    name = 'résumé "final" 图.txt'
    assert put(http, run_id, f"docs/{name}", b"text").status_code == 200
    response = http.get(f"/api/v1/runs/{run_id}/artifacts/docs/{name}")
    assert response.status_code == 200
    assert response.content == b"text"
    assert "filename*=utf-8''" in response.headers["content-disposition"]
    for folder in ("docs", f"docs/{name}"):
        zipped = http.get(f"/api/v1/runs/{run_id}/artifacts-zip", params={"path": folder})
        assert zipped.status_code == 200
        with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
            assert archive.read(name) == b"text"
    assert "filename*=utf-8''" in zipped.headers["content-disposition"]


def test_large_upload_is_streamed_to_storage(app, run_id, settings, peak_memory):
    """64 MiB through the whole server stack (middleware, routing, service, store) while the
    process never holds more than a few MiB of it; far above the JSON body limit too."""
    size = 64 * MiB
    expected = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        for i in range(size // MiB):
            block = bytes([i]) * MiB
            expected.update(block)
            yield block

    async def upload() -> httpx.Response:
        # httpx's ASGI transport hands the body to the app chunk by chunk, as a socket would;
        # the TestClient would read all of it into memory first.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.put(f"/api/v1/runs/{run_id}/artifacts/big/data.bin", content=body())

    with peak_memory() as peak:
        response = anyio.run(upload)
    assert response.status_code == 200, response.text
    assert response.json()["file"] == {
        "path": "big/data.bin",
        "is_dir": False,
        "file_size": size,
        "sha256": expected.hexdigest(),
    }
    stored = Path(settings.artifact_root) / "0" / run_id / "artifacts" / "big" / "data.bin"
    assert stored.stat().st_size == size
    assert peak.growth < 16 * MiB, f"uploading 64 MiB held {peak.growth / MiB:.1f} MiB in memory"


def test_zipped_folders_are_compressed_and_dated(http, run_id):
    """A zip of a folder deflates its members and stamps them with the time of the download."""
    import datetime as dt
    import io
    import zipfile

    http.put(f"/api/v1/runs/{run_id}/artifacts/logs/a.txt", content=b"a" * 100_000)
    response = http.get(f"/api/v1/runs/{run_id}/artifacts-zip", params={"path": "logs"})
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    [member] = archive.infolist()
    assert member.filename == "a.txt"
    assert member.compress_type == zipfile.ZIP_DEFLATED
    assert member.compress_size < 10_000
    assert member.date_time[0] >= dt.date.today().year - 1
    assert archive.read("a.txt") == b"a" * 100_000


def test_a_large_upload_is_received_into_the_store_and_put_in_place_without_a_copy(
    app, http, run_id, tmp_path, monkeypatch
):
    """Past 1 MiB a body is written once, as it arrives, into the store's own temporary folder;
    storing it renames that very file into place (same inode). Refused or stored, nothing is
    left in the temporary folder."""
    from runstone.artifacts.local import LocalArtifactStore

    staged: list[tuple[Path, int]] = []
    original = LocalArtifactStore.stage

    def stage(self):  # type: ignore[no-untyped-def]
        made = original(self)
        staged.append((made.path, made.path.stat().st_ino))
        return made

    monkeypatch.setattr(LocalArtifactStore, "stage", stage)
    data = bytes(range(256)) * (12 * 1024)  # 3 MiB
    experiment = http.get(f"/api/v1/runs/{run_id}").json()["run"]["info"]["experiment_id"]
    routes = {
        "native.bin": lambda: put(http, run_id, "big/native.bin", data),
        "proxied.bin": lambda: http.put(
            f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run_id}/artifacts/big/proxied.bin", content=data
        ),
    }
    for name, send in routes.items():
        staged.clear()
        assert send().status_code == 200
        (stored,) = list(tmp_path.rglob(name))
        assert stored.read_bytes() == data
        ((temporary, inode),) = staged
        assert temporary.parent.name == ".tmp" and stored.stat().st_ino == inode
        assert list(temporary.parent.iterdir()) == []
    got = http.get(f"/api/v1/runs/{run_id}/artifacts/big/proxied.bin")
    assert got.content == data and got.headers["x-checksum-sha256"] == sha(data)

    # Refused once the body is in (the file belongs to a registered version): the received
    # file is gone and the stored one unchanged.
    M = "/api/2.0/mlflow"
    assert put(http, run_id, "big/MLmodel", b"flavors: {}\n").status_code == 200
    assert http.post(f"{M}/registered-models/create", json={"name": "big"}).status_code == 200
    version = {"name": "big", "source": f"runs:/{run_id}/big", "run_id": run_id}
    created = http.post(f"{M}/model-versions/create", json=version)
    assert created.status_code == 200, created.text
    for name, send in routes.items():
        staged.clear()
        refused = send()
        assert refused.status_code == 409, refused.text
        ((temporary, _),) = staged
        assert list(temporary.parent.iterdir()) == []
        assert next(tmp_path.rglob(name)).read_bytes() == data
