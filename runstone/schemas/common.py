"""Shared wire types: numbers that may be NaN or infinite, and their JSON form."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

_SPECIAL = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf, "inf": math.inf, "-inf": -math.inf}


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        special = _SPECIAL.get(value.strip().lower())
        if special is None:
            raise ValueError("must be a number or one of 'NaN', 'Infinity', '-Infinity'")
        return special
    return value


def _integer(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


# A float that also travels as "NaN", "Infinity" or "-Infinity" (JSON has no such numbers).
WireFloat = Annotated[float, BeforeValidator(_number)]
WireInt = Annotated[int, BeforeValidator(_integer)]


def float_out(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def floats_out(values: list[float]) -> list[float | str]:
    # Fast path: a list of finite numbers goes out as it is. A NaN or an infinity anywhere makes
    # the sum non-finite (so can an overflow, which merely takes the slow path).
    if math.isfinite(sum(values)):
        return values  # type: ignore[return-value]
    return [float_out(v) for v in values]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
