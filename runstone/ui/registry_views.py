"""What the registry pages show, computed from the registry's entities: a model's timeline, a
version's history, requests with their evidence.

The timeline is computed here and drawn as positioned bars by the template, so it reads
without JavaScript: one row per stage and alias, one bar per version while it held that stage
or alias. A stage may hold several versions at once (a promotion without "archive the others"),
so its bars are stacked in as many lanes as overlap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runstone.entities import Approval, ApprovalRequest, Assignment, PagedList, Policy
from runstone.registry.approvals import GovernedRegistry

# Stages in the order a reader looks for them; "None" is where versions wait, not a place to draw.
STAGE_ORDER = ("Production", "Staging", "Archived")
TICKS = 5
MIN_WIDTH = 0.8  # percent: a version that held a target for a moment still shows as a bar


@dataclass(frozen=True)
class Bar:
    version: str
    start: int
    end: int | None  # None: holds it still
    rollback: bool
    request_id: int | None
    actor: str
    left: float  # percent of the time span
    width: float
    lane: int
    hue: int


@dataclass(frozen=True)
class Row:
    kind: str
    target: str
    bars: tuple[Bar, ...]
    lanes: int


@dataclass(frozen=True)
class Timeline:
    start: int
    end: int
    rows: tuple[Row, ...]
    ticks: tuple[tuple[float, int], ...]


@dataclass
class _Open:
    version: str
    start: int
    rollback: bool
    request_id: int | None
    actor: str
    end: int | None = None


def hue(version: str) -> int:
    """A colour per version, far apart for neighbouring versions."""
    try:
        return (int(version) * 137) % 360
    except ValueError:
        return 0


def build_timeline(history: Sequence[Assignment], now: int) -> Timeline | None:
    """The timeline of a model from its history (oldest first); None when nothing was assigned yet."""
    if not history:
        return None
    spans: dict[tuple[str, str], list[_Open]] = {}
    alias_open: dict[str, _Open] = {}
    stage_open: dict[str, tuple[str, _Open]] = {}  # version -> (stage, span)
    for event in history:
        if event.kind == "alias":
            held = alias_open.pop(event.target, None)
            if held is not None:
                held.end = event.time
            if event.version is not None:
                span = _Open(event.version, event.time, event.rollback, event.request_id, event.actor)
                alias_open[event.target] = span
                spans.setdefault(("alias", event.target), []).append(span)
            else:
                spans.setdefault(("alias", event.target), [])
        elif event.version is not None:
            previous = stage_open.pop(event.version, None)
            if previous is not None:
                previous[1].end = event.time
            if event.target != "None":
                span = _Open(event.version, event.time, event.rollback, event.request_id, event.actor)
                stage_open[event.version] = (event.target, span)
                spans.setdefault(("stage", event.target), []).append(span)
    start = history[0].time
    end = max(now, history[-1].time)
    if end <= start:
        end = start + 1
    rows = [_row(kind, target, spans[(kind, target)], start, end) for kind, target in _row_order(spans)]
    ticks = tuple((100 * i / (TICKS - 1), start + (end - start) * i // (TICKS - 1)) for i in range(TICKS))
    return Timeline(start, end, tuple(rows), ticks)


def _row_order(spans: Mapping[tuple[str, str], object]) -> list[tuple[str, str]]:
    stages = [("stage", s) for s in STAGE_ORDER if ("stage", s) in spans]
    stages += sorted(k for k in spans if k[0] == "stage" and k[1] not in STAGE_ORDER)
    return stages + sorted(k for k in spans if k[0] == "alias")


def _row(kind: str, target: str, spans: Sequence[_Open], start: int, end: int) -> Row:
    lane_ends: list[float] = []
    bars = []
    for span in sorted(spans, key=lambda o: o.start):
        stop = span.end if span.end is not None else math.inf
        lane = next((i for i, e in enumerate(lane_ends) if e <= span.start), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(stop)
        else:
            lane_ends[lane] = stop
        left = 100 * (span.start - start) / (end - start)
        right = 100 * ((span.end if span.end is not None else end) - start) / (end - start)
        width = min(max(right - left, MIN_WIDTH), 100 - left) if left < 100 else MIN_WIDTH
        left = min(left, 100 - width)
        bars.append(
            Bar(
                version=span.version,
                start=span.start,
                end=span.end,
                rollback=span.rollback,
                request_id=span.request_id,
                actor=span.actor,
                left=round(left, 3),
                width=round(width, 3),
                lane=lane,
                hue=hue(span.version),
            )
        )
    return Row(kind, target, tuple(bars), max(1, len(lane_ends)))


def since(history: Sequence[Assignment], kind: str, target: str, version: str) -> Assignment | None:
    """The assignment that gave ``version`` the stage or alias it holds now (its "since")."""
    for event in reversed(history):
        if event.kind == kind and event.target == target and event.version == version:
            return event
    return None


def version_history(history: Iterable[Assignment], version: str) -> list[Assignment]:
    """Assignments that concern one version, newest first: where it went, and aliases it lost."""
    return [
        e
        for e in history
        if e.version == version or (e.kind == "alias" and e.previous_version == version and e.version != version)
    ][::-1]


@dataclass(frozen=True)
class EvidenceRow:
    metric: str
    candidate: Any
    current: Any
    change: float | None
    gated: bool


def evidence_rows(evidence: Mapping[str, Any], gated: Iterable[str] = ()) -> list[EvidenceRow]:
    """The candidate's metrics next to the current holder's: gated metrics first, then by name."""
    candidate = (evidence.get("candidate") or {}).get("metrics") or {}
    current = (evidence.get("current") or {}).get("metrics") or {}
    gates = set(gated)
    rows = []
    for key in sorted(set(candidate) | set(current), key=lambda k: (k not in gates, k)):
        a, b = candidate.get(key), current.get(key)
        change = a - b if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None
        rows.append(EvidenceRow(key, a, b, change, key in gates))
    return rows


@dataclass(frozen=True)
class Card:
    """One request as the pages show it: its evidence, its decisions, and what the viewer may do."""

    request: ApprovalRequest
    evidence: list[EvidenceRow]
    gates: list[dict[str, Any]]
    approvals: int
    required: int | None  # approvals the model's policy asks for (open requests only)
    is_requester: bool
    decided: Approval | None  # the viewer's own decision on it


def cards(service: GovernedRegistry, requests: Sequence[ApprovalRequest], actor: str) -> list[Card]:
    policies: dict[str, Policy] = {}
    for r in requests:
        if r.status == "open" and r.name not in policies:
            policies[r.name] = service.policy(r.name)
    result = []
    for r in requests:
        gates = list(r.evidence.get("gates") or [])
        policy = policies.get(r.name)
        result.append(
            Card(
                request=r,
                evidence=evidence_rows(r.evidence, (g["gate"]["metric"] for g in gates)),
                gates=gates,
                approvals=sum(1 for a in r.approvals if a.decision == "approve"),
                required=policy.required_approvals if policy else None,
                is_requester=r.requested_by == actor,
                decided=next((a for a in r.approvals if a.approver == actor), None),
            )
        )
    return result


def places(requests: Iterable[ApprovalRequest]) -> set[str]:
    """Where a page shows the message of a decision: beside its request."""
    return {f"request-{r.id}" for r in requests}


def model_versions(service: GovernedRegistry, name: str, limit: int) -> PagedList:
    """A model's versions, newest first."""
    quoted = "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return service.search_model_versions(
        filter_string=f"name = {quoted}", max_results=limit, order_by=["version_number DESC"]
    )
