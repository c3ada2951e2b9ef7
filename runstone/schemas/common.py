"""Shared wire types: numbers that may be NaN or infinite (spelled by runstone.codec)."""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from runstone.codec import float_out, special_float

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def _number(value: object) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        special = special_float(value)
        if special is None:
            raise ValueError("must be a number or one of 'NaN', 'Infinity', '-Infinity'")
        return special
    return value


def _integer(value: object) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


# A float that also travels as "NaN", "Infinity" or "-Infinity" (JSON has no such numbers).
WireFloat = Annotated[float, BeforeValidator(_number)]
WireInt = Annotated[int, BeforeValidator(_integer)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _number_out(value: float) -> float | str:
    return float_out(value)


# A float in an answer: NaN and the infinities go out by name ("NaN", "Infinity", "-Infinity"),
# which pydantic reads back as floats.
NumberOut = Annotated[
    float,
    PlainSerializer(_number_out, return_type=float | str),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}),
]


class Public(BaseModel):
    """An answer of the native API, as the server sends it and the SDK reads it. Fields a newer
    server adds are ignored by an older client."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)


E = TypeVar("E", bound="DataclassInstance")


def build(entity: type[E], model: BaseModel, **fields: object) -> E:
    """An entity from the model of it that came over the wire: each of the entity's fields from
    the model's attribute of that name, unless given."""
    values = model.__dict__
    names = _field_names(entity)
    if not fields and len(values) == len(names):  # the model is the entity's fields, no more
        return entity(**values)
    return entity(**{n: fields[n] if n in fields else values[n] for n in names})


@functools.cache
def _field_names(entity: type[DataclassInstance]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(entity))


class Empty(Public):
    """An answer with nothing in it: ``{}``."""
