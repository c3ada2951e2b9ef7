"""A version's reference profile is computed when it is registered, from the dataset its run
recorded, after the registration committed: registration neither waits for it nor fails because
of it, and a version without a recorded dataset says so. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import runstone.data
from runstone.errors import NotFound
from runstone.monitoring import reference
from runstone.monitoring.profile import build_profile
from tests.monitoring.conftest import SIGNATURE, reference_frame


def _register(registry, dataset_path: Path | None, name: str = "fraud") -> str:
    """A version of ``name`` (signature amount, items, country) whose run logged ``dataset_path``."""
    tracking = registry.tracking
    run_id = tracking.create_run().info.run_id
    if dataset_path is not None:
        dataset = runstone.data.from_file(dataset_path, name="transactions")
        tracking.log_inputs(run_id, [(dataset, {"runstone.data.context": "training"})])
    manifest = f"flavors: {{}}\nsignature:\n  inputs: '{SIGNATURE}'\n"
    registry.artifacts.log_artifact(run_id, "model/MLmodel", [manifest.encode()])
    try:
        registry.get_registered_model(name)
    except NotFound:
        registry.create_registered_model(name)
    return registry.create_model_version(name, f"runs:/{run_id}/model", run_id).version


def _training_csv(path: Path, n: int = 2000) -> Path:
    frame = reference_frame(n)
    frame["label"] = (frame["amount"] > 105).astype(int)  # not a model input: left out by the signature
    frame.to_csv(path, index=False)
    return path


def test_a_registered_version_is_profiled_from_its_recorded_dataset(registry, monitoring, tmp_path):
    data = _training_csv(tmp_path / "train.csv")
    number = _register(registry, data)
    with pytest.raises(NotFound):
        monitoring.get_profile("fraud", number)  # nothing is computed inside the registration
    assert monitoring.profile_registered(owner="p1")[0] == 1
    stored = monitoring.get_profile("fraud", number)
    assert set(stored.profile["features"]) == {"amount", "items", "country"}
    assert stored.profile["rows"] == 2000 and stored.profile["origin"] == "registration"
    assert stored.dataset_digest == reference.file_digest(data)
    assert str(data) in stored.source
    # Done once: a second round, or another process, has nothing left to do.
    assert monitoring.profile_registered(owner="p2")[0] == 0


def test_a_version_without_a_recorded_dataset_says_so(registry, monitoring, tmp_path):
    number = _register(registry, None)
    monitoring.profile_registered(owner="p1")
    with pytest.raises(NotFound, match=r"has no recorded dataset: its run \w+ logged none") as info:
        monitoring.get_profile("fraud", number)
    assert info.value.details["profile_status"] == "no_dataset"
    # It can be given a reference later.
    monitoring.set_profile("fraud", number, build_profile(reference_frame()), source="given.csv")
    assert monitoring.get_profile("fraud", number).source == "given.csv"


def test_a_changed_dataset_file_is_not_taken_as_the_training_data(registry, monitoring, tmp_path):
    data = _training_csv(tmp_path / "train.csv")
    number = _register(registry, data)
    _training_csv(data, n=100)  # rewritten after training
    monitoring.profile_registered(owner="p1")
    with pytest.raises(NotFound, match="no longer matches the digest") as info:
        monitoring.get_profile("fraud", number)
    assert info.value.details["profile_status"] == "unreadable"


def test_a_reference_given_while_profiling_is_kept(registry, monitoring, tmp_path):
    number = _register(registry, _training_csv(tmp_path / "train.csv"))
    given = monitoring.set_profile("fraud", number, build_profile(reference_frame(50)), source="given.csv")
    monitoring.profile_registered(owner="p1")
    assert monitoring.get_profile("fraud", number).digest == given.digest


def test_registration_through_the_server_does_not_wait_for_the_profile(backend, settings, registry, tmp_path):
    """The server profiles in the background: GET profile shows it without any monitoring call,
    and registering a version whose dataset is large takes no longer than profiling it would."""
    import numpy as np
    import pandas as pd

    from runstone.server.app import create_app

    rng = np.random.default_rng(3)
    n = 1_000_000
    big = tmp_path / "big.csv"
    pd.DataFrame({
        "amount": rng.normal(100, 10, n), "items": rng.integers(1, 5, n),
        "country": np.where(rng.random(n) < 0.9, "FR", "DE"), "label": rng.integers(0, 2, n),
    }).to_csv(big, index=False)  # fmt: skip
    started = time.perf_counter()
    build_profile(reference.read_table(big)[["amount", "items", "country"]], outputs=None)
    reference.file_digest(big)
    profiling = time.perf_counter() - started

    registry.create_registered_model("fraud")
    # The version's run and model exist first; the server registers it.
    tracking = registry.tracking
    run_id = tracking.create_run().info.run_id
    tracking.log_inputs(run_id, [(runstone.data.from_file(big), {"runstone.data.context": "training"})])
    manifest = f"flavors: {{}}\nsignature:\n  inputs: '{SIGNATURE}'\n"
    registry.artifacts.log_artifact(run_id, "model/MLmodel", [manifest.encode()])
    bare_run = tracking.create_run().info.run_id
    registry.artifacts.log_artifact(bare_run, "model/MLmodel", [manifest.encode()])

    app = create_app(settings.model_copy(update={"monitoring_profile_interval": 0.2}), backend=backend)
    with TestClient(app, headers={"X-Runstone-User": "tester"}) as http:

        def register(run: str) -> tuple[str, float]:
            started = time.perf_counter()
            answer = http.post(
                "/api/v1/registered-models/fraud/versions", json={"source": f"runs:/{run}/model", "run_id": run}
            )
            assert answer.status_code == 201, answer.text
            return answer.json()["model_version"]["version"], time.perf_counter() - started

        def profile_of(number: str, wanted: str) -> dict:
            path = f"/api/v1/monitoring/models/fraud/versions/{number}/profile"
            deadline = time.monotonic() + 120
            while (shown := http.get(path)).status_code == 404:
                status = shown.json()["error"]["details"]["profile_status"]
                if status == wanted:
                    return shown.json()["error"]
                assert status in ("none", "pending") and time.monotonic() < deadline, shown.text
                time.sleep(0.05)
            return shown.json()["profile"]

        bare_number, bare = register(bare_run)
        assert "has no recorded dataset" in profile_of(bare_number, "no_dataset")["message"]
        number, registration = register(run_id)
        print(f"registration {registration:.3f} s, without a dataset {bare:.3f} s, profiling {profiling:.3f} s")
        assert registration < max(3 * bare, 0.5) and registration < profiling, (registration, bare, profiling)
        stored = profile_of(number, "done")
        assert stored["profile"]["rows"] == n and set(stored["profile"]["features"]) == {"amount", "items", "country"}
