"""The fluent API's images and tables (``runstone.log_image``, ``runstone.log_table``), on the
active run unless ``run_id`` names another."""

from __future__ import annotations

from runstone.sdk.fluent import _run_id, default_client, flush


def log_image(image: object, key: str, step: int = 0, run_id: str | None = None) -> None:
    """Log an image of ``key`` at ``step``: PNG or JPEG bytes or file, a PIL image or a numpy array."""
    default_client().log_image(_run_id(run_id), image, key, step)


def log_table(data: object, artifact_file: str, run_id: str | None = None) -> None:
    """Log a table (a dict of columns or a pandas DataFrame) as a JSON artifact."""
    flush()
    default_client().log_table(_run_id(run_id), data, artifact_file)
