"""The offline journal: writes the server could not take, kept on disk for ``runstone sync``.

One JSON line per operation, fsynced, in ``<home>/journal/``. Every batch keeps the
idempotency key it was first sent with, so replaying a journal twice applies it once.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runstone.entities import Metric


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._path = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
        return self._path

    def append(self, tracking_uri: str, op: dict[str, Any]) -> Path:
        line = json.dumps({"uri": tracking_uri, **op}) + "\n"
        with self._lock:
            path = self.path
            with open(path, "a", encoding="utf-8") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
            return path

    def log_batch(
        self,
        tracking_uri: str,
        run_id: str,
        metrics: list[Metric],
        params: list[tuple[str, str]],
        tags: list[tuple[str, str]],
        key: str,
    ) -> Path:
        return self.append(
            tracking_uri,
            {
                "op": "log_batch",
                "run_id": run_id,
                "metrics": [[m.key, m.value, m.timestamp, m.step] for m in metrics],
                "params": params,
                "tags": tags,
                "idempotency_key": key,
            },
        )

    def set_terminated(self, tracking_uri: str, run_id: str, status: str, end_time: int) -> Path:
        return self.append(
            tracking_uri, {"op": "set_terminated", "run_id": run_id, "status": status, "end_time": end_time}
        )


@dataclass
class SyncReport:
    files: int = 0
    operations: int = 0
    metrics: int = 0
    failed_files: int = 0


def sync(directory: Path, client_for: Any, *, tracking_uri: str | None = None) -> SyncReport:
    """Replay every journal file in order; a file is removed once all its operations landed.

    ``client_for(uri)`` returns a RunstoneClient; ``tracking_uri`` overrides the recorded one.
    """
    report = SyncReport()
    if not directory.is_dir():
        return report
    for path in sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime):
        report.files += 1
        try:
            ops = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            for op in ops:
                client = client_for(tracking_uri or op["uri"])
                if op["op"] == "log_batch":
                    metrics = [Metric(k, float(v), int(ts), int(step)) for k, v, ts, step in op["metrics"]]
                    client.log_batch(
                        op["run_id"],
                        metrics,
                        [tuple(p) for p in op["params"]],
                        [tuple(t) for t in op["tags"]],
                        idempotency_key=op["idempotency_key"],
                    )
                    report.metrics += len(metrics)
                elif op["op"] == "set_terminated":
                    client.set_terminated(op["run_id"], op["status"], op["end_time"])
                report.operations += 1
        except Exception:
            report.failed_files += 1
            raise
        path.unlink()
    return report
