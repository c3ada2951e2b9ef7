"""Memory per scoring request stays linear in the size of the body, measured on a real
``runstone models serve`` process (its peak resident memory, reset before each request)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from serving_models import Width
from serving_support import serve_command, start_scoring

import runstone.pyfunc

pytestmark = pytest.mark.e2e
MiB = 1024 * 1024


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def _peak_growth(pid: int, http: httpx.Client, url: str, body: bytes) -> tuple[int, httpx.Response]:
    """How far the server's resident memory rose above its level before the request."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current size
    before = _status(pid, "VmRSS")
    answer = http.post(url + "/invocations", content=body, headers={"Content-Type": "application/json"})
    return _status(pid, "VmHWM") - before, answer


def test_a_hostile_body_costs_memory_in_proportion_to_its_size(tmp_path):
    model = tmp_path / "width"
    runstone.pyfunc.save_model(model, python_model=Width())  # no signature: every key counts
    # The model's class lives beside this test: the server imports it from there.
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    server = start_scoring(serve_command("-m", str(model)), tmp_path / "serve.log", env={"PYTHONPATH": path})
    try:
        with httpx.Client(timeout=120) as http:
            http.post(server.url + "/invocations", json={"inputs": {"x": [1.0]}})  # warm up
            pid = server.process.pid
            # Each record names a key of its own: built naively, 60,000 records are a table of
            # 3.6 billion cells (tens of GB) and 9,000 records one of 81 million; the bodies are
            # about 2 MB and 0.3 MB. The first names too many columns, the second too many cells.
            for records, status in ((60_000, 413), (9_000, 400)):
                hostile = json.dumps({"dataframe_records": [{"x": 1, f"k{i}": 1} for i in range(records)]}).encode()
                growth, answer = _peak_growth(pid, http, server.url, hostile)
                assert answer.status_code == status, answer.text
                assert growth < 40 * len(hostile), f"{growth / MiB:.0f} MiB for a {len(hostile) / MiB:.1f} MiB body"
                print(f"hostile {len(hostile) / MiB:.1f} MiB -> {growth / MiB:.1f} MiB")
            # A legitimate table of the same order of size costs in proportion too.
            dense = json.dumps(
                {"dataframe_split": {"columns": [f"c{j}" for j in range(20)], "data": [[1.5] * 20] * 20_000}}
            ).encode()
            growth, answer = _peak_growth(pid, http, server.url, dense)
            assert answer.status_code == 200, answer.text
            assert growth < 40 * len(dense), f"{growth / MiB:.0f} MiB for a {len(dense) / MiB:.1f} MiB body"
            print(f"dense {len(dense) / MiB:.1f} MiB -> {growth / MiB:.1f} MiB")
    finally:
        server.stop()
