"""Jinja filters: times, durations, numbers, and markdown without raw HTML."""

from __future__ import annotations

import math
import urllib.parse
from datetime import UTC, datetime
from functools import cache
from typing import Any

from markupsafe import Markup

from runstone.codec import float_out


def timestamp(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds(total: float) -> str:
    if total < 1:
        return f"{total * 1000:.0f} ms"
    if total < 60:
        return f"{total:.1f} s"
    minutes, secs = divmod(int(total), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return ""
    return seconds(max(0, end - start) / 1000)


def ago(ms: int | None, now: int) -> str:
    if ms is None:
        return ""
    return seconds(max(0, now - ms) / 1000) + " ago"


def number(value: object) -> str:
    """A metric value, short: six significant digits; NaN and infinities spelled out."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(float_out(value))
    return str(value)


def full_number(value: object) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return number(value)


def short_commit(commit: str | None) -> str:
    return (commit or "")[:8]


@cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # "commonmark" with html off: raw HTML in a note is shown as text, never as markup;
    # links with javascript:, vbscript:, file: or data: URLs are not made links.
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def markdown(text: str | None) -> Markup:
    if not text:
        return Markup("")
    return Markup(_markdown().render(text))


def filesize(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size:,} bytes"
    value, unit = size / 1024, "KiB"
    for larger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:.1f} {unit}"


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def excerpt(text: str | None, length: int = 160) -> str:
    """The first line of a markdown text, without its heading or list marks, cut at ``length``."""
    for line in (text or "").splitlines():
        line = line.strip().lstrip("#>*-+ ").strip()
        if line:
            return line if len(line) <= length else line[: length - 1].rstrip() + "…"
    return ""


def model_url(name: str) -> str:
    """The page of a registered model (names may hold spaces, quotes, '?' or '#')."""
    return "/ui/models/" + urllib.parse.quote(name, safe="")


FILTERS = {
    "timestamp": timestamp,
    "iso": iso,
    "duration": duration,
    "ago": ago,
    "number": number,
    "full_number": full_number,
    "short_commit": short_commit,
    "markdown": markdown,
    "plural": plural,
    "filesize": filesize,
    "excerpt": excerpt,
    "model_url": model_url,
}
