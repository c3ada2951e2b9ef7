"""The run page shows a reproduction's verdict and a sweep's summary; compare opens on a sweep's
trials with the swept parameters as the parallel coordinates' axes."""

from __future__ import annotations

import json
import re
from html import unescape

from ui_support import cells, element, text

from runstone.entities import Metric
from runstone.projects.reproduction import store
from runstone.projects.verdict import Difference, Verdict
from runstone.tracking import tags as T


def test_the_original_run_shows_the_verdict_and_its_differences(browser, client):
    original = client.create_run("0", run_name="baseline").info.run_id
    again = client.create_run("0", run_name="baseline (reproduction)").info.run_id
    verdict = Verdict(
        "diverged", original, again,
        [Difference("input", "wine (training)", "c543e269", "04e60c4e", note="the data changed"),
         Difference("metric", "rmse", "0.49", "0.50", note="difference +0.0074")],
        {"params": 3, "metrics": 2, "artifacts": 1, "inputs": 1},
    )  # fmt: skip
    store(client, verdict)

    page = browser.get(f"/ui/runs/{original}").text
    other = browser.get(f"/ui/runs/{again}").text

    section = text(element(page, "section", "reproduction"))
    assert "Diverged — the latest reproduction of this run is " + again in section
    assert "Compared 3 params, 2 metrics, 1 artifacts, 1 inputs." in section
    assert cells(page, "wine (training)") == ["input", "wine (training)", "c543e269", "04e60c4e", "the data changed"]
    assert f"this run reproduces {original}" in text(element(other, "section", "reproduction"))


def test_a_sweep_run_links_to_a_comparison_of_its_trials_on_the_swept_axes(browser, client):
    parent = client.create_run(
        "0", run_name="sweep", tags={T.SWEEP_ROLE: "sweep", T.SWEEP_METRIC: "val_loss", T.SWEEP_PARAMS: "alpha,l1"}
    ).info.run_id
    trials = []
    for i in range(3):
        child = client.create_run("0", run_name=f"trial-{i}", parent_run_id=parent, tags={T.SWEEP_ROLE: "trial"})
        client.log_batch(child.info.run_id, metrics=[Metric("val_loss", 1.0 / (i + 1), 1, 0)],
                         params={"alpha": str(i), "l1": "0.5", "epochs": str(10 + i)})  # fmt: skip
        trials.append(child.info.run_id)
    client.log_batch(parent, tags={T.SWEEP_BEST_RUN: trials[2], "runstone.sweep.complete": "3"})

    page = browser.get(f"/ui/runs/{parent}").text
    compare = browser.get(f"/ui/compare?sweep={parent}").text

    section = text(element(page, "section", "sweep"))
    assert "Objective minimize val_loss" not in section  # no goal recorded: not invented
    assert "Swept alpha , l1" in section and "3 complete" in section and trials[2] in section
    assert f'href="/ui/compare?sweep={parent}"' in page
    assert "Compare 3 runs" in compare
    axes = re.search(r"data-axes='([^']*)'", compare)
    assert axes is not None and json.loads(unescape(axes.group(1))) == ["alpha", "l1"]
    assert 'data-metric="val_loss"' in compare
    assert compare.count('name="axis" value="alpha"') >= 1  # kept when the page's forms reload it
