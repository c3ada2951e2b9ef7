"""docs/performance.md, written one section at a time: each bench owns the section under its heading."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, heading: str, section: str) -> None:
    """Replace the section that starts with ``heading`` (up to the next ``## `` heading) with
    ``section``, or add it at the end, keeping the rest of the page as it is."""
    page = path.read_text() if path.exists() else "# Performance\n"
    start = page.find(heading + "\n")
    if start >= 0:
        end = page.find("\n## ", start + len(heading))
        page = page[:start] + section.rstrip("\n") + ("\n\n" + page[end + 1 :] if end >= 0 else "\n")
    else:
        page = page.rstrip("\n") + "\n\n" + section
    path.write_text(page)
