"""Fixtures of the server tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runstone.backend import Backend
from runstone.governance.context import Principal
from runstone.governance.identity import IdentityService


@pytest.fixture
def bearer(backend: Backend) -> Callable[..., dict[str, dict[str, str]]]:
    """Makes users with a token each, and gives each one's Authorization header by name."""

    def make(*names: str) -> dict[str, dict[str, str]]:
        identity = IdentityService(backend.context(Principal("admin", authenticated=True, is_admin=True)))
        headers = {}
        for name in names:
            identity.create_user(name)
            headers[name] = {"Authorization": f"Bearer {identity.create_token(name, 't').secret}"}
        return headers

    return make
