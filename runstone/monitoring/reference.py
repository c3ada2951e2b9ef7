"""The reference data of a version: reading a recorded dataset file and keeping the model's
input columns. Used by the server when a version is registered (inputs only: the server never
loads a model) and by ``runstone monitor profile`` on the client."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput

# The server profiles a recorded dataset file at registration up to this size; a larger one
# takes `runstone monitor profile` where the data is.
MAX_REGISTRATION_BYTES = 1024 * 1024 * 1024


def read_table(path: Path) -> Any:
    """A CSV, Parquet or JSON-lines file as a pandas DataFrame."""
    import pandas as pd

    if not path.is_file():
        raise InvalidInput(f"{path} is not a file.")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".jsonl", ".ndjson"):
        return pd.read_json(path, lines=True)
    if suffix == ".json":
        return pd.read_json(path)
    return pd.read_csv(path)


def local_file(source: str | None) -> Path | None:
    """The regular file a dataset's source names, when there is one here."""
    if not source:
        return None
    text = source.strip()
    if text.startswith("{"):  # MLflow's dataset sources: {"uri": ...} or {"path": ...}
        try:
            found = json.loads(text)
        except ValueError:
            return None
        text = str(found.get("uri") or found.get("path") or "") if isinstance(found, dict) else ""
    path = Path(text.removeprefix("file://")).expanduser()
    return path if text and path.is_absolute() and path.is_file() else None


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while chunk := src.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def targets_of(schema: str | None) -> list[str]:
    """The target (label) columns named in a recorded dataset's schema."""
    try:
        found = json.loads(schema) if schema else {}
    except ValueError:
        return []
    targets = found.get("targets") if isinstance(found, dict) else None
    if isinstance(targets, str):
        return [targets]
    return [str(t) for t in targets] if isinstance(targets, list) else []


def model_inputs(frame: Any, signature: Sequence[str] | None, targets: Sequence[str] = ()) -> Any:
    """The columns of ``frame`` the model takes: the signature's, when it names them (a label or
    id column of the data is not a feature), else all but the targets."""
    if signature is None:
        return frame.drop(columns=[t for t in targets if t in frame.columns])
    missing = [c for c in signature if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"The reference data lacks the model's input columns {missing}; its columns are "
            f"{[str(c) for c in frame.columns]}."
        )
    return frame[list(signature)]
