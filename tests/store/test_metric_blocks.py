"""Block summaries agree with a plain reading of the points, whatever order and values they come in."""

from __future__ import annotations

import random

from runstone.store import metric_blocks
from runstone.store.metric_blocks import BLOCK


def _reference(points):
    out = {}
    for step, ts, value in points:
        out.setdefault(step // BLOCK, []).append((step, ts, value))
    summaries = {}
    for block, members in out.items():
        numbers = [p for p in members if p[2] is not None]
        if numbers:
            low_value = min(p[2] for p in numbers)
            high_value = max(p[2] for p in numbers)
            low = min((p for p in numbers if p[2] == low_value), key=lambda p: p[0])
            high = max((p for p in numbers if p[2] == high_value), key=lambda p: p[0])
        else:  # only NaN: the earliest and the latest NaN
            low = min(members, key=lambda p: p[0])
            high = max(members, key=lambda p: p[0])
        steps = [p[0] for p in members]
        summaries[block] = (len(members), min(steps), max(steps), low[0], low[2], high[0], high[2])
    return summaries


def test_summaries_match_a_plain_reading():
    rng = random.Random(11)
    for _ in range(200):
        steps = rng.sample(range(0, 4 * BLOCK), rng.randint(1, 600))
        if rng.random() < 0.5:
            steps.sort()
        choices = [0.0, 1.0, -1.0, float("inf"), float("-inf"), None]
        points = [(s, 1000 + s, rng.choice(choices) if rng.random() < 0.3 else rng.uniform(-5, 5)) for s in steps]
        got = {
            block: (s.count, s.first_step, s.last_step, s.low[0], s.low[2], s.high[0], s.high[2])
            for block, s in metric_blocks.summarize(points).items()
        }
        assert got == _reference(points)
