"""JSON on the wire: orjson, and the floats JSON has no numbers for.

NaN and the infinities travel as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (as
proto-JSON writes them), in the native API, the MLflow API, the SDK and the UI's chart data. This
module is the one place that spells them; it needs nothing but orjson, so the client can use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeAlias

import orjson

# Any JSON document, for values whose shape is genuinely free (a user's state, a payload passed
# through). Fixed shapes get a TypedDict or a pydantic model instead.
JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
JSONObject: TypeAlias = "dict[str, JSONValue]"

NAN, INFINITY, MINUS_INFINITY = "NaN", "Infinity", "-Infinity"

# Accepted on input, case-insensitively: the three names above and Python's spellings.
_SPECIAL_IN = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf, "inf": math.inf, "-inf": -math.inf}


def float_out(value: float) -> float | str:
    """A float as it goes over the wire: itself when finite, else its name."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return NAN
    return INFINITY if value > 0 else MINUS_INFINITY


def floats_out(values: Sequence[float]) -> list[float | str]:
    # Fast path: a list of finite numbers goes out as it is. A NaN or an infinity anywhere makes
    # the sum non-finite (so can an overflow, which merely takes the slow path).
    if math.isfinite(sum(values)):
        return list(values)
    return [float_out(v) for v in values]


def special_float(text: str) -> float | None:
    """The non-finite float a string names ("NaN", "Infinity", "-inf", ...), else None."""
    return _SPECIAL_IN.get(text.strip().lower())


def float_in(value: float | int | str) -> float:
    """A wire float back to a float; raises ValueError for anything else."""
    if isinstance(value, str):
        special = special_float(value)
        return special if special is not None else float(value)
    return float(value)


def dumps(content: object) -> bytes:
    return orjson.dumps(content)


def loads(data: bytes | str) -> object:
    return orjson.loads(data)
