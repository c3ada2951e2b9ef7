"""End to end: a model trained and registered on a real ``runstone server``, served by
``runstone models serve -m models:/fraud@champion --follow`` in its own process, promoted to
version 2 through the registry while a client fires requests: the server switches with no
failed request."""

from __future__ import annotations

import json
import statistics
import textwrap
import threading
import time

import httpx
import pytest
from e2e_support import remote, run_python
from scrape import total
from serving_support import serve_command, start_scoring

pytestmark = pytest.mark.e2e

TRAIN = textwrap.dedent(
    """
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import runstone
    import runstone.sklearn

    rng = np.random.RandomState(0)
    X = pd.DataFrame({"amount": rng.rand(300) * 100, "items": rng.randint(1, 9, 300).astype("int64")})
    y = (X.amount / X["items"] > 20).astype("int64")
    runstone.set_experiment("fraud")
    # Version 1 learns the rule, version 2 its opposite: every answer shows which one spoke.
    for labels in (y, 1 - y):
        with runstone.start_run():
            runstone.sklearn.log_model(
                LogisticRegression().fit(X, labels), "model", input_example=X.head(3), registered_model_name="fraud"
            )
    """
)
PROBE = {"dataframe_records": [{"amount": 90.0, "items": 1}]}


def test_follow_promotes_version_2_without_a_failed_request(server, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    trained = run_python(script, env=server.env(), timeout=300)
    assert trained.returncode == 0, trained.stderr
    with remote(server.url) as client:
        assert sorted(v.version for v in client.search_model_versions("name = 'fraud'")) == ["1", "2"]
        client.set_registered_model_alias("fraud", "champion", "1")
        scoring = start_scoring(
            serve_command("-m", "models:/fraud@champion", "--follow", "--follow-interval", "0.2",
                          "--deployment-name", "fraud-api"),
            tmp_path / "serve.log",
            env=server.env(),
        )  # fmt: skip
        try:
            answers: list[tuple[int, str, object]] = []
            failures: list[str] = []
            stop = threading.Event()

            def fire() -> None:
                with httpx.Client(base_url=scoring.url, timeout=30.0) as http:
                    while not stop.is_set():
                        try:
                            answer = http.post("/invocations", json=PROBE)
                        except httpx.HTTPError as exc:
                            failures.append(repr(exc))
                            continue
                        answers.append(
                            (answer.status_code, answer.headers.get("x-runstone-model-version", ""), answer.json())
                        )

            def wait_for(condition, what: str, seconds: float = 90.0) -> None:
                deadline = time.monotonic() + seconds
                while not condition():
                    assert time.monotonic() < deadline, f"timed out waiting for {what}\n{scoring.log()[-3000:]}"
                    time.sleep(0.02)

            client_thread = threading.Thread(target=fire)
            client_thread.start()
            try:
                wait_for(lambda: len(answers) >= 20, "20 answers from version 1")
                recorded = client.list_deployments("fraud", active_only=True)
                assert [(d.name, d.version, d.target) for d in recorded] == [("fraud-api", "1", scoring.url)]
                client.set_registered_model_alias("fraud", "champion", "2")  # the promotion
                wait_for(
                    lambda: httpx.get(f"{scoring.url}/metadata").json()["model_version"] == "2", "/metadata to show v2"
                )
                seen = len(answers)
                wait_for(lambda: len(answers) >= seen + 20, "20 more answers")
                # The deployment record moved with the server: fraud-api now serves version 2.
                wait_for(
                    lambda: [d.version for d in client.list_deployments("fraud", active_only=True)] == ["2"],
                    "the deployment record to show version 2",
                )
            finally:
                stop.set()
                client_thread.join(timeout=60)
            assert failures == []
            assert [a for a in answers if a[0] != 200] == []
            versions = [v for _, v, _ in answers]
            switch = versions.index("2")
            assert set(versions[:switch]) == {"1"} and set(versions[switch:]) == {"2"}, "one clean switch"
            assert {json.dumps(p) for _, v, p in answers if v == "1"} == {'{"predictions": [1]}'}
            assert {json.dumps(p) for _, v, p in answers if v == "2"} == {'{"predictions": [0]}'}
            meta = httpx.get(f"{scoring.url}/metadata").json()
            assert (meta["model_uri"], meta["model_name"], meta["follow"]) == ("models:/fraud@champion", "fraud", True)
            assert meta["run_id"] == client.get_model_version("fraud", "2").run_id
            assert "model switched: fraud version 1 -> version 2" in scoring.log()
        finally:
            scoring.stop()
        # Stopping the server ended its deployment record; the name's history has both versions.
        assert client.list_deployments("fraud", active_only=True) == []
        history = client.list_deployments(name="fraud-api")
        assert [(d.version, d.target, d.end_time is not None) for d in history] == [
            ("2", scoring.url, True),
            ("1", scoring.url, True),
        ]


def test_several_workers_answer_small_requests_in_milliseconds(sklearn_model, tmp_path):
    # With several workers Nagle's algorithm would hold each reply ~40 ms for the client's delayed ACK.
    scoring = start_scoring(serve_command("-m", str(sklearn_model), "--workers", "2"), tmp_path / "serve.log")
    try:
        seconds = []
        with httpx.Client(base_url=scoring.url, timeout=30.0) as http:
            for i in range(60):
                started = time.perf_counter()
                answer = http.post("/invocations", json={"dataframe_records": [{"amount": float(i), "items": 2}]})
                seconds.append(time.perf_counter() - started)
                assert answer.status_code == 200
        assert statistics.median(seconds[10:]) < 0.030, f"median {statistics.median(seconds[10:]) * 1000:.1f} ms"
    finally:
        scoring.stop()


def test_with_several_workers_every_scrape_counts_every_request(sklearn_model, tmp_path):
    scoring = start_scoring(serve_command("-m", str(sklearn_model), "--workers", "2"), tmp_path / "serve.log")
    try:
        for i in range(40):
            # A new connection for each request: the kernel hands them to either worker.
            answer = httpx.post(
                f"{scoring.url}/invocations", json={"dataframe_records": [{"amount": float(i), "items": 2}]}, timeout=30
            )
            assert answer.status_code == 200

        def answered() -> int:
            text = httpx.get(f"{scoring.url}/metrics", timeout=30).text
            return int(total(text, "runstone_serving_requests_total", status="200"))

        deadline = time.monotonic() + 30
        while answered() != 40:  # the last request's count lands as its answer leaves
            assert time.monotonic() < deadline, f"/metrics never counted the 40 requests\n{scoring.log()[-3000:]}"
            time.sleep(0.1)
        # Whichever worker answers the scrape, it reports every worker's requests.
        assert [answered() for _ in range(10)] == [40] * 10
    finally:
        scoring.stop()
