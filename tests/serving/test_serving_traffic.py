"""Traffic policies: a weighted canary between two models, and a shadow that gets a copy of each
request, has its answer logged and never returned."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from scrape import sample, total

from runstone.errors import InvalidInput
from runstone.serving.app import ServingOptions, create_app
from runstone.serving.predlog import open_logger
from runstone.serving.traffic import Splitter, TrafficPolicy


def version_of(path) -> str:
    import runstone.models

    return runstone.models.load_model(path).metadata.model_uuid


def test_canary_splits_traffic_by_weight_and_each_answer_names_its_model(serve, echo_model):
    champion, challenger = echo_model(2.0), echo_model(3.0)
    policy = TrafficPolicy.from_dict(
        {"routes": [{"model": str(champion), "weight": 90}, {"model": str(challenger), "weight": 10}], "seed": 7}
    )
    client = serve(policy)
    factor = {version_of(champion): 2.0, version_of(challenger): 3.0}
    seen: Counter[str] = Counter()
    n = 1000
    for i in range(n):
        answer = client.post("/invocations", json={"dataframe_records": [{"amount": float(i), "items": 1}]})
        version = answer.headers["x-runstone-model-version"]
        seen[version] += 1
        # The header names the model that really answered.
        assert answer.json() == {"predictions": [factor[version] * i]}
    share = seen[version_of(challenger)] / n
    assert 0.07 <= share <= 0.13, seen
    meta = client.get("/metadata").json()
    assert [(r["role"], r["weight"]) for r in meta["routes"]] == [("primary", 0.9), ("challenger", 0.1)]


def test_the_same_seed_gives_the_same_split():
    first = Splitter([90, 10], seed=11)
    second = Splitter([90, 10], seed=11)
    assert [first.choose() for _ in range(500)] == [second.choose() for _ in range(500)]
    assert {Splitter([0, 1], seed=1).choose() for _ in range(50)} == {1}


def test_shadow_gets_a_copy_is_logged_and_never_returned(echo_model, tmp_path):
    primary, shadow = echo_model(2.0), echo_model(5.0)
    policy = TrafficPolicy.from_dict({"routes": [{"model": str(primary)}], "shadow": {"model": str(shadow)}})
    logger = open_logger(str(tmp_path / "log"))
    app = create_app(ServingOptions(traffic=policy), logger=logger)
    with TestClient(app) as client:
        for i in range(20):
            answer = client.post("/invocations", json={"dataframe_records": [{"amount": float(i), "items": 1}]})
            assert answer.json() == {"predictions": [2.0 * i]}
            assert answer.headers["x-runstone-model-version"] == version_of(primary)
        server = app.state.scoring
        server.shadow.flush()
        assert client.get("/metadata").json()["shadow"]["model_version"] == version_of(shadow)
        metrics = client.get("/metrics").text
    records = [
        json.loads(line) for f in sorted((tmp_path / "log").glob("*.jsonl")) for line in f.read_text().splitlines()
    ]
    shadows = {r["request_id"]: r for r in records if r["role"] == "shadow"}
    primaries = {r["request_id"]: r for r in records if r["role"] == "primary"}
    assert len(shadows) == len(primaries) == 20
    assert shadows.keys() == primaries.keys()
    for request_id, record in shadows.items():
        amount = record["inputs"]["data"][0][record["inputs"]["columns"].index("amount")]
        assert record["outputs"] == [5.0 * amount]
        assert record["model_version"] == version_of(shadow)
        assert primaries[request_id]["outputs"] == [2.0 * amount]
    shadowed = {"model": shadow.name, "version": version_of(shadow), "outcome": "ok"}
    assert sample(metrics, "runstone_serving_shadow_total", **shadowed) == 20


def test_a_failing_shadow_never_touches_the_answer(echo_model, tmp_path):
    import runstone.pyfunc

    class Picky(runstone.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            raise RuntimeError("shadow is broken")

    runstone.pyfunc.save_model(tmp_path / "picky", python_model=Picky(), signature=False)
    policy = TrafficPolicy.from_dict(
        {"routes": [{"model": str(echo_model())}], "shadow": {"model": str(tmp_path / "picky")}}
    )
    app = create_app(ServingOptions(traffic=policy))
    with TestClient(app) as client:
        answers = [
            client.post("/invocations", json={"dataframe_records": [{"amount": 1.0, "items": 1}]}) for _ in range(5)
        ]
        app.state.scoring.shadow.flush()
        metrics = client.get("/metrics").text
    assert [a.status_code for a in answers] == [200] * 5
    assert total(metrics, "runstone_serving_shadow_total", outcome="error") == 5


def test_shadow_fraction_copies_a_share_of_requests():
    splitter = Splitter([1], shadow_fraction=0.25, seed=3)
    copied = sum(splitter.copy_to_shadow() for _ in range(2000))
    assert 400 <= copied <= 600
    assert not any(Splitter([1], shadow_fraction=0.0).copy_to_shadow() for _ in range(100))


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        ({}, "needs 'routes'"),
        ({"routes": []}, "needs 'routes'"),
        ({"routes": [{"weight": 1}]}, "needs 'model'"),
        ({"routes": [{"model": "a", "weight": -1}]}, "weights are numbers >= 0"),
        ({"routes": [{"model": "a", "weight": 0}]}, "add up to 0"),
        ({"routes": [{"model": "a"}, {"model": "a"}]}, "same model twice"),
        ({"routes": [{"model": "a"}, {"model": "b"}, {"model": "c"}]}, "one or two models"),
        ({"routes": [{"model": "a"}], "shadow": {"model": "b", "fraction": 2}}, "from 0 to 1"),
        ({"routes": [{"model": "a"}], "mirror": {}}, "unknown keys ['mirror']"),
        ({"routes": [{"model": "a"}], "seed": "x"}, "'seed'"),
    ],
)
def test_bad_policies_are_refused_with_what_to_fix(policy, fragment):
    with pytest.raises(InvalidInput, match=fragment.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        TrafficPolicy.from_dict(policy)


def test_policies_load_from_yaml(tmp_path):
    file = tmp_path / "traffic.yaml"
    file.write_text(
        "routes:\n  - model: models:/fraud@champion\n    weight: 90\n  - model: models:/fraud@challenger\n"
        "    weight: 10\nshadow:\n  model: models:/fraud/7\n  fraction: 0.5\nseed: 42\n"
    )
    policy = TrafficPolicy.load(file)
    assert [r.model for r in policy.routes] == ["models:/fraud@champion", "models:/fraud@challenger"]
    assert policy.shadow is not None and policy.shadow.fraction == 0.5
    assert TrafficPolicy.from_dict(policy.to_dict()) == policy
    (tmp_path / "bad.yaml").write_text("routes: [")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        TrafficPolicy.load(tmp_path / "bad.yaml")
