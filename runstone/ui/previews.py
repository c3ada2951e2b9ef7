"""Artifact previews: what kind a file is, and a bounded read of it for the page.

Text, JSON, YAML and CSV are rendered by the page's templates (escaped); images and HTML are
shown from the raw endpoint, which answers with a sandboxing Content-Security-Policy.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from runstone.tracking.artifacts import ArtifactFile, ArtifactService

TEXT_LIMIT = 1024 * 1024
TABLE_ROWS = 500
TABLE_COLUMNS = 100
JSON_PRETTY_LIMIT = 256 * 1024

IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".svg": "image/svg+xml",
}
HTML = {".html", ".htm"}
TEXT = {
    ".txt", ".log", ".md", ".py", ".patch", ".diff", ".cfg", ".ini", ".toml", ".sh", ".sql", ".r", ".js", ".css",
    ".xml", ".rst", ".ipynb", ".jsonl", ".properties", ".env", ".conf", ".out", ".err",
}  # fmt: skip
YAML = {".yaml", ".yml"}
YAML_NAMES = {"MLmodel", "MLproject", "conda.yaml", "python_env.yaml"}


def kind_of(path: str) -> str:
    """image, html, csv, tsv, json, yaml, text, or unknown (sniffed when read)."""
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    ext = name[dot:].lower() if dot > 0 else ""
    if ext in IMAGES:
        return "image"
    if ext in HTML:
        return "html"
    if ext == ".csv":
        return "csv"
    if ext == ".tsv":
        return "tsv"
    if ext == ".json":
        return "json"
    if ext in YAML or name in YAML_NAMES:
        return "yaml"
    if ext in TEXT or name in ("requirements.txt", "Dockerfile", "LICENSE", "README"):
        return "text"
    return "unknown"


def raw_media_type(path: str) -> str:
    """The type the raw endpoint may declare: images and HTML only; all else is a download."""
    kind = kind_of(path)
    ext = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if kind == "image":
        return IMAGES[ext]
    if kind == "html":
        return "text/html; charset=utf-8"
    if kind in ("text", "json", "yaml", "csv", "tsv"):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


@dataclass
class Preview:
    kind: str
    text: str | None = None
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False
    note: str | None = None


def _head(chunks: Iterator[bytes], limit: int) -> tuple[bytes, bool]:
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    data = b"".join(parts)
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
    return data[:limit], len(data) > limit


def _decode(data: bytes, truncated: bool) -> str | None:
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the limit is not a binary file.
        if truncated and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8", errors="replace")
        return None


def _table(text: str, dialect: str, truncated: bool) -> Preview:
    reader = csv.reader(io.StringIO(text), delimiter="\t" if dialect == "tsv" else ",")
    rows: list[list[str]] = []
    more = False
    try:
        for i, row in enumerate(reader):
            if i > TABLE_ROWS:
                more = True
                break
            rows.append(row[:TABLE_COLUMNS])
    except csv.Error as exc:
        return Preview("text", text=text, truncated=truncated, note=f"Shown as text: not valid CSV ({exc}).")
    if truncated and rows and not more:
        rows.pop()  # the last line was cut by the size limit
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    width = max([len(header), *(len(r) for r in body)], default=0)
    header += [""] * (width - len(header))
    body = [r + [""] * (width - len(r)) for r in body]
    shown = f"the first {len(body)} rows" if (more or truncated) else None
    return Preview("table", header=header, rows=body, truncated=more or truncated, note=shown)


def preview(service: ArtifactService, artifact: ArtifactFile) -> Preview:
    kind = kind_of(artifact.info.path)
    if kind in ("image", "html"):
        return Preview(kind)
    data, truncated = _head(service.read(artifact), TEXT_LIMIT)
    text = _decode(data, truncated)
    if text is None:
        return Preview("binary", note="This file is not text; download it to open it.")
    if kind in ("csv", "tsv"):
        return _table(text, kind, truncated)
    if kind == "json" and not truncated and len(data) <= JSON_PRETTY_LIMIT:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return Preview("text", text=text, note="Shown as text: not valid JSON.")
    return Preview("text", text=text, truncated=truncated)
