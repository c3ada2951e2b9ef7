"""Offset page tokens, for lists that stay small (experiments, registered models, versions)."""

from __future__ import annotations

import base64
import json

from runstone.errors import InvalidInput


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if not isinstance(value, int) or value < 0:
            raise ValueError
        return value
    except Exception:
        raise InvalidInput("Invalid page token.") from None
