"""Requests to the in-process test server through an httpx transport a test wraps."""

from __future__ import annotations

import httpx


def forward(inner: httpx.BaseTransport, request: httpx.Request) -> httpx.Response:
    """``request`` answered by the test client's transport ``inner``, read whole, as this httpx's
    response: Starlette's test client answers with httpx2's when that package is installed
    (huggingface_hub, with transformers, brings it), which an ``httpx.Client`` refuses."""
    answered = inner.handle_request(request)
    return httpx.Response(
        answered.status_code, headers=list(answered.headers.raw), content=answered.read(), request=request
    )
