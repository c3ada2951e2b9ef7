"""Images logged per step and tables, stored as run artifacts.

- An image of ``key`` at ``step`` is ``images/<key>/step-<step>-<timestamp ms>-<id>.<png|jpg>``
  (MLflow writes ``%step%`` into its names, which a path that may be percent-decoded on its way
  cannot hold safely).
- A table is a JSON file ``{"columns": [...], "data": [[...], ...]}`` as MLflow's ``log_table``
  writes it, listed in the run's ``mlflow.loggedArtifacts`` tag as ``{"path": ..., "type": "table"}``,
  so tables logged by either client show in the UI.
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput
from runstone.tracking import tags

IMAGES = tags.IMAGES_FOLDER
LOGGED_ARTIFACTS_TAG = tags.LOGGED_ARTIFACTS
_KEY = re.compile(r"^[\w.\-/ ]{1,250}$")
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


def image_file(key: str, step: int, timestamp: int, extension: str) -> str:
    if not _KEY.match(key):
        raise InvalidInput("An image key is 1-250 letters, digits, spaces or . - _ / characters.")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise InvalidInput(f"An image's step is a whole number of at least 0, not {step!r}.")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidInput(f"An image key cannot have empty, '.' or '..' parts: {key!r}.")
    return f"{IMAGES}/{key}/step-{step}-{timestamp}-{uuid.uuid4().hex[:8]}.{extension}"


def image_bytes(image: Any) -> tuple[bytes, str]:
    """PNG or JPEG bytes and their extension, from bytes, a file, a PIL image or a numpy array."""
    if isinstance(image, (str, os.PathLike)):
        image = Path(image).read_bytes()
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
        if data.startswith(_PNG):
            return data, "png"
        if data.startswith(_JPEG):
            return data, "jpg"
        raise InvalidInput("An image given as bytes or a file must be a PNG or a JPEG.")
    if not hasattr(image, "save"):  # a numpy array: through Pillow
        try:
            from PIL import Image
        except ModuleNotFoundError:
            raise InvalidInput(
                "Logging an array as an image needs Pillow (pip install pillow); or give PNG bytes or a file."
            ) from None
        image = Image.fromarray(image)
    import io

    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue(), "png"


def _cell(value: object) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def table_json(data: Any) -> str:
    """A dict of columns (name -> list of values) or a pandas DataFrame, as MLflow's table JSON."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        columns = [str(c) for c in data.columns]
        rows = data.astype(object).values.tolist()
    elif isinstance(data, Mapping):
        columns = [str(c) for c in data]
        values = [list(v) for v in data.values()]
        lengths = {len(v) for v in values}
        if len(lengths) > 1:
            raise InvalidInput(f"Every column of a table must have as many values; these have {sorted(lengths)}.")
        rows = [list(r) for r in zip(*values, strict=True)]
    else:
        raise InvalidInput("A table is a dict of columns (name -> list of values) or a pandas DataFrame.")
    return json.dumps({"columns": columns, "data": [[_cell(v) for v in row] for row in rows]})


def with_table(tag_value: str | None, path: str) -> str:
    """The ``mlflow.loggedArtifacts`` tag with ``path`` listed as a table."""
    try:
        listed = json.loads(tag_value) if tag_value else []
    except json.JSONDecodeError:
        listed = []
    if not isinstance(listed, list):
        listed = []
    if not any(isinstance(item, dict) and item.get("path") == path for item in listed):
        listed.append({"path": path, "type": "table"})
    return json.dumps(listed)
