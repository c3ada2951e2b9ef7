"""Shared wire types: numbers that may be NaN or infinite (spelled by runstone.codec)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from runstone.codec import special_float


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        special = special_float(value)
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


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
