"""Runs grouped by the values of one or several params or tags, with each metric's aggregate per
group: what the workspace draws as one line and band per group, and the table folds into."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from runstone.entities import Run
from runstone.errors import InvalidInput

MAX_GROUP_KEYS = 5
MAX_GROUPED_RUNS = 1000
MISSING = None  # a run without the param or tag forms the group of "(none)"


@dataclass(frozen=True)
class GroupKey:
    kind: str  # param or tag
    key: str

    @property
    def name(self) -> str:
        return f"{self.kind}s.{self.key}"


@dataclass(frozen=True)
class MetricAggregate:
    count: int
    mean: float | None
    median: float | None
    min: float | None
    max: float | None
    std: float | None


@dataclass
class RunGroup:
    values: tuple[str | None, ...]
    run_ids: list[str] = field(default_factory=list)
    run_names: list[str] = field(default_factory=list)
    metrics: dict[str, MetricAggregate] = field(default_factory=dict)


def parse_keys(names: Sequence[str]) -> list[GroupKey]:
    """``params.<key>`` and ``tags.<key>`` names; anything else is refused with what to write."""
    keys = list(dict.fromkeys(names))
    if not keys:
        raise InvalidInput("Group by at least one param or tag (params.<key> or tags.<key>).")
    if len(keys) > MAX_GROUP_KEYS:
        raise InvalidInput(f"Group by at most {MAX_GROUP_KEYS} params or tags, not {len(keys)}.")
    out = []
    for name in keys:
        prefix, dot, key = name.partition(".")
        if not dot or not key or prefix not in ("params", "tags"):
            raise InvalidInput(f"Cannot group by {name[:200]!r}: use params.<key> or tags.<key>.")
        out.append(GroupKey(prefix[:-1], key))
    return out


def aggregate(values: Sequence[float]) -> MetricAggregate:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return MetricAggregate(len(values), None, None, None, None, None)
    return MetricAggregate(
        count=len(finite),
        mean=statistics.fmean(finite),
        median=statistics.median(finite),
        min=min(finite),
        max=max(finite),
        std=statistics.pstdev(finite) if len(finite) > 1 else 0.0,
    )


def group(runs: Sequence[Run], keys: Sequence[GroupKey], metrics: Sequence[str]) -> list[RunGroup]:
    """The runs by their values of ``keys`` (groups in the order their first run comes), each with
    the aggregates of ``metrics``' latest values."""
    groups: dict[tuple[str | None, ...], RunGroup] = {}
    for run in runs:
        source = run.data
        values = tuple((source.params if k.kind == "param" else source.tags).get(k.key, MISSING) for k in keys)
        found = groups.get(values)
        if found is None:
            found = groups[values] = RunGroup(values)
        found.run_ids.append(run.info.run_id)
        found.run_names.append(run.info.run_name)
    by_id = {run.info.run_id: run for run in runs}
    for found in groups.values():
        for metric in metrics:
            logged = [by_id[r].data.metrics[metric] for r in found.run_ids if metric in by_id[r].data.metrics]
            found.metrics[metric] = aggregate(logged)
    return list(groups.values())
