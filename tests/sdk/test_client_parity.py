"""RunstoneClient with MLflow's method names gives the same answers on the embedded store and
through a server: one scenario, run on both, compared."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from runstone.entities import Metric, Param, RunTag
from runstone.errors import InvalidInput, NotFound, RunstoneError
from runstone.sdk.client import RunstoneClient

T0 = 1_700_000_000_000


def _error(call: Any) -> tuple[str, str]:
    with pytest.raises(RunstoneError) as caught:
        call()
    return type(caught.value).__name__, caught.value.message


def scenario(c: RunstoneClient, name: str, tmp_path: Path) -> dict[str, Any]:
    """Everything a user does with a client; returns what they would see, without ids."""
    seen: dict[str, Any] = {}
    exp_id = c.create_experiment(name, tags={"team": "vision"})
    experiment = c.get_experiment_by_name(name)
    assert experiment is not None
    assert experiment.experiment_id == exp_id
    seen["experiment"] = (experiment.name, experiment.lifecycle_stage, experiment.tags)
    assert c.get_experiment_by_name(f"{name}-missing") is None

    runs = [c.create_run(exp_id, start_time=T0 + i, tags={"i": str(i)}, run_name=f"r{i}") for i in range(3)]
    ids = [r.info.run_id for r in runs]
    for i, rid in enumerate(ids):
        c.log_batch(
            rid,
            metrics=[Metric("loss", 1.0 / (step + 1 + i), T0 + step, step) for step in range(100)],
            params=[Param("C", str(i)), Param("penalty", "l2")],
            tags=[RunTag("phase", "train")],
        )
    seen["runs"] = [
        (r.info.run_name, r.info.status, r.data.params, r.data.metrics, dict(r.data.tags)) for r in map(c.get_run, ids)
    ]

    # A spiky history: downsampling keeps every bucket's minimum and maximum.
    spiky = [Metric("acc", 0.5 + (0.4 if step == 537 else 0.0) - (0.3 if step == 901 else 0.0), T0, step)
             for step in range(1000)]  # fmt: skip
    c.log_batch(ids[0], metrics=spiky)
    history = c.get_metric_history(ids[0], "acc")
    assert all(isinstance(m, Metric) for m in history)
    assert [m.step for m in history] == list(range(1000))
    columns = c.get_metric_columns(ids[0], "acc", max_points=50)
    assert columns.downsampled
    assert len(columns) <= 50
    assert max(columns.values) == pytest.approx(0.9)
    assert min(columns.values) == pytest.approx(0.2)
    assert columns.steps == sorted(columns.steps)
    seen["acc"] = (len(history), len(columns), columns.steps[0], columns.steps[-1])
    window = c.get_metric_columns(ids[0], "acc", start_step=10, end_step=19)
    seen["window"] = window.steps

    # Page through the runs one at a time: each run exactly once, the last page has no token.
    visited, tokens, token = [], [], None
    while True:
        page = c.search_runs([exp_id], "params.penalty = 'l2'", max_results=1, order_by=["params.C DESC"],
                             page_token=token)  # fmt: skip
        assert len(page) == 1
        visited.append(page[0].info.run_id)
        token = page.next_page_token
        tokens.append(token is not None)
        if token is None:
            break
    assert visited == ids[::-1]
    seen["pages"] = tokens
    seen["filtered"] = [
        r.info.run_name for r in c.search_runs([exp_id], "metrics.loss < 0.5", order_by=["metrics.loss ASC"])
    ]

    ended = c.set_terminated(ids[1], "FAILED")
    assert ended.info.end_time is not None
    seen["terminated"] = c.get_run(ids[1]).info.status

    other = c.create_experiment(f"{name}-other")
    c.log_text(ids[2], "moved along", "notes/readme.txt")
    moved = c.move_run(ids[2], other)
    assert moved.info.experiment_id == other
    seen["moved"] = (
        [r.info.run_name for r in c.search_runs([other])],
        [r.info.run_name for r in c.search_runs([exp_id])],
        c.get_run(ids[2]).data.metrics,
    )

    source = tmp_path / f"{name}-files"
    (source / "deep").mkdir(parents=True)
    (source / "model.bin").write_bytes(b"\x00\x01" * 1000)
    (source / "deep" / "weights.txt").write_text("w")
    c.log_artifact(ids[2], source / "model.bin", "model")
    c.log_artifacts(ids[2], source, "all")
    seen["listing"] = [(f.path, f.is_dir, f.file_size) for f in c.list_artifacts(ids[2])]
    seen["listing_model"] = [(f.path, f.file_size, f.sha256) for f in c.list_artifacts(ids[2], "model")]
    one = Path(c.download_artifacts(ids[2], "model/model.bin", tmp_path / f"{name}-one"))
    assert one.read_bytes() == b"\x00\x01" * 1000
    tree = Path(c.download_artifacts(ids[2], "all", tmp_path / f"{name}-tree"))
    seen["tree"] = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    note = Path(c.download_artifacts(ids[2], "notes/readme.txt", tmp_path / f"{name}-note"))
    assert note.read_text() == "moved along"

    seen["errors"] = [
        _error(lambda: c.get_run("0" * 32)),
        _error(lambda: c.log_batch(ids[0], params=[Param("C", "9")])),
        _error(lambda: c.log_batch(ids[0], metrics=[Metric("loss", 1.0, T0, 0)], tags={"": "x"})),
        _error(lambda: c.search_runs([exp_id], "metrics.loss <")),
        _error(lambda: c.download_artifacts(ids[2], "nothing/here", tmp_path / "none")),
    ]
    for i, rid in enumerate(ids):
        seen["errors"] = [(kind, message.replace(rid, f"<run {i}>")) for kind, message in seen["errors"]]
    return seen


def test_the_embedded_store_and_a_server_answer_the_same(
    local_client: RunstoneClient, remote_client: RunstoneClient, tmp_path: Path
) -> None:
    local = scenario(local_client, "parity", tmp_path / "local")
    remote = scenario(remote_client, "parity-http", tmp_path / "remote")

    local["experiment"] = (local["experiment"][0] + "-http", *local["experiment"][1:])
    assert local == remote
    # Spot-check the answers themselves, not only their agreement.
    assert local["runs"][0][1:4] == ("RUNNING", {"C": "0", "penalty": "l2"}, {"loss": 0.01})
    assert local["pages"] == [True, True, False]
    assert local["filtered"] == ["r0", "r1", "r2"][::-1]
    assert local["terminated"] == "FAILED"
    assert local["moved"] == (["r2"], ["r1", "r0"], {"loss": 1 / 102})
    assert local["window"] == list(range(10, 20))
    assert ("model", True, 2000) in local["listing"]
    assert local["tree"] == ["deep/weights.txt", "model.bin"]
    kinds = [kind for kind, _ in local["errors"]]
    assert kinds == ["NotFound", "InvalidInput", "InvalidInput", "InvalidInput", "NotFound"]


def test_nan_and_infinity_round_trip_through_log_batch(make_client: Any) -> None:
    c = make_client()
    rid = c.create_run("0").info.run_id
    c.log_batch(rid, metrics=[Metric("x", v, T0, s) for s, v in enumerate([math.nan, math.inf, -math.inf, 1.5])])

    values = [m.value for m in c.get_metric_history(rid, "x")]
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf, 1.5]
    assert c.get_run(rid).data.metrics == {"x": 1.5}


def test_log_batch_is_all_or_nothing(make_client: Any) -> None:
    c = make_client()
    rid = c.create_run("0").info.run_id
    c.log_param(rid, "C", "1")

    with pytest.raises(InvalidInput, match="Param 'C'"):
        c.log_batch(rid, metrics=[Metric("loss", 1.0, T0, 0)], params={"C": "2", "new": "x"}, tags={"t": "v"})

    run = c.get_run(rid)
    assert run.data.params == {"C": "1"}
    assert run.data.metrics == {}
    assert "t" not in run.data.tags


def test_single_value_helpers_and_tags(make_client: Any) -> None:
    c = make_client()
    rid = c.create_run("0", run_name="helpers").info.run_id
    assert c.log_param(rid, "lr", 0.1) == 0.1
    c.log_metric(rid, "loss", 0.5, step=3)
    c.set_tag(rid, "team", "vision")
    c.delete_tag(rid, "team")
    with pytest.raises(NotFound, match="no tag 'team'"):
        c.delete_tag(rid, "team")

    run = c.get_run(rid)
    assert run.data.params == {"lr": "0.1"}
    assert run.data.metrics == {"loss": 0.5}
    assert "team" not in run.data.tags
    assert [m.step for m in c.get_metric_history(rid, "loss")] == [3]


def test_parent_run_and_figures_by_id(make_client: Any, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = make_client()
    parent = c.create_run("0", run_name="parent").info.run_id
    child = c.create_run("0", run_name="child", parent_run_id=parent).info.run_id
    found = c.get_parent_run(child)
    assert found is not None and found.info.run_id == parent and found.info.run_name == "parent"
    assert c.get_parent_run(parent) is None

    figure, axes = plt.subplots()
    axes.plot([0, 1], [1, 0])
    try:
        info = c.log_figure(child, figure, "plots/curve.png")
        with pytest.raises(InvalidInput, match=r"Cannot save a str as 'x\.png'"):
            c.log_figure(child, "not a figure", "x.png")
        with pytest.raises(InvalidInput, match=r"Artifact path .* must not contain"):
            c.log_figure(child, figure, "../escape.png")
    finally:
        plt.close(figure)
    assert info.path == "plots/curve.png" and info.file_size and info.sha256
    assert [f.path for f in c.list_artifacts(child, "plots")] == ["plots/curve.png"]
    png = Path(c.download_artifacts(child, "plots/curve.png", tmp_path / "png")).read_bytes()
    assert png.startswith(b"\x89PNG")
