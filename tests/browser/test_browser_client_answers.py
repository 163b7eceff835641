"""What the browser clients make of the gateway's answers: analytics-next (@segment/analytics-next)
and RudderStack JS v3 in headless Chromium, on the pages of test_clients.py, against the local stack.

Counted at the HTTP layer: every response the gateway gave the page (Playwright's network events,
recorded by test_clients' ``open_tab``), so a retry shows up as a second request.

- A permanent 4xx (a wrong write key: 401; an event the gateway refuses: 400) is one request per
  event, and no retry follows. Both clients document it so: analytics-next's ``shared-dispatcher``
  drops a 4xx by default (``default4xxBehavior: 'drop'``; only 408, 410, 429 and 460 are retried);
  RudderStack JS's ``isErrRetryable`` retries 429 and nothing else of 4xx (its ``RetryQueue``
  removes the item). Both back off 0.5-2 s before a first retry, so a quiet window of
  ``QUIET_SECONDS`` after the answer would see one.
- Half an emoji in a batched event: both clients write the lone surrogate with ``JSON.stringify``,
  as the escape ``\\ud83d``; the gateway reads it as U+FFFD, and the batch's other events are kept.
- A 200-item order (each item product_id, name, price, quantity: ~15 KB, under Segment's 32 KB per
  event) reaches GA4 as one purchase with its 200 items.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import test_clients
from browserkit import SITE_WRITE_KEY, captured
from test_clients import DELIVERY_TIMEOUT, WIRE_TIMEOUT, Exchange, Tab

from fairtrack_tools.local.stack import DevStack

pytestmark = pytest.mark.browser
open_tab = test_clients.open_tab  # its fixture, used here too

CLIENTS = ("analytics-next", "rudderstack")
QUIET_SECONDS = 3.0  # after a 4xx: longer than either client's first backoff
WRONG_KEY = "not-a-write-key"
CUT_EMOJI = r"Great \ud83d"  # how JSON.stringify writes a string ending in half an emoji
# analytics-next's consent wrapper stamps the CMP's categories; RudderStack's page sends its own
CONSENTED = {"consent": {"categoryPreferences": {"C0001": True, "C0002": True, "C0003": False, "C0004": False}}}
RETRY_HEADERS = ("x-retry-count", "rsa-retry-attempt", "rsa-retry-reason")


def open_client(open_tab: Callable[[str, dict[str, Any]], Tab], stack: DevStack, client: str, **options: Any) -> Tab:
    """The test site's page of ``client`` (``segment.html`` or ``rudderstack.html``): its instance is
    ``analytics`` resp. ``rudder`` in the page; it sends a page view as it loads."""
    assert stack.api is not None
    key = options.get("write_key", SITE_WRITE_KEY)
    if client == "analytics-next":
        return open_tab("segment", {"writeKey": key, "apiHost": f"{urlsplit(stack.api.base_url).netloc}/v1"})
    config = {"writeKey": key, "dataPlaneUrl": stack.api.base_url, "useBeacon": options.get("beacon", False)}
    return open_tab("rudderstack", config)


def posts(tab: Tab) -> list[Exchange]:
    return [x for x in tab.exchanges if x.method == "POST"]


def events_of(exchange: Exchange) -> list[dict[str, Any]]:
    body = json.loads(exchange.body)
    events: list[dict[str, Any]] = body.get("batch", [body])
    return events


def sent_events(tab: Tab) -> list[dict[str, Any]]:
    return [e for x in posts(tab) for e in events_of(x)]


def replayed(tab: Tab, exchange: Exchange) -> tuple[int, dict[str, Any]]:
    """The gateway's answer to ``exchange``, sent again as the browser sent it (Chromium keeps no
    body of these answers for Playwright to read): its status and JSON body."""
    headers = {k: v for k, v in exchange.headers.items() if not k.startswith(":")}
    request = urllib.request.Request(
        tab.gateway + exchange.path, data=exchange.body.encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def wait_quietly(tab: Tab, count: int, what: str) -> None:
    """Until ``count`` POSTs were answered, then ``QUIET_SECONDS`` more, for any retry to show."""
    tab.wait(lambda: len(posts(tab)) >= count, WIRE_TIMEOUT, what)
    tab.pause(QUIET_SECONDS)


def assert_only_http_errors(tab: Tab, statuses: set[int]) -> None:
    """Nothing failed at the network level (a CORS refusal, an abort) and no script broke: the
    console errors are Chromium's own lines for the 4xx answers, and the SDK's log of them."""
    assert tab.refused == []
    assert not [e for e in tab.errors if e.startswith(("failed:", "page error:"))], tab.errors
    chromium = [e for e in tab.errors if "Failed to load resource" in e]
    assert {int(e.split("status of ")[1].split()[0]) for e in chromium} <= statuses, tab.errors


# -- a permanent 4xx: one request, no storm --------------------------------------------------------------

TRACK_PATH = {"analytics-next": "/v1/t", "rudderstack": "/v1/track"}
PAGE_PATH = {"analytics-next": "/v1/p", "rudderstack": "/v1/page"}
TRACK = {
    "analytics-next": """(name) => analytics.track(name, {plan: 'trial'})
      .then(ctx => ctx.failedDelivery()?.reason?.message ?? null)""",
    "rudderstack": "(name) => { rudder.track(name, {plan: 'trial'}); return null; }",
}


@pytest.mark.parametrize(
    ("case", "status", "code"), [("wrong_key", 401, "invalid_write_key"), ("invalid_event", 400, "invalid_event")]
)
def test_a_permanent_4xx_is_one_request_per_event(
    open_tab: Callable[[str, dict[str, Any]], Tab], clean: DevStack, case: str, status: int, code: str
) -> None:
    """A wrong write key (401 ``invalid_write_key``: the page view at load and the track), or an
    event name of 300 characters (400 ``invalid_event``: the gateway takes 200; neither client
    checks it). analytics-next drops the event after the one answer (a ``NonRetryableError``, its
    default for a 4xx, which it reports on the event's context); RudderStack JS removes it from its
    retry queue (``isErrRetryable`` is false for a 4xx other than 429). Both clients' tabs are
    driven at once, so one quiet window serves both."""
    # Given each client's page, with a write key the gateway does not know or with the site's
    key = WRONG_KEY if case == "wrong_key" else SITE_WRITE_KEY
    tabs = {client: open_client(open_tab, clean, client, write_key=key) for client in CLIENTS}
    # When the page tracks an event (one the gateway refuses, with the right key)
    name = "CTA Clicked" if case == "wrong_key" else "x" * 300
    failures = {client: tab.page.evaluate(TRACK[client], name) for client, tab in tabs.items()}
    for client, tab in tabs.items():
        tab.wait(lambda t=tab: len(posts(t)) >= 2, WIRE_TIMEOUT, f"{client}'s page view and track")
    next(iter(tabs.values())).pause(QUIET_SECONDS)

    page_status = 401 if case == "wrong_key" else 200
    for client, tab in tabs.items():
        # Then each event was one request, the track answered with the 4xx, and none was sent again
        sent = sorted((x.path, x.status) for x in posts(tab))
        assert sent == sorted([(PAGE_PATH[client], page_status), (TRACK_PATH[client], status)]), client
        assert not [x for x in posts(tab) if set(x.headers) & set(RETRY_HEADERS)]
        # in the shape both SDK families read (a top-level code and message)
        (track,) = [x for x in posts(tab) if x.path == TRACK_PATH[client]]
        answered, answer = replayed(tab, track)
        assert (answered, answer["success"], answer["code"]) == (status, False, code) and answer["message"]
        assert_only_http_errors(tab, {status})
    # and analytics-next knew at once that the event was not delivered
    assert failures["analytics-next"] == f"Non-retryable error: {status}"
    if case == "wrong_key":
        assert captured(clean, "lake") == []


# -- half an emoji in a batch -------------------------------------------------------------------------

# analytics-next as sites batch it (deliveryStrategy 'batching', to /v1/b), next to the page's own
# instance; the events carry the consent wrapper's categories themselves
SEGMENT_BATCH = """([key, host, titles, consent]) => AnalyticsNext.AnalyticsBrowser.load({
  writeKey: key,
  cdnSettings: {integrations: {'Segment.io': {apiKey: key, apiHost: host, protocol: 'http',
    deliveryStrategy: {strategy: 'batching', config: {size: titles.length, timeout: 5000}}}},
    metrics: {sampleRate: 0}},
}).then(([batching]) => {
  for (const title of titles)
    batching.track('Article Read', {title: title.replace('@@', '\\ud83d')}, {context: consent});
})"""
# RudderStack JS with useBeacon: its beacon queue sends what 250 ms gathered as one batch
RUDDER_BATCH = """([key, host, titles, consent]) => {
  for (const title of titles) rudder.track('Article Read', {title: title.replace('@@', '\\ud83d')});
}"""


@pytest.mark.parametrize("client", CLIENTS)
def test_a_lone_surrogate_in_a_batch_loses_nothing(
    open_tab: Callable[[str, dict[str, Any]], Tab], clean: DevStack, client: str
) -> None:
    assert clean.api is not None
    # Given the client batching (analytics-next: deliveryStrategy 'batching'; RudderStack: its
    # beacon queue), on a page where the visitor accepted analytics
    tab = open_client(open_tab, clean, client, beacon=True)
    tab.page.click("#accept-all")
    tab.wait(lambda: len(sent_events(tab)) >= 2, WIRE_TIMEOUT, "the page views at load and on consent")
    before = len(posts(tab))
    # When it tracks three events at once, the middle one's title cut inside an emoji
    titles = ["Fine", "Great @@", "Also \U0001f600 fine"]  # @@: the pages put the lone half there
    script = SEGMENT_BATCH if client == "analytics-next" else RUDDER_BATCH
    host = f"{urlsplit(clean.api.base_url).netloc}/v1"
    tab.page.evaluate(script, [SITE_WRITE_KEY, host, titles, CONSENTED])
    tab.wait(lambda: len(sent_events(tab)) >= 5, WIRE_TIMEOUT, "the three tracks")

    # Then the client sent them in one batch request, the half character as JSON.stringify writes
    # it (the escape; the pair as the character itself), and the gateway took it
    (batch,) = posts(tab)[before:]
    assert batch.path == ("/v1/b" if client == "analytics-next" else "/beacon/v1/batch")
    assert batch.status == 200
    assert f'"{CUT_EMOJI}"' in batch.body and "\U0001f600" in batch.body
    tracks = [e for e in events_of(batch) if e["type"] == "track"]
    assert len(tracks) == 3
    # And all three reach the lake, the lone half read as U+FFFD
    ids = [e["messageId"] for e in tracks]

    def lake() -> dict[str, Any]:
        found = {r["event"]["messageId"]: r for r in captured(clean, "lake")}
        return found if set(ids) <= found.keys() else {}

    tab.wait(lambda: bool(lake()), DELIVERY_TIMEOUT, "the three events in the lake")
    records = lake()
    assert [records[m]["event"]["properties"]["title"] for m in ids] == ["Fine", "Great \ufffd", "Also \U0001f600 fine"]
    assert all("analytics" in records[m]["purposes"] for m in ids)
    assert tab.refused == [] and tab.errors == []


# -- a 200-item order -------------------------------------------------------------------------------------

ORDER = """([client, orderId]) => {
  const products = Array.from({length: 200}, (_, i) =>
    ({product_id: `p-${i}`, name: `Item ${i}`, price: 9.5, quantity: 1}));
  const properties = {order_id: orderId, revenue: 1900, currency: 'EUR', products};
  (client === 'analytics-next' ? analytics : rudder).track('Order Completed', properties);
  return JSON.stringify(properties).length;
}"""


@pytest.mark.parametrize("client", CLIENTS)
def test_a_200_item_order_reaches_ga4_with_its_items(
    open_tab: Callable[[str, dict[str, Any]], Tab], clean: DevStack, client: str
) -> None:
    # Given the client's page, the visitor having accepted analytics
    tab = open_client(open_tab, clean, client)
    tab.page.click("#accept-all")
    tab.wait(lambda: len(posts(tab)) >= 2, WIRE_TIMEOUT, "the page views at load and on consent")
    # When it tracks an Order Completed of 200 products (under Segment's 32 KB per event)
    order_id = f"o-{client}"
    size = tab.page.evaluate(ORDER, [client, order_id])
    assert size < 32 * 1024
    tab.wait(lambda: len(posts(tab)) >= 3, WIRE_TIMEOUT, "the order")

    # Then it was one request, and the gateway took it
    (order,) = [x for x in posts(tab) if x.path == TRACK_PATH[client]]
    assert order.status == 200 and len(events_of(order)[0]["properties"]["products"]) == 200

    # And GA4 receives one purchase with all 200 items (the Measurement Protocol's limit per event)
    def purchases() -> list[dict[str, Any]]:
        return [
            e
            for body in captured(clean, "ga4")
            for e in body["events"]
            if e["name"] == "purchase" and e["params"].get("transaction_id") == order_id
        ]

    tab.wait(lambda: bool(purchases()), DELIVERY_TIMEOUT, "the purchase at GA4")
    (purchase,) = purchases()
    assert [item["item_id"] for item in purchase["params"]["items"]] == [f"p-{i}" for i in range(200)]
    assert {(item["item_name"], item["price"], item["quantity"]) for item in purchase["params"]["items"][:1]} == {
        ("Item 0", 9.5, 1)
    }
    assert (purchase["params"]["value"], purchase["params"]["currency"]) == (1900, "EUR")
    assert tab.refused == [] and tab.errors == []
