"""Static assets: our own files, and plotly.js served from the installed ``plotly`` package.

plotly.js is neither copied into the repository nor fetched from a CDN: the PyPI package ships
``plotly.min.js``, and its URL carries the version so browsers may cache it for good.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import threading
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from runstone.errors import NotFound
from runstone.governance.needs import signed_in

router = APIRouter(include_in_schema=False)
_gzip_lock = threading.Lock()
_gzipped: dict[Path, bytes] = {}
IMMUTABLE = "public, max-age=31536000, immutable"


@cache
def plotly_path() -> Path:
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise NotFound("The plotly package is not installed; charts need it (pip install plotly).")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise NotFound(f"The plotly package has no {path.name}; reinstall plotly.")
    return path


@cache
def plotly_version() -> str:
    try:
        return importlib.metadata.version("plotly")
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _compressed(path: Path) -> bytes:
    # Compressed once per process, on first use: 4.8 MB of JavaScript travel as about 1.4 MB.
    with _gzip_lock:
        if path not in _gzipped:
            _gzipped[path] = gzip.compress(path.read_bytes(), compresslevel=6)
        return _gzipped[path]


@router.get("/ui/vendor/plotly-{version}.min.js")
@signed_in
def plotly_js(version: str, request: Request) -> Response:
    if version != plotly_version():
        raise NotFound(f"This server serves plotly.js {plotly_version()}, not {version}.")
    path = plotly_path()
    headers = {"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
        return Response(_compressed(path), media_type="text/javascript; charset=utf-8", headers=headers)
    return FileResponse(path, media_type="text/javascript; charset=utf-8", headers=headers)
