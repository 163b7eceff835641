"""Browser compatibility: the analytics clients websites already run, in headless Chromium, against the
local stack.

Each test opens a page of the cross-origin test website (``site``, pages in ``pages/``) that loads a
real client from ``web/node_modules`` and shows a consent banner. The visitor then goes through four
phases, each ending with the client's hits for it on the wire before the next click:

- ``default``: the page loads, nothing decided (a page view);
- ``denied``: "Reject all", then the call-to-action button (a page view, a track);
- ``analytics``: only "Analytics" ticked and saved, then the button;
- ``all``: "Accept all", then the button.

Every hit carries its phase as a property, so what each destination received can be told apart.
Expected, from policies/default.yaml: the lake keeps every hit (necessary-only records before
analytics consent); GA4 (requires analytics) gets the ``analytics`` and ``all`` hits only, with
``ad_user_data`` GRANTED only in ``all``; Meta (requires advertising) gets the ``all`` hits and
nothing else; what was sent before a grant never shows up later either. Destinations get
pseudonyms, never the browser's own visitor id.

The browser may reach 127.0.0.1 only: every request goes through a route that aborts and records
anything else (a CDN, a config endpoint), and each test asserts nothing was.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from browserkit import SITE_MEASUREMENT_ID, SITE_WRITE_KEY, Site, captured, pseudonym

from fairtrack_tools.local.stack import DevStack

pytestmark = pytest.mark.browser

PAGES = Path(__file__).resolve().parent / "pages"
# policies/default.yaml: what each banner choice grants
PURPOSES = {
    "default": ["necessary"],
    "denied": ["necessary"],
    "analytics": ["analytics", "necessary"],
    "all": ["advertising", "analytics", "necessary"],
}
GA4_AD_CONSENT = {"analytics": "DENIED", "all": "GRANTED"}  # GA4 gets these phases only
QUEUES = ("Ga4Queue", "MetaQueue", "WebhookQueue", "LakeQueue")
# what a necessary-only lake record may hold (no id, name, URL, address or properties)
NECESSARY_FIELDS = {"type", "messageId", "timestamp", "receivedAt", "visitorId", "context"}
WIRE_TIMEOUT = 15.0
DELIVERY_TIMEOUT = 30.0


# -- the browser side -------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One request the page made to the gateway, with the gateway's answer."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    status: int


@dataclass
class Sent:
    """One event as the client put it on the wire."""

    phase: str
    ga4_name: str  # the name GA4 should get it under
    message_id: str | None  # gtag hits carry none (the gateway derives one)
    visitor_id: str  # anonymousId / cid, as the browser made it
    consent: Any  # the consent signal the client sent with it


@dataclass
class Tab:
    """A fresh browser context with one page: requests to anything but 127.0.0.1 are aborted and
    recorded, the page's requests to the gateway are recorded with their answers."""

    context: Any
    page: Any
    gateway: str
    refused: list[str] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # page errors, console errors, failed requests

    def pause(self, seconds: float) -> None:
        # never time.sleep: Playwright's sync API serves routes and events only while it waits itself
        self.page.wait_for_timeout(seconds * 1000)

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not after {timeout} s (errors: {self.errors}, refused: {self.refused})")
            self.pause(0.1)


@pytest.fixture
def open_tab(browser: Any, clean: DevStack, site: Site) -> Iterator[Callable[[str, dict[str, Any]], Tab]]:
    """Opens a page of ``pages/`` (banner included, ``config`` as the page's JSON configuration)
    on the test site, in a context of its own."""
    assert clean.api is not None
    gateway = clean.api.base_url
    tabs: list[Tab] = []

    def open_(name: str, config: dict[str, Any]) -> Tab:
        html = (PAGES / f"{name}.html").read_text()
        html = html.replace("<!--BANNER-->", (PAGES / "banner.html").read_text())
        html = html.replace("/*CONFIG*/", json.dumps(config))
        site.pages[f"/{name}.html"] = html
        context = browser.new_context()
        tab = Tab(context, context.new_page(), gateway)
        tabs.append(tab)

        def route(r: Any) -> None:
            if urlsplit(r.request.url).hostname == "127.0.0.1":
                r.continue_()
            else:
                tab.refused.append(r.request.url)
                r.abort()

        def answered(response: Any) -> None:
            request = response.request
            if not request.url.startswith(gateway):
                return
            parts = urlsplit(request.url)
            tab.exchanges.append(
                Exchange(
                    request.method,
                    parts.path,
                    dict(parse_qsl(parts.query, keep_blank_values=True)),
                    dict(request.headers),
                    request.post_data or "",
                    response.status,
                )
            )

        context.route("**/*", route)
        context.on("response", answered)
        # a refused CORS preflight shows as a failed request and a console error, not as a response
        context.on("requestfailed", lambda r: tab.errors.append(f"failed: {r.method} {r.url} {r.failure}"))
        tab.page.on("console", lambda m: tab.errors.append(f"console: {m.text}") if m.type == "error" else None)
        tab.page.on("pageerror", lambda exc: tab.errors.append(f"page error: {exc}"))
        tab.page.goto(site.origin + f"/{name}.html")
        return tab

    try:
        yield open_
    finally:
        for tab in tabs:
            tab.context.close()


def go_through_banner(tab: Tab, sent: Callable[[Tab], list[Sent]], per_phase: dict[str, int]) -> list[Sent]:
    """The four phases (see the module's docstring), each waited for on the wire; what was sent."""

    def have(phase: str) -> Callable[[], bool]:
        return lambda: sum(1 for s in sent(tab) if s.phase == phase) >= per_phase[phase]

    tab.wait(have("default"), WIRE_TIMEOUT, "the page view at load")
    tab.page.click("#reject-all")
    tab.page.click("#cta")
    tab.wait(have("denied"), WIRE_TIMEOUT, "the hits after 'Reject all'")
    tab.page.click("#c-analytics")
    tab.page.click("#save")
    tab.page.click("#cta")
    tab.wait(have("analytics"), WIRE_TIMEOUT, "the hits after saving 'Analytics' only")
    tab.page.click("#accept-all")
    tab.page.click("#cta")
    tab.wait(have("all"), WIRE_TIMEOUT, "the hits after 'Accept all'")
    events = sent(tab)
    assert Counter(s.phase for s in events) == Counter(per_phase), "the client sent more than the page asked for"
    return events


# -- the stack side ---------------------------------------------------------------------------------


def queues_idle(stack: DevStack) -> bool:
    assert stack.api is not None
    with urllib.request.urlopen(stack.api.base_url + "/_dev/queues", timeout=10) as answer:
        depths = json.loads(answer.read())
    return all(depths[q]["visible"] == 0 and depths[q]["in_flight"] == 0 for q in QUEUES)


def ga4_events(got: dict[str, list[Any]]) -> list[tuple[str, str, str | None, str]]:
    """(ad_user_data, event name, phase param, client_id) for every event GA4 received."""
    return [
        (body["consent"]["ad_user_data"], e["name"], e["params"].get("phase"), body["client_id"])
        for body in got["ga4"]
        for e in body["events"]
    ]


def delivered(tab: Tab, stack: DevStack, events: list[Sent]) -> dict[str, list[Any]]:
    """Waits until every destination holds as many events as the policy lets through and every
    queue is drained (so nothing else is on its way), then returns what they received."""
    consented = [s for s in events if s.phase in GA4_AD_CONSENT]
    advertising = [s for s in events if s.phase == "all"]

    def complete() -> bool:
        got = captured(stack)
        return (
            len(got["lake"]) >= len(events)
            and len(ga4_events(got)) >= len(consented)
            and sum(len(b["data"]) for b in got["meta"]) >= len(advertising)
            and sum(len(b["batch"]) for b in got["webhook"]) >= len(consented)
        )

    tab.wait(complete, DELIVERY_TIMEOUT, f"delivery of {len(events)} hits")
    tab.wait(lambda: queues_idle(stack), DELIVERY_TIMEOUT, "the destination queues draining")
    got: dict[str, list[Any]] = captured(stack)
    return got


def assert_policy_outcome(stack: DevStack, events: list[Sent], got: dict[str, list[Any]]) -> None:
    """What each destination got, phase by phase (see the module's docstring)."""
    # the lake: one record per hit, its purposes those of the banner choice it was sent under
    lake = got["lake"]
    assert Counter(tuple(r["purposes"]) for r in lake) == Counter(tuple(PURPOSES[s.phase]) for s in events)
    by_id = {r["event"]["messageId"]: r for r in lake}
    if all(s.message_id for s in events):
        assert {s.message_id: PURPOSES[s.phase] for s in events} == {m: r["purposes"] for m, r in by_id.items()}
    for record in lake:
        if record["purposes"] == ["necessary"]:
            assert set(record["event"]) <= NECESSARY_FIELDS, record
            assert set(record["event"].get("context", {})) <= {"library"}, record
        else:  # analytics records keep the phase the page sent: it granted what the record says
            assert PURPOSES[record["event"]["properties"]["phase"]] == record["purposes"], record

    # GA4: exactly the hits sent with analytics consent, ad_user_data GRANTED only with advertising
    expected = Counter((GA4_AD_CONSENT[s.phase], s.ga4_name, s.phase) for s in events if s.phase in GA4_AD_CONSENT)
    assert Counter(e[:3] for e in ga4_events(got)) == expected
    # and under the visitor's pseudonym: the browser's own id reached neither GA4 nor Meta
    raw_ids = {s.visitor_id for s in events if s.phase in GA4_AD_CONSENT}
    assert {e[3] for e in ga4_events(got)} == {pseudonym(stack, "anonymousId", raw) for raw in raw_ids}
    sent_on = json.dumps([got["ga4"], got["meta"]])
    assert not [raw for raw in {s.visitor_id for s in events} if raw in sent_on]

    # Meta and the webhook: exactly the lake's records with advertising, resp. analytics, consent
    with_purpose = {p: {m for m, r in by_id.items() if p in r["purposes"]} for p in ("advertising", "analytics")}
    meta_ids = [e["event_id"] for body in got["meta"] for e in body["data"]]
    assert sorted(meta_ids) == sorted(with_purpose["advertising"])
    webhook_ids = [e["messageId"] for body in got["webhook"] for e in body["batch"]]
    assert sorted(webhook_ids) == sorted(with_purpose["analytics"])


# -- Segment / RudderStack wire -------------------------------------------------------------------------


def tracking_events(tab: Tab, consent_of: Callable[[dict[str, Any]], Any]) -> list[Sent]:
    """The events of the page's Segment-format requests (single calls and batches), in order."""
    out: list[Sent] = []
    for exchange in tab.exchanges:
        if exchange.method != "POST" or not (exchange.path.startswith(("/v1/", "/beacon/v1/"))):
            continue
        body = json.loads(exchange.body)
        for event in body.get("batch", [body]):
            name = "page_view" if event["type"] == "page" else event["event"].lower().replace(" ", "_")
            out.append(
                Sent(event["properties"]["phase"], name, event["messageId"], event["anonymousId"], consent_of(event))
            )
    return out


# -- the tests ---------------------------------------------------------------------------------------------


def test_segment_analytics_next_offline_with_consent_wrapper_middleware(
    open_tab: Callable[[str, dict[str, Any]], Tab], clean: DevStack
) -> None:
    assert clean.api is not None
    host = urlsplit(clean.api.base_url).netloc

    # Given analytics-next loaded with inline CDN settings, its Segment.io destination on the gateway
    tab = open_tab("segment", {"writeKey": SITE_WRITE_KEY, "apiHost": f"{host}/v1"})

    # When the visitor goes from no decision to rejecting, to analytics only, to accepting all
    def sent(t: Tab) -> list[Sent]:
        return tracking_events(t, lambda e: e["context"]["consent"]["categoryPreferences"])

    events = go_through_banner(tab, sent, {"default": 1, "denied": 2, "analytics": 2, "all": 2})

    # Then analytics-next sent text/plain short-path calls with the write key, each stamped with the
    # banner's state at the time, and the gateway took every one (after the Authorization preflight)
    assert {(x.method, x.path, x.status) for x in tab.exchanges} == {("POST", "/v1/p", 200), ("POST", "/v1/t", 200)}
    basic = "Basic " + base64.b64encode(f"{SITE_WRITE_KEY}:".encode()).decode()
    for x in tab.exchanges:
        assert x.headers["content-type"].startswith("text/plain")
        assert x.headers["authorization"] == basic
    for s in events:
        assert (s.consent["C0002"], s.consent["C0004"]) == (s.phase in ("analytics", "all"), s.phase == "all")
    assert len({s.visitor_id for s in events}) == 1

    # And each destination got what the banner allowed, when it allowed it
    assert_policy_outcome(clean, events, delivered(tab, clean, events))
    assert tab.refused == [] and tab.errors == []


@pytest.mark.parametrize("transport", ["xhr", "beacon"])
def test_rudderstack_js_v3_offline_with_custom_consent_manager(
    open_tab: Callable[[str, dict[str, Any]], Tab], clean: DevStack, transport: str
) -> None:
    assert clean.api is not None

    # Given RudderStack's JS SDK v3 with its source config inline and a custom consent manager
    # reporting the banner's categories, updated with rudderanalytics.consent() on each decision
    config = {"writeKey": SITE_WRITE_KEY, "dataPlaneUrl": clean.api.base_url, "useBeacon": transport == "beacon"}
    tab = open_tab("rudderstack", config)

    def sent(t: Tab) -> list[Sent]:
        return tracking_events(t, lambda e: e["context"]["consentManagement"])

    events = go_through_banner(tab, sent, {"default": 1, "denied": 2, "analytics": 2, "all": 2})

    # Then the SDK sent every event, denied ones too, each with the consent ids of its moment
    paths = {(x.method, x.path, x.status) for x in tab.exchanges}
    if transport == "xhr":
        # per-event routes, JSON, with the custom headers that make the browser preflight first
        assert paths == {("POST", "/v1/page", 200), ("POST", "/v1/track", 200)}
        for x in tab.exchanges:
            assert x.headers["content-type"].startswith("application/json")
            assert x.headers["anonymousid"] and x.headers["authorization"].startswith("Basic ")
    else:
        assert paths == {("POST", "/beacon/v1/batch", 200)}
        for x in tab.exchanges:
            assert x.query == {"writeKey": SITE_WRITE_KEY}
            assert x.headers["content-type"].startswith("text/plain")
    for s in events:
        allowed, denied = set(s.consent["allowedConsentIds"]), set(s.consent["deniedConsentIds"])
        assert s.consent["provider"] == "custom"
        assert ("C0002" in allowed, "C0004" in allowed) == (s.phase in ("analytics", "all"), s.phase == "all")
        assert not allowed & denied

    # And each destination got what the banner allowed, when it allowed it
    assert_policy_outcome(clean, events, delivered(tab, clean, events))
    assert tab.refused == [] and tab.errors == []


def gtag_events(tab: Tab) -> list[Sent]:
    """The events of the page's /g/collect beacons: the query's parameters, each body line's over them."""
    out: list[Sent] = []
    for x in tab.exchanges:
        if x.path != "/g/collect":
            continue
        lines = [dict(parse_qsl(line)) for line in x.body.split("\n") if line] or [{}]
        for own in lines:
            params = {**x.query, **own}
            consent = {k: params[k] for k in ("gcs", "gcd", "npa")}
            out.append(Sent(params["ep.phase"], params["en"], None, params["cid"], consent))
    return out


def test_gtag_format_beacons_with_consent_mode(open_tab: Callable[[str, dict[str, Any]], Tab], clean: DevStack) -> None:
    assert clean.api is not None

    # Given a page sending gtag.js's hits itself (sendBeacon to /g/collect), Consent Mode from the banner
    tab = open_tab("gtag", {"tid": SITE_MEASUREMENT_ID, "collect": clean.api.base_url + "/g/collect"})

    # When the visitor goes through the banner (page views in the query, button hits as two body lines)
    events = go_through_banner(tab, gtag_events, {"default": 1, "denied": 3, "analytics": 3, "all": 3})

    # Then the gateway answered every beacon as Google does, and the hits carried the banner's state
    assert {(x.method, x.path, x.status) for x in tab.exchanges} == {("POST", "/g/collect", 204)}
    assert all(x.query["tid"] == SITE_MEASUREMENT_ID for x in tab.exchanges)
    assert all(x.headers["content-type"].startswith("text/plain") for x in tab.exchanges if x.body)
    assert {(s.phase, s.consent["gcs"], s.consent["gcd"]) for s in events} == {
        ("default", "G100", "13p3p3p3p5"),
        ("denied", "G100", "13q3q3q3q5"),
        ("analytics", "G101", "13q3r3q3q5"),
        ("all", "G111", "13r3r3r3r5"),
    }
    assert {s.visitor_id for s in events} == {tab.page.evaluate("window.gtagClientId")}

    # And each destination got what Consent Mode allowed, when it allowed it
    assert_policy_outcome(clean, events, delivered(tab, clean, events))
    assert tab.refused == [] and tab.errors == []
