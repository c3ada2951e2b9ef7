"""The comparison behind a verdict: what counts as reproduced, within tolerance, or diverged."""

from __future__ import annotations

import pytest

from runstone.entities import Dataset, DatasetInput, Run, RunData, RunInfo, RunInputs
from runstone.errors import InvalidInput
from runstone.projects.verdict import compare, parse_tolerances


def run(run_id: str, metrics: dict[str, float], params: dict[str, str] | None = None, digest: str = "d1") -> Run:
    info = RunInfo(run_id, "0", run_id, "u", "FINISHED", 1, 2, "active", "file:///a")
    inputs = RunInputs(
        [DatasetInput(Dataset("train", digest, "local", "x.csv"), {"runstone.data.context": "training"})]
    )
    return Run(info, RunData(metrics, params or {"alpha": "0.5"}, {}), inputs)


def test_equal_outputs_reproduce_and_runstone_bookkeeping_is_not_compared() -> None:
    verdict = compare(
        run("a", {"rmse": 0.5}), run("b", {"rmse": 0.5}),
        {"model.pkl": "1" * 64, "logs/stdout.txt": "2" * 64}, {"model.pkl": "1" * 64, "logs/stdout.txt": "3" * 64},
    )  # fmt: skip

    assert verdict.verdict == "reproduced"
    assert verdict.matching_artifacts == ["model.pkl"]
    assert verdict.compared == {"params": 1, "metrics": 1, "artifacts": 1, "inputs": 1}


def test_metrics_within_their_tolerance_reproduce_within_tolerance() -> None:
    tolerances = parse_tolerances(["metrics.rmse=0.01", "metrics.*=1%"])

    close = compare(run("a", {"rmse": 0.50, "mae": 2.0}), run("b", {"rmse": 0.505, "mae": 2.01}), {}, {},
                    tolerances=tolerances)  # fmt: skip
    far = compare(run("a", {"rmse": 0.50, "mae": 2.0}), run("b", {"rmse": 0.52, "mae": 2.0}), {}, {},
                  tolerances=tolerances)  # fmt: skip

    assert close.verdict == "reproduced_within_tolerance"
    assert all(d.within_tolerance for d in close.differences)
    assert far.verdict == "diverged"
    assert [(d.name, d.within_tolerance) for d in far.differences] == [("rmse", False)]


def test_changed_data_params_and_artifacts_diverge_and_are_named() -> None:
    verdict = compare(
        run("a", {"rmse": 0.5}), run("b", {"rmse": 0.5}, {"alpha": "0.6"}, digest="d2"),
        {"out.csv": "1" * 64}, {"out.csv": "2" * 64, "extra.txt": "3" * 64},
    )  # fmt: skip

    assert verdict.verdict == "diverged"
    assert {(d.kind, d.name) for d in verdict.differences} == {
        ("param", "alpha"), ("artifact", "out.csv"), ("artifact", "extra.txt"), ("input", "train (training)"),
    }  # fmt: skip
    assert verdict.changed_inputs() == ["train (training)"]
    assert "the data changed: train (training)" in verdict.summary()


def test_a_model_manifest_equal_but_for_its_run_id_matches_and_package_versions_do_not_decide() -> None:
    verdict = compare(
        run("a", {}), run("b", {}), {"model/MLmodel": "1" * 64}, {"model/MLmodel": "2" * 64},
        equal_content=["model/MLmodel"], environment=[("numpy", "2.0.0", "2.1.0")],
    )  # fmt: skip

    assert verdict.verdict == "reproduced"
    assert [(d.kind, d.name) for d in verdict.differences] == [("environment", "numpy")]


def test_a_failed_reproduction_diverges_on_its_exit_code() -> None:
    verdict = compare(run("a", {}), run("b", {}), {}, {}, original_exit="0", reproduction_exit="1")
    assert verdict.verdict == "diverged"
    assert verdict.differences[0].name == "exit code"


@pytest.mark.parametrize("bad", ["rmse=0.1", "metrics.rmse=-1", "metrics.rmse=much", "metrics.=1"])
def test_bad_tolerances_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput, match=r"[Tt]olerance"):
        parse_tolerances([bad])
