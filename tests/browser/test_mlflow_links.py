"""Links the stock mlflow client prints ("View run at http://host/#/experiments/1/runs/<id>") open
runstone's pages in a real headless Chromium: the MLflow page named in the fragment is mapped to
runstone's."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from e2e_support import child_env
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CLIENT = """
import mlflow
mlflow.set_experiment("linked-from-mlflow")
with mlflow.start_run(run_name="printed-link") as run:
    mlflow.log_metric("loss", 0.5)
"""


@pytest.fixture(scope="module")
def printed(server) -> dict[str, str]:
    """The run and experiment links the stock client printed when its run ended."""
    env = {k: v for k, v in child_env().items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=server.url, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    done = subprocess.run([sys.executable, "-c", CLIENT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    run = re.search(r"View run printed-link at: (\S+)", done.stdout)
    experiment = re.search(r"View experiment at: (\S+)", done.stdout)
    assert run and experiment, done.stdout
    return {"run": run.group(1), "experiment": experiment.group(1)}


def test_the_run_link_the_client_prints_opens_the_run(page, server, printed):
    assert printed["run"].startswith(f"{server.url}/#/experiments/")
    run_id = printed["run"].rsplit("/", 1)[1]
    page.goto(printed["run"])
    expect(page).to_have_url(f"{server.url}/ui/runs/{run_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("printed-link")


def test_the_experiment_link_opens_the_experiment(page, server, printed):
    experiment_id = printed["experiment"].rsplit("/", 1)[1]
    page.goto(printed["experiment"])
    expect(page).to_have_url(f"{server.url}/ui/experiments/{experiment_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("linked-from-mlflow")
    # MLflow's sub-pages of an experiment land on the experiment too.
    page.goto(printed["experiment"] + "/overview")
    expect(page).to_have_url(f"{server.url}/ui/experiments/{experiment_id}")


def test_model_links_open_the_registry_pages(page, server, registry_demo):
    name = registry_demo.model
    page.goto(f"{server.url}/#/models/{name}/versions/1")
    expect(page).to_have_url(f"{server.url}/ui/models/{name}/versions/1")
    page.goto(f"{server.url}/#/models/{name}")
    expect(page).to_have_url(f"{server.url}/ui/models/{name}")
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    page.goto(f"{server.url}/#/models")
    expect(page).to_have_url(f"{server.url}/ui/models")


def test_a_fragment_that_names_no_mlflow_page_leaves_the_page_alone(page, server):
    page.goto(f"{server.url}/ui/#/no-such-page")
    expect(page).to_have_url(f"{server.url}/ui/#/no-such-page")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
