"""Input rules for tracking data, checked once, in the service, before anything is written."""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Mapping, Sequence

from runstone.entities import Metric
from runstone.errors import InvalidInput, PayloadTooLarge
from runstone.limits import (
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    MAX_EXPERIMENT_NAME_LENGTH,
    MAX_KEY_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_RESULTS,
    MAX_RUN_NAME_LENGTH,
    MAX_TAG_VALUE_LENGTH,
)

INT64_MAX = 2**63 - 1

_KEY_RE = re.compile(r"^[/\w.\- :]+$")


def key(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} key must be a non-empty string.")
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidInput(f"{what} key {value[:40]!r}... is longer than {MAX_KEY_LENGTH} characters.")
    if not _KEY_RE.match(value):
        raise InvalidInput(
            f"{what} key {value!r} may contain only letters, digits, underscores, dashes, periods, "
            "spaces, colons and slashes."
        )
    if value.startswith("/") or any(part in (".", "..") for part in value.split("/")):
        raise InvalidInput(f"{what} key {value!r} must not start with '/' or contain '.' or '..' segments.")
    if posixpath.normpath(value) != value:  # MLflow's rule: 'a//b' and 'a/' name the same thing as 'a/b' and 'a'
        raise InvalidInput(f"{what} key {value!r} must not contain empty segments ('//') or end with '/'.")
    return value


def text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {type(value).__name__}.")
    if len(value) > limit:
        raise InvalidInput(f"{what} is {len(value)} characters long; the limit is {limit}.")
    if "\x00" in value:
        raise InvalidInput(f"{what} must not contain NUL characters.")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone UTF-16 surrogate such as "\ud800" is valid JSON, not text
            raise InvalidInput(f"{what} is not valid Unicode text (it holds a lone surrogate).") from None
    return value


def experiment_name(value: object) -> str:
    name = text(value, "Experiment name", MAX_EXPERIMENT_NAME_LENGTH)
    if not name.strip():
        raise InvalidInput("Experiment name must not be empty.")
    return name


def run_name(value: object) -> str:
    return text(value, "Run name", MAX_RUN_NAME_LENGTH)


def integer(value: object, what: str, *, minimum: int = -INT64_MAX - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InvalidInput(f"{what} must be an integer, got {value!r}.")
    if not minimum <= value <= INT64_MAX:
        raise InvalidInput(f"{what} {value} is out of range.")
    return value


def metric(m: Metric) -> Metric:
    key(m.key, "Metric")
    if isinstance(m.value, bool) or not isinstance(m.value, (int, float)):
        raise InvalidInput(f"Metric {m.key!r} value must be a number, got {m.value!r}.")
    if isinstance(m.step, float) and math.isnan(m.step):
        raise InvalidInput(f"Metric {m.key!r} step must be an integer, got NaN.")
    integer(m.step, f"Metric {m.key!r} step")
    integer(m.timestamp, f"Metric {m.key!r} timestamp", minimum=0)
    return m


def batch(metrics: Sequence[Metric], params: Mapping[str, str], tags: Mapping[str, str]) -> None:
    if len(metrics) > MAX_BATCH_METRICS:
        raise PayloadTooLarge(f"A batch may carry at most {MAX_BATCH_METRICS} metrics; got {len(metrics)}.")
    if len(params) > MAX_BATCH_PARAMS:
        raise PayloadTooLarge(f"A batch may carry at most {MAX_BATCH_PARAMS} params; got {len(params)}.")
    if len(tags) > MAX_BATCH_TAGS:
        raise PayloadTooLarge(f"A batch may carry at most {MAX_BATCH_TAGS} tags; got {len(tags)}.")
    checked_keys: set[str] = set()
    for m in metrics:
        # Fast path for the common well-formed point; anything else gets the full check and
        # its precise message. A batch usually repeats a few keys, so each is checked once.
        if (
            m.key in checked_keys
            and type(m.value) is float
            and type(m.step) is int
            and type(m.timestamp) is int
            and -INT64_MAX - 1 <= m.step <= INT64_MAX
            and 0 <= m.timestamp <= INT64_MAX
        ):
            continue
        metric(m)
        checked_keys.add(m.key)
    for k, v in params.items():
        key(k, "Param")
        text(v, f"Param {k!r} value", MAX_PARAM_VALUE_LENGTH)
    for k, v in tags.items():
        key(k, "Tag")
        text(v, f"Tag {k!r} value", MAX_TAG_VALUE_LENGTH)


def max_results(value: int | None, default: int, limit: int = MAX_RESULTS) -> int:
    if value is None:
        return default
    value = integer(value, "max_results")
    if value < 1 or value > limit:
        raise InvalidInput(f"max_results must be between 1 and {limit}, got {value}.")
    return value
