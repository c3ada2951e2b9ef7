"""Block summaries agree with a plain reading of the points, whatever order and values they come in."""

from __future__ import annotations

import random

import pytest

from runstone.store import metric_blocks
from runstone.store.metric_blocks import COARSE, FINE


def _reference(points, size):
    out = {}
    for step, ts, value in points:
        out.setdefault(step // size, []).append((step, ts, value))
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


def _summary_tuple(s):
    return (s.count, s.first_step, s.last_step, s.low[0], s.low[2], s.high[0], s.high[2])


@pytest.mark.parametrize("size", [FINE.size, COARSE.size])
def test_summaries_match_a_plain_reading(size):
    rng = random.Random(11)
    for _ in range(200):
        steps = rng.sample(range(-size, 4 * size), rng.randint(1, 5 * size))
        if rng.random() < 0.5:
            steps.sort()
        choices = [0.0, 1.0, -1.0, float("inf"), float("-inf"), None]
        points = [(s, 1000 + s, rng.choice(choices) if rng.random() < 0.3 else rng.uniform(-5, 5)) for s in steps]
        got = {block: _summary_tuple(s) for block, s in metric_blocks.summarize(points, size).items()}
        assert got == _reference(points, size)


def test_coarse_summaries_built_from_fine_ones_match_a_plain_reading():
    rng = random.Random(5)
    factor = COARSE.size // FINE.size
    for _ in range(100):
        steps = rng.sample(range(0, 6 * COARSE.size), rng.randint(1, 900))
        choices = [0.0, 2.5, float("inf"), float("-inf"), None]
        points = [(s, 7 + s, rng.choice(choices) if rng.random() < 0.4 else rng.uniform(-1, 1)) for s in steps]
        fine = metric_blocks.summarize(points, FINE.size)
        got = {block: _summary_tuple(s) for block, s in metric_blocks.coarsen(fine.values(), factor).items()}
        assert got == _reference(points, COARSE.size)
