"""The demo shop of the local stack (``/_dev/demo/``), clicked through in headless Chromium.

What a newcomer does in their first minute: open the shop, answer the banner, click around, and
watch the page's own table of what each destination received. The page loads ``/fairtrack.js`` from
the stack, so this is also the snippet served by the ingest function, end to end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from browserkit import NOTHING_STORED, captured, device_storage, page_without_errors, wait_for

from fairtrack_tools.local.stack import DevStack

pytestmark = pytest.mark.browser
TIMEOUT_S = 20.0


def lake_events(stack: DevStack) -> list[dict[str, Any]]:
    return list(captured(stack, "lake"))


def ga4_events(stack: DevStack) -> list[dict[str, Any]]:
    return [e for body in captured(stack, "ga4") for e in body["events"]]


def meta_events(stack: DevStack) -> list[dict[str, Any]]:
    return [e for body in captured(stack, "meta") for e in body["data"]]


def receipts(stack: DevStack) -> list[dict[str, Any]]:
    table = stack.cloud.physical_id("ConsentTable")
    items = stack.cloud.client("dynamodb").scan(TableName=table)["Items"]
    return [i for i in items if i["pk"]["S"].startswith("receipt#")]


@pytest.fixture
def shop(browser: Any, clean: DevStack) -> Iterator[Any]:
    assert clean.api is not None
    for item in receipts(clean):  # each test counts its own receipts
        key = {"pk": item["pk"], "sk": item["sk"]}
        clean.cloud.client("dynamodb").delete_item(TableName=clean.cloud.physical_id("ConsentTable"), Key=key)
    with page_without_errors(browser, clean.api.base_url + "/_dev/demo/") as opened:
        yield opened


def test_reject_then_accept_changes_what_later_events_reach(shop: Any, clean: DevStack) -> None:
    """Given the demo shop, when the visitor rejects the banner, then the page view reaches the lake
    with the necessary purpose only, GA4 and Meta get nothing and nothing is stored on the device;
    when the visitor then accepts all and adds to cart, that event reaches GA4 and Meta, the visitor
    id is stored, each answer is a consent receipt, and the page's own table shows it."""
    context, page = shop
    page.click("#reject-all")
    first = wait_for(lambda: lake_events(clean), TIMEOUT_S, "the page view in the lake")
    assert [r["event"]["type"] for r in first] == ["page"]
    assert first[0]["purposes"] == ["necessary"]
    page.click("text=Shoes")  # a single-page-app navigation is a page view of its own
    wait_for(lambda: len(lake_events(clean)) >= 2, TIMEOUT_S, "the second page view")
    assert [r["purposes"] for r in lake_events(clean)] == [["necessary"], ["necessary"]]
    time.sleep(1.0)  # the forwarders of GA4 and Meta had as long as the lake's
    assert ga4_events(clean) == [] and meta_events(clean) == []
    assert device_storage(context, page) == NOTHING_STORED
    assert page.locator("#storage").inner_text().startswith("nothing")

    page.click("#privacy-settings")
    page.click("#accept-all")
    page.click("#add-to-cart")

    added = wait_for(
        lambda: [e for e in ga4_events(clean) if e["name"] == "add_to_cart"], TIMEOUT_S, "add_to_cart at GA4"
    )
    assert added[0]["params"]["currency"] == "EUR"
    wait_for(lambda: [e for e in meta_events(clean) if e["event_name"] == "AddToCart"], TIMEOUT_S, "AddToCart at Meta")
    assert {e["name"] for e in ga4_events(clean)} == {"add_to_cart"}  # the rejected page views never arrive
    assert device_storage(context, page)["local"] != []  # the visitor id, now that analytics is granted
    assert len(wait_for(lambda: len(receipts(clean)) >= 2 and receipts(clean), TIMEOUT_S, "two consent receipts")) == 2
    # the page's own table (polled each second; no wait_for_function: the page's CSP forbids eval)
    count = page.locator("#received tr[data-destination=ga4] .count")
    wait_for(lambda: int(count.inner_text()) >= 1, TIMEOUT_S, "the page's GA4 count")
    assert "add_to_cart" in page.locator("#received tr[data-destination=ga4] .last").inner_text()


def test_every_demo_path_is_the_page_and_it_is_locked_to_the_stack(clean: DevStack) -> None:
    """A reload of an SPA path serves the page; its CSP lets it reach nothing but the stack."""
    import urllib.request

    assert clean.api is not None
    with urllib.request.urlopen(clean.api.base_url + "/_dev/demo/checkout", timeout=10) as answer:
        body = answer.read().decode()
        csp = answer.headers["content-security-policy"]
    assert 'src="/fairtrack.js" data-write-key="dev-write-key"' in body
    assert "connect-src 'self'" in csp and "default-src 'none'" in csp
