"""Pages fit the screen: a phone 390 px wide, and a 1,440 px desktop, in a real headless Chromium."""

from __future__ import annotations

import pytest
from browser_support import screenshot
from e2e_support import remote
from playwright.sync_api import expect

from runstone.entities import Dataset

pytestmark = pytest.mark.browser

# How far the page reaches right of the screen, and the elements that reach there.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = Array.from(document.querySelectorAll('body *')).filter(e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.right > width + 1 && !e.closest('.table-wrap, .narrow-scroll, .plot, pre');
  }).slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ')[0] : ''));
  return {scroll: document.documentElement.scrollWidth, width: width, wide: wide};
}"""


def fits(page):
    found = page.evaluate(OVERFLOW)
    assert found["scroll"] <= found["width"], f"the page is {found['scroll']} px wide: {found['wide']}"


@pytest.fixture(scope="module")
def long_version(server, demo):
    """A model version whose run read a dataset with a long source and wrote its model deep down."""
    source = "s3://warehouse-prod-eu-west-1/datasets/transactions/" + "/".join(f"partition={i:04d}" for i in range(12))
    deep = "training/outputs/" + "/".join(f"stage_{i}" for i in range(10)) + "/model"
    with remote(server.url) as client:
        # In an experiment of its own: the demo experiments' runs are what other modules assert on.
        experiment_id = client.create_experiment("layout-long-paths")
        run_id = client.create_run(experiment_id, run_name="long-paths").info.run_id
        client.log_inputs(
            run_id,
            [
                (
                    Dataset("transactions-" + "x" * 60, "f" * 64, "s3", source, '{"columns": ["a", "b"]}', None),
                    {"runstone.data.context": "training"},
                )
            ],
        )
        client.log_text(run_id, "flavors:\n  python_function:\n    loader_module: runstone.models\n", f"{deep}/MLmodel")
        client.create_registered_model("layout-model")
        version = client.create_model_version("layout-model", f"runs:/{run_id}/{deep}")
    return "layout-model", version.version


@pytest.fixture
def phone(page):
    page.set_viewport_size({"width": 390, "height": 844})
    return page


def test_the_top_bar_and_the_experiments_page_fit_a_phone(phone, demo):
    phone.goto(phone.base + "/ui/")
    expect(phone.get_by_role("navigation", name="Main")).to_be_visible()
    fits(phone)
    top = phone.locator("header.top")
    assert top.evaluate("e => e.scrollWidth <= e.clientWidth")


def test_the_runs_page_fits_a_phone(phone, sweep):
    phone.goto(f"{phone.base}/ui/experiments/{sweep.experiment_id}")
    fits(phone)
    screenshot(phone, "runs-phone", full_page=False)
    # The table scrolls inside its frame, the run names in sight.
    frame = phone.locator(".runs-wrap")
    assert frame.evaluate("e => e.scrollWidth > e.clientWidth && e.getBoundingClientRect().right <= 390")


def test_the_run_page_fits_a_phone(phone, demo):
    phone.goto(f"{phone.base}/ui/runs/{demo.run('baseline')}")
    chart = phone.locator('figure[data-key="loss"]')
    chart.scroll_into_view_if_needed()
    expect(chart).to_have_attribute("data-state", "drawn")
    fits(phone)


def test_the_model_page_fits_a_phone(phone, registry_demo):
    phone.goto(f"{phone.base}/ui/models/{registry_demo.model}")
    expect(phone.get_by_role("heading", name=registry_demo.model, level=1)).to_be_visible()
    fits(phone)


def test_the_model_version_page_fits_a_desktop(page, long_version):
    page.set_viewport_size({"width": 1440, "height": 900})
    name, version = long_version
    page.goto(f"{page.base}/ui/models/{name}/versions/{version}")
    expect(page.get_by_role("heading", name=f"{name} · version {version}")).to_be_visible()
    fits(page)
    phone_width = {"width": 390, "height": 844}
    page.set_viewport_size(phone_width)
    fits(page)
