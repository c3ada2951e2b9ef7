"""From a sweep's run page to the comparison of its trials, drawn in Chromium with the swept
parameters (and only those) as the parallel coordinates' axes."""

from __future__ import annotations

from e2e_support import Server, remote
from playwright.sync_api import expect

from runstone.entities import Metric
from runstone.tracking import tags as T


def test_compare_a_sweeps_trials_on_its_swept_parameters(page, server: Server) -> None:
    with remote(server.url) as client:
        parent = client.create_run(
            "0", run_name="sweep-wine-train",
            tags={T.SWEEP_ROLE: "sweep", T.SWEEP_METRIC: "val_loss", T.SWEEP_GOAL: "minimize",
                  T.SWEEP_PARAMS: "alpha,l1_ratio"},
        ).info.run_id  # fmt: skip
        for i in range(4):
            child = client.create_run("0", run_name=f"trial-{i}", parent_run_id=parent, tags={T.SWEEP_ROLE: "trial"})
            client.log_batch(
                child.info.run_id, metrics=[Metric("val_loss", 1 + i, 1, 0), Metric("seconds", 3.0 - i, 1, 0)],
                params={"alpha": str(0.1 * (i + 1)), "l1_ratio": str(i / 4), "data": f"/data/{i}.csv"},
            )  # fmt: skip

    page.goto(f"{page.base}/ui/runs/{parent}")
    expect(page.get_by_role("heading", name="Sweep", exact=True)).to_be_visible()
    page.get_by_role("link", name="Compare the trials").click()

    expect(page.get_by_role("heading", name="Compare 4 runs")).to_be_visible()
    parallel = page.locator("#parallel")
    expect(parallel).to_have_attribute("data-state", "drawn")
    dims = parallel.evaluate("e => e.data[0].dimensions.map(d => d.label)")
    assert dims == ["alpha", "l1_ratio", "val_loss"]  # "data" differs too, but was not swept
