"""The version page lists where the version is served (deployment records)."""

from __future__ import annotations

from ui_support import cells, element, text

from runstone.governance.context import Principal


def test_version_page_lists_its_deployments(browser, backend, as_user, logged_model):
    alice = as_user("alice")
    alice.create_registered_model("fraud")
    alice.create_model_version("fraud", logged_model(0.9))
    alice.create_model_version("fraud", logged_model(0.95))
    ops = backend.deployments(backend.context(Principal("ops")))
    ops.record_deployment("fraud-api", "fraud", "1", target="http://scoring.internal/fraud")
    ops.record_deployment("fraud-api", "fraud", "2", target="http://scoring.internal/fraud")  # replaces version 1
    ops.record_deployment("nightly-batch", "fraud", "1", target="spark://batch")

    first = element(browser.get("/ui/models/fraud/versions/1").text, "section", "deployments")
    second = element(browser.get("/ui/models/fraud/versions/2").text, "section", "deployments")

    assert cells(first, "nightly-batch")[1] == "spark://batch"
    assert cells(first, "nightly-batch")[4] == "serving"
    assert cells(first, "fraud-api")[4].endswith("by ops")  # ended when version 2 took its place
    assert cells(second, "fraud-api")[3:] == ["ops", "serving"]
    assert "nightly-batch" not in second
    alice.create_model_version("fraud", logged_model(0.5))
    assert "No deployment of this version is recorded." in text(browser.get("/ui/models/fraud/versions/3").text)
