"""Comparing a run with its reproduction: the verdict and the table of differences.

Params must be equal; final metrics equal, or within a tolerance given per metric
(``metrics.rmse=0.01`` absolute, ``metrics.rmse=1%`` relative, ``metrics.*=...`` for every
metric); artifacts equal by SHA-256; dataset inputs equal by digest (a different digest means
the data changed). The verdict is ``reproduced`` when everything is equal,
``reproduced_within_tolerance`` when only metrics differ and each within its tolerance, and
``diverged`` otherwise. Differences in the environment (package versions) are listed for the
reader but do not decide the verdict: the outputs do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from runstone.entities import Run
from runstone.errors import InvalidInput

REPRODUCED = "reproduced"
WITHIN_TOLERANCE = "reproduced_within_tolerance"
DIVERGED = "diverged"
VERDICTS = (REPRODUCED, WITHIN_TOLERANCE, DIVERGED)
# Artifacts that runstone itself writes about a run (its logs, its record, the verdict): they
# describe the execution, not its outputs, and differ between any two executions.
BOOKKEEPING = ("logs/", "project/", "environment/", "git/", "reproduction/", "reproductions/", "sweep/")


@dataclass(frozen=True)
class Tolerance:
    value: float
    relative: bool = False

    def allows(self, a: float, b: float) -> bool:
        if math.isnan(a) and math.isnan(b):
            return True
        limit = self.value * max(abs(a), abs(b)) if self.relative else self.value
        return abs(a - b) <= limit

    def __str__(self) -> str:
        return f"{self.value * 100:g}%" if self.relative else f"{self.value:g}"


def parse_tolerances(items: Mapping[str, str] | Iterable[str]) -> dict[str, Tolerance]:
    """``{"metrics.rmse": "0.01", "metrics.*": "1%"}`` (or ``["metrics.rmse=0.01"]``) by metric name."""
    pairs = items.items() if isinstance(items, Mapping) else (str(i).partition("=")[::2] for i in items)
    out: dict[str, Tolerance] = {}
    for key, raw in pairs:
        key, text = str(key).strip(), str(raw).strip()
        if not key.startswith("metrics.") or key == "metrics.":
            raise InvalidInput(f"A tolerance names a metric as metrics.<name> (or metrics.*), not {key!r}.")
        relative = text.endswith("%")
        try:
            value = float(text[:-1] if relative else text)
        except ValueError:
            raise InvalidInput(f"Tolerance of {key!r} must be a number or a percentage, got {text!r}.") from None
        if not math.isfinite(value) or value < 0:
            raise InvalidInput(f"Tolerance of {key!r} must be a finite number >= 0, got {text!r}.")
        out[key.removeprefix("metrics.")] = Tolerance(value / 100 if relative else value, relative)
    return out


@dataclass
class Difference:
    kind: str  # param, metric, artifact, input, exit, environment
    name: str
    original: str | None
    reproduction: str | None
    within_tolerance: bool = False
    note: str = ""

    @property
    def decides(self) -> bool:
        """Outputs decide the verdict; what was run (environment, code version asked for) is context."""
        return self.kind not in ("environment", "code")


@dataclass
class Verdict:
    verdict: str
    original_run_id: str
    reproduction_run_id: str
    differences: list[Difference] = field(default_factory=list)
    compared: dict[str, int] = field(default_factory=dict)
    matching_artifacts: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return self.verdict != DIVERGED

    def changed_inputs(self) -> list[str]:
        return [d.name for d in self.differences if d.kind == "input"]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            verdict=data["verdict"],
            original_run_id=data["original_run_id"],
            reproduction_run_id=data["reproduction_run_id"],
            differences=[Difference(**d) for d in data.get("differences", [])],
            compared=dict(data.get("compared", {})),
            matching_artifacts=list(data.get("matching_artifacts", [])),
        )

    def summary(self) -> str:
        counted = [d for d in self.differences if d.decides]
        if self.verdict == REPRODUCED:
            return "reproduced: params, metrics, artifacts and inputs are all equal"
        if self.verdict == WITHIN_TOLERANCE:
            return f"reproduced within tolerance: {len(counted)} metric(s) differ within their tolerance"
        changed = self.changed_inputs()
        data = f"; the data changed: {', '.join(changed)}" if changed else ""
        return f"diverged: {len(counted)} difference(s){data}"


def _fmt(value: float | None) -> str | None:
    return None if value is None else repr(value)


def _dataset_key(tags: Mapping[str, str], name: str) -> str:
    context = tags.get("runstone.data.context") or tags.get("mlflow.data.context")
    return f"{name} ({context})" if context else name


def inputs_of(run: Run) -> dict[str, str]:
    return {_dataset_key(i.tags, i.dataset.name): i.dataset.digest for i in run.inputs.dataset_inputs}


def compare(
    original: Run,
    reproduction: Run,
    original_files: Mapping[str, str],
    reproduction_files: Mapping[str, str],
    *,
    tolerances: Mapping[str, Tolerance] | None = None,
    equal_content: Iterable[str] = (),
    original_exit: str | None = None,
    reproduction_exit: str | None = None,
    environment: Iterable[tuple[str, str | None, str | None]] = (),
) -> Verdict:
    """The verdict on ``reproduction`` as a re-execution of ``original``. Files map artifact
    paths to SHA-256; ``equal_content`` names files whose bytes differ but whose content was
    found equal (a model's MLmodel file, which holds its run id and creation time)."""
    tolerances = dict(tolerances or {})
    diffs: list[Difference] = []
    if original_exit != reproduction_exit:
        diffs.append(Difference("exit", "exit code", original_exit, reproduction_exit))
    a_params, b_params = original.data.params, reproduction.data.params
    for key in sorted(set(a_params) | set(b_params)):
        if a_params.get(key) != b_params.get(key):
            diffs.append(Difference("param", key, a_params.get(key), b_params.get(key)))
    a_metrics, b_metrics = original.data.metrics, reproduction.data.metrics
    for key in sorted(set(a_metrics) | set(b_metrics)):
        a, b = a_metrics.get(key), b_metrics.get(key)
        if a is not None and b is not None and (a == b or (math.isnan(a) and math.isnan(b))):
            continue
        tolerance = tolerances.get(key, tolerances.get("*"))
        within = a is not None and b is not None and tolerance is not None and tolerance.allows(a, b)
        note = f"tolerance {tolerance}" if tolerance is not None and a is not None and b is not None else ""
        if a is not None and b is not None:
            note = f"{note}; " if note else ""
            note += f"difference {b - a:+.6g}"
        diffs.append(Difference("metric", key, _fmt(a), _fmt(b), within, note))
    outputs = [p for p in sorted(set(original_files) | set(reproduction_files)) if not p.startswith(BOOKKEEPING)]
    equal = set(equal_content)
    matching = []
    for path in outputs:
        a_sha, b_sha = original_files.get(path), reproduction_files.get(path)
        if a_sha is not None and (a_sha == b_sha or (b_sha is not None and path in equal)):
            matching.append(path)
            continue
        note = "missing from the reproduction" if b_sha is None else "new in the reproduction" if a_sha is None else ""
        diffs.append(Difference("artifact", path, a_sha and a_sha[:16], b_sha and b_sha[:16], note=note))
    a_inputs, b_inputs = inputs_of(original), inputs_of(reproduction)
    for key in sorted(set(a_inputs) | set(b_inputs)):
        if a_inputs.get(key) != b_inputs.get(key):
            note = "the data changed" if key in a_inputs and key in b_inputs else "input used by one run only"
            a_digest, b_digest = a_inputs.get(key), b_inputs.get(key)
            diffs.append(Difference("input", key, a_digest and a_digest[:16], b_digest and b_digest[:16], note=note))
    for package, was, now in environment:
        diffs.append(Difference("environment", package, was, now, note="package version"))
    deciding = [d for d in diffs if d.decides]
    if not deciding:
        verdict = REPRODUCED
    elif all(d.kind == "metric" and d.within_tolerance for d in deciding):
        verdict = WITHIN_TOLERANCE
    else:
        verdict = DIVERGED
    compared = {
        "params": len(set(a_params) | set(b_params)),
        "metrics": len(set(a_metrics) | set(b_metrics)),
        "artifacts": len(outputs),
        "inputs": len(set(a_inputs) | set(b_inputs)),
    }
    return Verdict(verdict, original.info.run_id, reproduction.info.run_id, diffs, compared, matching)
