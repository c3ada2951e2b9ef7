"""Micro-batching: concurrent single-row requests combined into one model call, each caller
getting exactly its own rows back."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pandas as pd
import pytest
from serving_models import echo_calls

from runstone.serving.app import ServingOptions, create_app
from runstone.serving.batching import split
from runstone.serving.traffic import TrafficPolicy


def app_of(path, **options):
    return create_app(ServingOptions(traffic=TrafficPolicy.single(str(path)), **options))


async def fire(app, bodies):
    """All requests at once, through the real ASGI stack on one event loop."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
        return await asyncio.gather(*(client.post("/invocations", json=b) for b in bodies))


def one(amount: float) -> dict:
    return {"dataframe_records": [{"amount": amount, "items": 1}]}


@pytest.mark.parametrize("uniform", [False, True], ids=["mixed-types", "one-dtype"])
def test_concurrent_requests_share_model_calls_and_get_their_own_rows(echo_model, uniform):
    app = app_of(echo_model(uniform=uniform), batch_wait_ms=50, batch_max_rows=1000)
    warm_up = list(echo_calls(app))
    answers = asyncio.run(fire(app, [one(float(i)) for i in range(40)]))
    assert [a.status_code for a in answers] == [200] * 40
    assert [a.json()["predictions"] for a in answers] == [[2.0 * i] for i in range(40)]
    calls = echo_calls(app)[len(warm_up) :]
    assert sum(calls) == 40
    assert len(calls) < 40, f"requests were not combined: {calls}"
    assert max(calls) > 1


def test_a_batch_is_sent_as_soon_as_it_is_full(echo_model):
    app = app_of(echo_model(), batch_wait_ms=60_000, batch_max_rows=8)
    warm_up = len(echo_calls(app))
    # With a one-minute wait, only the size limit can send these; 16 rows make two full batches.
    answers = asyncio.run(asyncio.wait_for(fire(app, [one(float(i)) for i in range(16)]), timeout=30))
    assert [a.json()["predictions"] for a in answers] == [[2.0 * i] for i in range(16)]
    assert echo_calls(app)[warm_up:] == [8, 8]


@pytest.mark.parametrize("uniform", [False, True], ids=["mixed-types", "one-dtype"])
def test_bad_requests_never_join_a_batch_and_model_errors_stay_with_their_caller(echo_model, uniform):
    app = app_of(echo_model(uniform=uniform), batch_wait_ms=50)
    bodies = [
        one(1.0),
        {"dataframe_records": [{"items": 1}]},
        one(-1.0),
        one(3.0),
        {"dataframe_split": {"columns": ["items", "amount"], "data": [[1, 4.0]]}},
    ]
    ok1, bad, broken, ok2, reordered = asyncio.run(fire(app, bodies))
    assert ok1.json() == {"predictions": [2.0]}
    assert ok2.json() == {"predictions": [6.0]}
    assert reordered.json() == {"predictions": [8.0]}  # columns in another order are put in the signature's
    assert bad.status_code == 400
    assert "amount" in bad.json()["message"]
    assert broken.status_code == 500
    assert broken.json()["request_id"]


def test_requests_with_params_or_many_rows_are_predicted_on_their_own(echo_model):
    app = app_of(echo_model(), batch_wait_ms=50, batch_max_rows=4)
    warm_up = len(echo_calls(app))
    with_params = {**one(1.0), "params": {"scale": 3.0}}
    many = {"dataframe_records": [{"amount": float(i), "items": 1} for i in range(5)]}
    a, b = asyncio.run(fire(app, [with_params, many]))
    assert a.json() == {"predictions": [6.0]}
    assert b.json() == {"predictions": [0.0, 2.0, 4.0, 6.0, 8.0]}
    assert sorted(echo_calls(app)[warm_up:]) == [1, 5]


def test_batching_is_off_by_default(echo_model):
    app = app_of(echo_model())
    warm_up = len(echo_calls(app))
    asyncio.run(fire(app, [one(float(i)) for i in range(6)]))
    assert echo_calls(app)[warm_up:] == [1] * 6


@pytest.mark.parametrize(
    "output",
    [np.arange(6), pd.Series(np.arange(6)), pd.DataFrame({"a": np.arange(6), "b": np.arange(6) * 2}), list(range(6))],
    ids=["ndarray", "series", "frame", "list"],
)
def test_split_cuts_outputs_by_rows(output):
    parts = split(output, [1, 3, 2])
    assert parts is not None
    assert [len(p) for p in parts] == [1, 3, 2]
    first = parts[1]
    values = first.to_numpy().tolist() if hasattr(first, "to_numpy") else list(first)
    assert values[0] in (1, [1, 2])


def test_split_refuses_outputs_that_are_not_one_per_row():
    assert split(np.arange(5), [3, 3]) is None
    assert split({"a": 1}, [1]) is None
    assert split(3.0, [1]) is None
