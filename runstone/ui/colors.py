"""One colour per run, the same on every page and every visit: a hash of the run id picks it from
a palette. ``static/run_colors.js`` computes the same colour in the browser and applies the
colours a user pinned (kept in the browser's localStorage)."""

from __future__ import annotations

import re

PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#843c39", "#e7ba52", "#7b4173", "#006d2c", "#fd8d3c", "#9edae5", "#de9ed6", "#5ab4ac", "#8c6d31",
)  # fmt: skip
_HEX = re.compile(r"^[0-9a-fA-F]{8}")


def run_color(run_id: str) -> str:
    """The palette colour of a run: its id's first 32 bits (ids are hex), else a hash of its characters."""
    if _HEX.match(run_id):
        number = int(run_id[:8], 16)
    else:
        number = 0
        for ch in run_id:
            number = (number * 31 + ord(ch)) % 4294967296
    return PALETTE[number % len(PALETTE)]
