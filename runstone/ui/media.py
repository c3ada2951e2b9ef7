"""Media of the runs a workspace draws: images logged per step (``log_image``) and tables
(``log_table``), stored as MLflow stores them (see ``runstone.sdk.media``).

The workspace asks which image keys and tables its runs have, then shows each image key with a
step slider, side by side across runs (the images come from the run's raw artifact route), and
each table sortable and filterable in the browser.
"""

from __future__ import annotations

import re
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Response

from runstone.deps import artifacts, browse
from runstone.errors import InvalidInput
from runstone.governance.needs import needs
from runstone.governance.permissions import Permission
from runstone.tracking.artifacts import ArtifactService
from runstone.tracking.browse import MAX_COMPARED_RUNS, BrowseService
from runstone.tracking.tags import IMAGES_FOLDER as IMAGES
from runstone.tracking.tags import LOGGED_ARTIFACTS as LOGGED_ARTIFACTS_TAG
from runstone.ui.web import json_response

data_router = APIRouter(include_in_schema=False)
Browse = Annotated[BrowseService, Depends(browse)]
Artifacts = Annotated[ArtifactService, Depends(artifacts)]
MAX_TABLE_BYTES = 5 * 1024 * 1024
_IMAGE = re.compile(r"^images/(?P<key>.+)/step-(?P<step>\d+)-(?P<ts>\d+)-\w+\.(png|jpe?g|gif|webp)$", re.I)
# The stock MLflow client's log_image: 'images/<key>+step+<step>+timestamp+<ts>+<uuid>.png' (the
# key's '/' written '~'), and before MLflow 3 the same with '%' for '+' and '#' for '/'; beside
# each image a smaller copy, '<same name>+compressed.webp', which the workspace leaves out.
_MLFLOW_IMAGE = re.compile(
    r"^images/(?P<key>[^/]+?)(?P<sep>[+%])step(?P=sep)(?P<step>\d+)(?P=sep)timestamp(?P=sep)(?P<ts>\d+)"
    r"(?P=sep)[\w-]+\.(png|jpe?g|gif|webp)$",
    re.I,
)


def _image(path: str) -> tuple[str, int] | None:
    """The key and step of an image file that log_image wrote (runstone's or MLflow's), or None."""
    found = _IMAGE.match(path)
    if found:
        return found["key"], int(found["step"])
    found = _MLFLOW_IMAGE.match(path)
    if found:
        return found["key"].replace("~" if found["sep"] == "+" else "#", "/"), int(found["step"])
    return None


def _tables(tag: str | None) -> list[str]:
    try:
        listed = orjson.loads(tag) if tag else []
    except orjson.JSONDecodeError:
        return []
    if not isinstance(listed, list):
        return []
    return [
        i["path"] for i in listed if isinstance(i, dict) and i.get("type") == "table" and isinstance(i.get("path"), str)
    ]


@data_router.get("/ui/data/media")
@needs(Permission.READ, "run", "run", optional=True)
def media(info: Browse, files: Artifacts, run: Annotated[list[str] | None, Query()] = None) -> Response:
    """The image keys (with each run's steps) and the tables of the named runs."""
    run_ids = list(dict.fromkeys(run or []))
    if len(run_ids) > MAX_COMPARED_RUNS:
        raise InvalidInput(f"Ask for the media of at most {MAX_COMPARED_RUNS} runs at once.")
    images: dict[str, dict[str, list[tuple[int, str]]]] = {}
    tables: dict[str, list[str]] = {}
    runs = info.runs(run_ids, params=[], metrics=[], tags=[LOGGED_ARTIFACTS_TAG])
    listed = files.files_of_runs([r.info.run_id for r in runs], IMAGES)  # one read for every run
    for r in runs:
        run_id = r.info.run_id
        for f in listed[run_id]:
            found = _image(f.path)
            if found:
                images.setdefault(found[0], {}).setdefault(run_id, []).append((found[1], f.path))
        for path in _tables(r.data.tags.get(LOGGED_ARTIFACTS_TAG)):
            tables.setdefault(path, []).append(run_id)
    for by_run in images.values():
        for steps in by_run.values():
            steps.sort()
    return json_response({"images": dict(sorted(images.items())), "tables": dict(sorted(tables.items()))})


@data_router.get("/ui/data/table")
@needs(Permission.READ, "run", "run")
def table(files: Artifacts, run: str, path: str) -> Response:
    """A logged table's columns and rows, for the browser to sort and filter."""
    artifact = files.open(run, path)
    if artifact.info.file_size is not None and artifact.info.file_size > MAX_TABLE_BYTES:
        raise InvalidInput(
            f"The table {path!r} is larger than {MAX_TABLE_BYTES // 1024 // 1024} MB: download it instead."
        )
    body = b"".join(files.read(artifact))
    try:
        content: object = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInput(f"The table {path!r} is not JSON.") from None
    if (
        not isinstance(content, dict)
        or not isinstance(content.get("columns"), list)
        or not isinstance(content.get("data"), list)
        or not all(isinstance(row, list) for row in content["data"])
    ):
        raise InvalidInput(f"The table {path!r} is not a table: it needs 'columns' and 'data' (a list of rows).")
    return json_response({"path": path, "columns": [str(c) for c in content["columns"]], "data": content["data"]})
