"""Helpers of the browser tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "ui"


def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    """Save a picture of the page for docs/ui.md."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
