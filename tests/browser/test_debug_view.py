"""The debug view (``/_dev/``): recent hits, anonymised, with their consent and every field's decision.

Hits are sent from a distinctive loopback address (127.45.67.89) and user agent, with a raw
``anonymousId``: the page must show what ingest keeps of them (127.45.67.0, the pseudonym, the
reduced agent) and never the raw values. The browser tests are skipped without Chromium (see
conftest); the JSON tests run everywhere.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from browserkit import pseudonym
from devstack_kit import eventually

from fairtrack_tools.local.preview import WITHHELD_USER_AGENT
from fairtrack_tools.local.stack import DevStack

ROOT = Path(__file__).resolve().parents[2]
AUTH = "Basic " + base64.b64encode(b"dev-write-key:").decode()
# Linux routes all of 127/8 to loopback: a client bound to this address reaches the stack with an
# address nothing else uses, so whether the page shows it is a real check.
CLIENT_IP = "127.45.67.89"
CLIENT_IP_TRUNCATED = "127.45.67.0"
RAW_ANONYMOUS_ID = "5b4f3c1e-7d2a-4e8b-9c61-2f0a8d3e4b17"  # events/examples/track.json
UA_MARKER = "FairtrackDebugProbe/9.9"
USER_AGENT = (
    f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 {UA_MARKER}"
)
TIMEOUT_MS = 10_000

browser_test = pytest.mark.browser


# -- helpers ------------------------------------------------------------------------------------------
def request(
    stack: DevStack,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    source_ip: str | None = None,
) -> tuple[int, bytes]:
    """One HTTP request to the stack, from ``source_ip`` (a loopback address) when given."""
    assert stack.api is not None
    port = stack.api.httpd.server_address[1]
    source = (source_ip, 0) if source_ip else None
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=source)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def send_hit(stack: DevStack, body: dict[str, Any], path: str = "/v1/track") -> tuple[int, bytes]:
    headers = {"Authorization": AUTH, "Content-Type": "application/json", "User-Agent": USER_AGENT}
    return request(stack, "POST", path, json.dumps(body).encode(), headers, source_ip=CLIENT_IP)


def example(**context: Any) -> dict[str, Any]:
    """The README's example hit (analytics granted, advertising not), context keys replaced, with a
    messageId of its own (the delivery ledger rightly skips one already delivered)."""
    body: dict[str, Any] = json.loads((ROOT / "events/examples/track.json").read_text())
    body = copy.deepcopy(body)
    body["messageId"] = f"debug-view-{uuid.uuid4().hex[:12]}"
    for key, value in context.items():
        if value is None:
            body["context"].pop(key, None)
        else:
            body["context"][key] = value
    return body


def hits(stack: DevStack) -> list[dict[str, Any]]:
    assert stack.debug is not None
    stack.debug.flush()
    status, raw = request(stack, "GET", "/_dev/hits")
    assert status == 200
    found: list[dict[str, Any]] = json.loads(raw)["hits"]
    return found


def captured(stack: DevStack) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = json.loads(request(stack, "GET", "/_dev/captured")[1])
    return result


def assert_nothing_raw(stack: DevStack, page: Any, *raw: str) -> None:
    """Neither the page (collapsed payloads included) nor /_dev/hits holds any of ``raw``."""
    html = page.content()
    text = page.inner_text("body")
    served = request(stack, "GET", "/_dev/hits")[1].decode()
    for value in raw:
        assert value not in html, value
        assert value not in text, value
        assert value not in served, value


# -- in the browser -------------------------------------------------------------------------------------
@browser_test
def test_readme_example_shows_each_field_decision_and_nothing_raw(clean: DevStack, page: Any) -> None:
    from playwright.sync_api import expect

    # When the README's example hit comes in (analytics granted, advertising not)
    status, _ = send_hit(clean, example())
    assert status == 200

    # Then it appears, selected, without reloading the page
    item = page.locator("#hit-list li").first
    expect(item).to_contain_text("track · Order Completed", timeout=TIMEOUT_MS)
    detail = page.locator("#detail")
    # consent: analytics granted, from Segment's categoryPreferences
    consent = detail.locator("#consent")
    expect(consent.locator('[data-purpose="analytics"]')).to_have_attribute("data-granted", "true")
    expect(consent.locator('[data-purpose="advertising"]')).to_have_attribute("data-granted", "false")
    expect(consent).to_contain_text("Segment context.consent.categoryPreferences")
    expect(consent).to_have_attribute("data-basis", "signals")
    # the webhook got `properties`, field by field
    webhook = detail.locator('section[data-dest="webhook"]')
    expect(webhook).to_have_attribute("data-status", "queued")
    expect(webhook.locator('tr[data-field="properties"]')).to_have_attribute("data-action", "sent")
    # GA4 did not get the locale: dropped, with the reason and the purpose
    locale = detail.locator('section[data-dest="ga4"] tr[data-field="context.locale"]')
    expect(locale).to_have_attribute("data-action", "dropped")
    expect(locale).to_contain_text("not_allowed_for_destination")
    expect(locale).to_contain_text("analytics")
    # Meta got nothing, and the page says why
    meta = detail.locator('section[data-dest="meta"]')
    expect(meta).to_have_attribute("data-status", "skipped")
    expect(meta.locator(".reason")).to_contain_text("purpose_not_granted:advertising")
    # what was kept: the pseudonym, the truncated address, the reduced user agent
    stored = detail.locator("#stored")
    expect(stored).to_contain_text(pseudonym(clean, "anonymousId", RAW_ANONYMOUS_ID))
    expect(stored).to_contain_text(CLIENT_IP_TRUNCATED)
    expect(detail.locator("#visitor")).to_contain_text("Chrome 120")

    # and never the raw id, the full address or the full user agent
    assert_nothing_raw(clean, page, RAW_ANONYMOUS_ID, CLIENT_IP, UA_MARKER)

    # The preview queued nothing: each destination received the hit exactly once
    assert eventually(lambda: len(captured(clean)["webhook"]) == 1 and len(captured(clean)["lake"]) == 1)
    time.sleep(1.5)  # pollers wait at most 1 s for a batch: a second message would have landed by now
    got = captured(clean)
    assert (len(got["webhook"]), len(got["lake"]), len(got["ga4"]), len(got["meta"])) == (1, 1, 1, 0)
    depths = json.loads(request(clean, "GET", "/_dev/queues")[1])
    assert all(q["visible"] == 0 and q["in_flight"] == 0 for q in depths.values()), depths


@browser_test
def test_no_consent_signal_fails_closed(clean: DevStack, page: Any) -> None:
    from playwright.sync_api import expect

    # When a hit carries no consent signal at all
    send_hit(clean, example(consent=None))

    # Then the page says it failed closed: necessary only
    consent = page.locator("#detail #consent")
    expect(consent).to_have_attribute("data-basis", "none", timeout=TIMEOUT_MS)
    expect(consent).to_contain_text("fails closed")
    expect(consent.locator('[data-purpose="analytics"]')).to_have_attribute("data-granted", "false")
    # the webhook (analytics) got nothing
    webhook = page.locator('#detail section[data-dest="webhook"]')
    expect(webhook).to_have_attribute("data-status", "skipped")
    expect(webhook.locator(".reason")).to_contain_text("purpose_not_granted:analytics")
    # the lake got a necessary-only record: the id dropped for want of analytics, a daily id instead
    lake = page.locator('#detail section[data-dest="lake"]')
    expect(lake).to_have_attribute("data-status", "queued")
    dropped = lake.locator('tr[data-field="anonymousId"]')
    expect(dropped).to_have_attribute("data-action", "dropped")
    expect(dropped).to_have_attribute("data-reason", "purpose_not_granted")
    expect(lake.locator('tr[data-field="visitorId"]')).to_have_attribute("data-action", "sent")
    # what went nowhere is shown nowhere: not even the event name or the pseudonym
    assert_nothing_raw(
        clean, page, RAW_ANONYMOUS_ID, CLIENT_IP, "Order Completed", pseudonym(clean, "anonymousId", RAW_ANONYMOUS_ID)
    )


@browser_test
def test_full_user_agent_is_withheld_even_where_meta_gets_it(clean: DevStack, page: Any) -> None:
    from playwright.sync_api import expect

    # When a hit grants advertising and carries a user agent in its context (Meta's client_user_agent)
    prefs = {"categoryPreferences": {"analytics": True, "advertising": True}}
    send_hit(clean, example(consent=prefs, userAgent=USER_AGENT))

    # Then Meta is queued and its row says context.userAgent was sent, but the string is not shown
    meta = page.locator('#detail section[data-dest="meta"]')
    expect(meta).to_have_attribute("data-status", "queued", timeout=TIMEOUT_MS)
    expect(meta.locator('tr[data-field="context.userAgent"]')).to_have_attribute("data-action", "sent")
    expect(page.locator("#detail #stored")).to_contain_text(WITHHELD_USER_AGENT)
    assert_nothing_raw(clean, page, UA_MARKER, RAW_ANONYMOUS_ID, CLIENT_IP)


@browser_test
def test_gtag_hit_shows_consent_mode_and_cleaned_url_as_text(clean: DevStack, page: Any) -> None:
    from playwright.sync_api import expect

    # When a gtag page_view comes in with Consent Mode (analytics and ads storage granted), a page
    # URL holding an e-mail and a click id, and a parameter that is markup
    client_id = "918273645.1764000000"
    params = {
        "v": "2",
        "tid": "G-DEV",
        "cid": client_id,
        "en": "page_view",
        "dl": "https://shop.example/thanks?email=jane.doe%40example.com&utm_source=news&gclid=Cj0Kabc123",
        "dt": "Thanks",
        "gcs": "G111",
        "gcd": "13t3t3t3t5",  # Consent Mode v2, every type granted: advertising needs ad_user_data too
        "ep.note": '<img src=x onerror="window.__xss=1">',
    }
    query = urlencode(params, quote_via=quote)
    status, _ = request(clean, "GET", "/g/collect?" + query, headers={"User-Agent": USER_AGENT}, source_ip=CLIENT_IP)
    assert status == 204

    # Then the consent came from Consent Mode
    consent = page.locator("#detail #consent")
    expect(consent).to_contain_text("Google Consent Mode", timeout=TIMEOUT_MS)
    expect(consent).to_contain_text("analytics_storage: granted")
    # the URL is the cleaned one; the click id is set apart for advertising (Meta)
    stored = page.locator("#detail #stored")
    expect(stored).to_contain_text("utm_source=news")
    expect(page.locator('#detail section[data-dest="meta"] tr[data-field="context.clickIds.gclid"]')).to_have_attribute(
        "data-action", "sent"
    )
    expect(page.locator("#detail #anonymisation")).to_contain_text("gclid")
    # markup in a value is shown as text (in JSON, quotes escaped), never run
    expect(stored).to_contain_text('"note": "<img src=x onerror=\\"window.__xss=1\\">"')
    assert page.evaluate("window.__xss") is None
    assert_nothing_raw(clean, page, "jane.doe", client_id, CLIENT_IP)


@browser_test
def test_refused_request_shows_field_and_reason_only(clean: DevStack, page: Any) -> None:
    from playwright.sync_api import expect

    status, _ = send_hit(clean, {"type": "track", "userId": "jane.doe@example.com"})
    assert status == 400
    refused = page.locator("#detail #refused")
    expect(refused).to_contain_text("invalid_event", timeout=TIMEOUT_MS)
    expect(refused).to_contain_text("required for track events")
    assert_nothing_raw(clean, page, "jane.doe", CLIENT_IP)


# -- without a browser ------------------------------------------------------------------------------------
def test_hits_endpoint_previews_batches_and_clears(clean: DevStack) -> None:
    # A batch of two good events and one bad one: two hits, one rejected
    good, second = example(), example()
    batch = {"batch": [good, second, {"type": "track"}]}
    status, body = send_hit(clean, batch, path="/v1/batch")
    assert status == 200 and json.loads(body)["rejected"][0]["index"] == 2
    got = hits(clean)
    assert [(h["index"], h["messageId"], h["hits_in_request"], h["rejected_in_request"]) for h in got] == [
        (0, good["messageId"], 2, 1),
        (1, second["messageId"], 2, 1),
    ]
    assert all(not h.get("preview_mismatch") for h in got)
    # each destination's payload is the one ingest queued (the preview's, equal to the real one)
    assert eventually(lambda: len(captured(clean)["webhook"]) == 1)
    real = captured(clean)["webhook"][0]["batch"]
    assert [e["anonymousId"] for e in real] == [h["destinations"]["webhook"]["payload"]["anonymousId"] for h in got]
    assert request(clean, "DELETE", "/_dev/hits")[0] == 200
    assert hits(clean) == []


def test_a_different_hit_repeating_a_message_id_shows_as_a_duplicate(clean: DevStack) -> None:
    # Given a batch of two different events under one messageId
    first = example()
    second = {**example(), "messageId": first["messageId"], "event": "Another Event"}
    status, body = send_hit(clean, {"batch": [first, second]}, path="/v1/batch")
    # Then the answer counts it, and the view shows the second as sent nowhere, and why
    assert status == 200 and json.loads(body) == {"success": True, "duplicates": 1}
    got = hits(clean)
    assert [(h["index"], h["outcome"], h["duplicates_in_request"]) for h in got] == [
        (0, "queued", 1),
        (1, "duplicate_message_id", 1),
    ]
    skipped = [d for d in got[1]["destinations"].values() if d["status"] == "skipped"]
    assert skipped and all(d["reason"] == "duplicate_message_id" for d in skipped)
    assert "messageId" in skipped[0]["explanation"]


def test_page_is_served_with_a_strict_content_security_policy(clean: DevStack) -> None:
    assert clean.api is not None
    conn = http.client.HTTPConnection("127.0.0.1", clean.api.httpd.server_address[1], timeout=10)
    conn.request("GET", "/_dev/")
    response = conn.getresponse()
    html = response.read().decode()
    assert response.status == 200
    assert response.getheader("content-type") == "text/html; charset=utf-8"
    csp = response.getheader("content-security-policy") or ""
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe-inline" not in csp
    assert "fairtrack debug view" in html
    conn.close()
    # the other developer endpoints are unchanged
    assert request(clean, "GET", "/_dev/queues")[0] == 200
    assert request(clean, "GET", "/_dev/nope")[0] == 404
