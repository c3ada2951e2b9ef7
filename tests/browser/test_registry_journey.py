"""The registry journey in a real headless Chromium: two people, one promotion, one rollback."""

from __future__ import annotations

import re

import pytest
from browser_support import screenshot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def production_bars(page):
    """The versions drawn in the Production row of the timeline, oldest first: (version, classes)."""
    row = page.locator('.tl-row[data-target="Production"] .tl-bar')
    return [(bar.get_attribute("data-version"), bar.get_attribute("class")) for bar in row.all()]


def test_request_a_promotion_approve_it_as_someone_else_then_roll_back(pages, registry_demo):
    alice, bob = pages("alice"), pages("bob")

    alice.goto(alice.base + "/ui/")
    alice.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    row = alice.locator("table.models tbody tr", has_text=registry_demo.model)
    expect(row).to_contain_text("@champion → v1")
    expect(row).to_contain_text("Production v1")
    screenshot(alice, "models")

    alice.get_by_role("link", name=registry_demo.model, exact=True).click()
    expect(alice.get_by_role("heading", name=registry_demo.model, level=1)).to_be_visible()
    assert [v for v, _ in production_bars(alice)] == ["1"]

    # Production is protected: moving version 3 there leads to the request form instead.
    alice.get_by_label("Version", exact=True).first.select_option("3")
    alice.get_by_label("Stage", exact=True).select_option("Production")
    alice.get_by_role("button", name="Move", exact=True).click()
    expect(alice.get_by_role("status")).to_contain_text("Stage 'Production' of 'fraud-detector' is protected")
    expect(alice.get_by_label("Version", exact=True)).to_have_value("3")
    alice.get_by_label(re.compile("^Why")).fill("wide-lr beats the baseline on accuracy")
    alice.get_by_role("button", name="Open request").click()
    request = alice.locator("article.request")
    expect(request).to_contain_text("it needs 1 approval by someone else")
    expect(request.locator(".gate.pass")).to_contain_text("metrics.accuracy")
    expect(request.get_by_role("button", name="Approve")).to_have_count(0)  # not for the requester

    bob.goto(bob.base + "/ui/requests")
    expect(bob.get_by_text("Acting as bob")).to_be_visible()
    pending = bob.locator("article.request", has_text="wide-lr beats the baseline")
    expect(pending.locator(".evidence-table")).to_contain_text("accuracy")
    screenshot(bob, "requests")
    pending.get_by_label("Comment").fill("Gate passes; ship it.")
    pending.get_by_role("button", name="Approve").click()
    expect(bob.get_by_role("status")).to_contain_text("version 3 now holds Production")

    bob.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    bob.get_by_role("link", name=registry_demo.model, exact=True).click()
    expect(bob.locator('.tl-row[data-target="Production"] .tl-bar[data-version="3"]')).to_have_class(
        re.compile("holding")
    )
    promoted = bob.locator('table.history tr[data-target="Production"][data-version="3"]')
    expect(promoted).to_contain_text("bob")
    expect(promoted.get_by_role("link", name=re.compile(r"^#\d+$"))).to_be_visible()

    holders = bob.locator('table.holders tr[data-target="Production"]')
    holders.get_by_placeholder("why").fill("latency regression")
    bob.once("dialog", lambda dialog: dialog.accept())
    holders.get_by_role("button", name="Roll back to version 1").click()
    expect(bob.get_by_role("status")).to_contain_text("Rolled Production back to version 1.")
    expect(bob.locator('table.holders tr[data-target="Production"]')).to_contain_text("version 1")
    bars = production_bars(bob)
    assert [v for v, _ in bars] == ["1", "3", "1"]
    assert "rollback" in bars[-1][1] and "holding" in bars[-1][1]
    rolled_back = bob.locator('table.history tr.rollback[data-target="Production"]')
    expect(rolled_back).to_contain_text("rollback from version 3: latency regression")
    bob.evaluate("window.scrollTo(0, 0)")  # the form went back to #holders; sticky headers follow the scroll
    screenshot(bob, "model")

    bob.get_by_role("link", name="Version 3", exact=True).click()
    expect(bob.get_by_role("link", name="wide-lr", exact=True)).to_have_attribute(
        "href", re.compile(r"^/ui/runs/[0-9a-f]{32}$")
    )
    expect(bob.locator("#history")).to_contain_text("Production")
    screenshot(bob, "version")
