"""A large artifact streams through a real server in both directions: neither the SDK nor the
server process holds the file in memory, and the recorded size and SHA-256 are the file's."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import pytest
from e2e_support import Server, remote

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
SIZE = 128 * MiB


def peak_rss(pid: int) -> int:
    """The process's peak resident memory so far, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def python_peak_growth(call):  # type: ignore[no-untyped-def]
    """(result of call(), how far Python's allocations grew at most while it ran)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = call()
        return result, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_a_large_file_streams_up_and_down(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    expected = hashlib.sha256()
    with open(source, "wb") as out:
        for i in range(SIZE // MiB):
            block = bytes([i % 251]) * (MiB - 1) + b"\n"
            expected.update(block)
            out.write(block)

    with remote(server.url) as client:
        run_id = client.create_run("0").info.run_id
        # A small round trip first, so the server has loaded whatever transfers need.
        client.log_text(run_id, "warm-up", "warm.txt")
        client.download_artifacts(run_id, "warm.txt", tmp_path / "warm")
        server_before = peak_rss(server.process.pid)

        info, upload_growth = python_peak_growth(lambda: client.log_artifact(run_id, source, "data"))
        local, download_growth = python_peak_growth(
            lambda: client.download_artifacts(run_id, "data/big.bin", tmp_path / "down")
        )
        server_growth = peak_rss(server.process.pid) - server_before
        listed = client.list_artifacts(run_id, "data")

    assert (info.path, info.file_size, info.sha256) == ("data/big.bin", SIZE, expected.hexdigest())
    assert [(f.path, f.file_size, f.sha256) for f in listed] == [("data/big.bin", SIZE, expected.hexdigest())]
    received = hashlib.sha256()
    with open(local, "rb") as downloaded:
        while chunk := downloaded.read(MiB):
            received.update(chunk)
    assert received.hexdigest() == expected.hexdigest()
    assert upload_growth < 16 * MiB, f"the SDK held {upload_growth / MiB:.1f} MiB while uploading"
    assert download_growth < 16 * MiB, f"the SDK held {download_growth / MiB:.1f} MiB while downloading"
    assert server_growth < 48 * MiB, f"the server's memory grew {server_growth / MiB:.1f} MiB for a 128 MiB file"
