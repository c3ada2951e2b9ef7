"""Helpers of the UI tests: read what a person would see in a page's HTML."""

from __future__ import annotations

import re
from html import unescape


def text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def cells(html: str, row_marker: str) -> list[str]:
    """The text of the cells of the first table row that contains ``row_marker``."""
    for row in re.findall(r"<tr[^>]*>.*?</tr>", html, re.S):
        if row_marker in row:
            return [text(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
    raise AssertionError(f"no table row contains {row_marker!r}")


def table_run_ids(html: str) -> list[str]:
    """Ids of the runs in the order the runs table lists them."""
    return re.findall(r'data-run="([0-9a-f]{32})"', html)


def element(html: str, tag: str, element_id: str) -> str:
    """The inner HTML of the ``<tag id="element_id">`` element (one that holds no element of the same tag)."""
    match = re.search(rf'<{tag}\b[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</{tag}>', html, re.S)
    if match is None:
        raise AssertionError(f"no <{tag} id={element_id!r}> in the page")
    return match.group(1)
