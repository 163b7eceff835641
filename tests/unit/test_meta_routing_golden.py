"""Golden Conversions API payloads for issue 18's Meta items 10, 11, 12 and 14, each fixture naming
the section of Meta's Conversions API documentation it follows:

- "Server Event Parameters" (event_id, action_source and its values, event_source_url,
  client_user_agent: website events require event_source_url and client_user_agent, other action
  sources only action_source);
- "fbp and fbc Parameters" (the _fbp/_fbc cookie values, sent unhashed; fbc built from fbclid only
  when there is no cookie);
- "Handling Duplicate Pixel and Conversions API Events" (the server event_id equals the Pixel's
  eventID, together with the event name);
- "App Data Parameters" (app events require app_data: advertiser_tracking_enabled,
  application_tracking_enabled, extinfo with its version i2/a2 and OS version).

The events go through the default policy first (what the forwarder hands the mapper), so consent
and catalogue are part of what is checked.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from fairtrack.destinations import Delivery
from fairtrack.destinations.meta_mapping import map_meta
from fairtrack.policy import Policy, conform, evaluate

ROOT = Path(__file__).resolve().parents[2]
POLICY = Policy.model_validate(yaml.safe_load((ROOT / "policies" / "default.yaml").read_text()))
NOW = datetime(2026, 11, 25, 10, 5, tzinfo=UTC)
T_1000 = 1795600800  # 2026-11-25T10:00:00Z
ADVERTISING = frozenset({"necessary", "advertising"})
BOTH = frozenset({"necessary", "analytics", "advertising"})
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15"
FBP = "fb.1.1596403881668.1116446470"  # "fbp and fbc Parameters", the _fbp example
FBC = "fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk"  # the _fbc example
ANON = "p-0123456789abcdef0123456789abcdef"


def hit(**context: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": "ajs-next-1795600800000-4f0c8e2a9b7d4e1f",
        "timestamp": "2026-11-25T10:00:00.000Z",
        "receivedAt": "2026-11-25T10:00:01.000Z",
        "event": "Product Added",
        "anonymousId": ANON,
        "properties": {"product_id": "p1", "price": 10, "event_id": "evt-7f3a"},
        "context": {"page": {"url": "https://shop.example/p/1"}, "userAgent": UA, **context},
    }


def sent(event: dict[str, Any], granted: frozenset[str], action_source: str = "website") -> tuple[Any, Any]:
    """The event through the policy (conform, then Meta's plan), then the mapper: (the one body's
    first event or None, the drop reasons)."""
    conformed, _ = conform(event, POLICY)
    minimal, _ = evaluate(conformed, granted, "meta", POLICY)
    if minimal is None:
        return None, ["skipped_by_policy"]
    delivery = Delivery("sqs-1", "web", 0, [(sorted(granted), minimal)], action_source=action_source)
    mapping = map_meta([delivery], now=NOW)
    body = json.loads(mapping.requests[0].body)["data"][0] if mapping.requests else None
    return body, [reason for _, reason in mapping.dropped]


# -- "fbp and fbc Parameters" ---------------------------------------------------------------------


def test_fbp_and_fbc_cookies_reach_meta_unhashed_under_advertising() -> None:
    """fbp and fbc Parameters: "always send _fbc and _fbp browser cookie values in the fbc and fbp
    event parameters"; not hashed; the cookie's fbc wins over one built from the URL's fbclid."""
    event = hit(fbp=FBP, fbc=FBC, clickIds={"fbclid": "IwAR-other"})
    body, dropped = sent(event, ADVERTISING)
    assert dropped == []
    assert body["user_data"]["fbp"] == FBP and body["user_data"]["fbc"] == FBC


def test_fbc_is_built_from_fbclid_only_without_the_cookie() -> None:
    """fbp and fbc Parameters, "fbclid URL query parameter": fb.1.<event time in ms>.<fbclid>."""
    body, _ = sent(hit(clickIds={"fbclid": "IwAR2xyz"}), ADVERTISING)
    assert body["user_data"]["fbc"] == f"fb.1.{T_1000}000.IwAR2xyz"
    assert "fbp" not in body["user_data"]


@pytest.mark.parametrize("bad", ["fb.1.123.456", "fb.7.1596403881668.1", "jane@example.com", "fb.1.1596403881668."])
def test_malformed_cookies_never_leave(bad: str) -> None:
    """A value that is not the cookie's format (meta_cookie) is dropped at ingest (format_mismatch)."""
    conformed, mismatches = conform(hit(fbp=bad, fbc=bad), POLICY)
    assert "fbp" not in conformed["context"] and "fbc" not in conformed["context"]
    assert set(mismatches) == {"context.fbp", "context.fbc"}


def test_cookies_stay_home_without_advertising_and_from_every_other_destination() -> None:
    conformed, _ = conform(hit(fbp=FBP, fbc=FBC), POLICY)
    assert evaluate(conformed, frozenset({"necessary", "analytics"}), "meta", POLICY)[0] is None
    for destination in ("ga4", "webhook", "lake"):
        minimal, _ = evaluate(conformed, BOTH, destination, POLICY)
        assert minimal is None or ("fbp" not in minimal.get("context", {}) and "fbc" not in minimal.get("context", {}))


# -- "Handling Duplicate Pixel and Conversions API Events" ----------------------------------------


def test_event_id_is_the_sites_event_id_the_pixel_sent_as_event_id() -> None:
    """Deduplication: fbq('track', 'AddToCart', {...}, {eventID: 'evt-7f3a'}) in the browser and the
    server event with event_id 'evt-7f3a' and the same event_name are one event for Meta."""
    body, _ = sent(hit(fbp=FBP), BOTH)
    assert (body["event_name"], body["event_id"]) == ("AddToCart", "evt-7f3a")
    # under advertising alone too: properties.event_id is catalogued for Meta under either purpose
    body, _ = sent(hit(fbp=FBP), ADVERTISING)
    assert (body["event_name"], body["event_id"]) == ("AddToCart", "evt-7f3a")


def test_gtag_ep_event_id_becomes_the_event_id() -> None:
    """A gtag hit's ep.event_id lands in properties.event_id (gtag adapter): the same rule."""
    event = hit(fbp=FBP)
    event["properties"] = {"event_id": "c0ffee-42"}
    event["messageId"] = "gtag-derived-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    body, _ = sent(event, BOTH)
    assert body["event_id"] == "c0ffee-42"


def test_without_an_event_id_the_message_id_is_the_event_id() -> None:
    """Segment's own Facebook Pixel integration passes the messageId as eventID: without
    properties.event_id the messageId is sent, exactly as received."""
    event = hit(fbp=FBP)
    event["properties"] = {"product_id": "p1"}
    body, _ = sent(event, BOTH)
    assert body["event_id"] == "ajs-next-1795600800000-4f0c8e2a9b7d4e1f"


def test_an_event_id_that_is_not_an_id_falls_back_to_the_message_id() -> None:
    event = hit(fbp=FBP)
    event["properties"] = {"event_id": "jane@example.com"}
    body, _ = sent(event, BOTH)
    assert body["event_id"] == "ajs-next-1795600800000-4f0c8e2a9b7d4e1f"


# -- "Server Event Parameters": action_source and what each requires -------------------------------


def test_website_event_golden() -> None:
    """Server Event Parameters: a website event carries action_source website, event_source_url
    and client_user_agent (all three required)."""
    body, _ = sent(hit(fbp=FBP), ADVERTISING)
    assert body == {
        "event_name": "AddToCart",
        "event_time": T_1000,
        "event_id": "evt-7f3a",
        "action_source": "website",
        "event_source_url": "https://shop.example/p/1",
        "user_data": {"client_user_agent": UA, "fbp": FBP},
    }


def test_website_events_need_a_url_and_a_user_agent() -> None:
    event = hit(fbp=FBP)
    del event["context"]["page"]
    assert sent(event, ADVERTISING)[1] == ["missing_event_source_url"]
    event = hit(fbp=FBP)
    del event["context"]["userAgent"]
    assert sent(event, ADVERTISING)[1] == ["missing_client_user_agent"]


@pytest.mark.parametrize(
    "action_source",
    ["email", "phone_call", "chat", "physical_store", "system_generated", "business_messaging", "other"],
)
def test_non_web_action_sources_need_neither_url_nor_user_agent(action_source: str) -> None:
    """Server Event Parameters: "non-web events require only action_source"."""
    event = hit()
    event["context"] = {}
    event["userData"] = {"meta": {"em": ["86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"]}}
    body, dropped = sent(event, ADVERTISING, action_source)
    assert dropped == []
    assert body == {
        "event_name": "AddToCart",
        "event_time": T_1000,
        "event_id": "evt-7f3a",
        "action_source": action_source,
        "user_data": {"em": ["86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"]},
    }


def test_app_event_golden() -> None:
    """App Data Parameters: app events require app_data; extinfo's version (i2 iOS, a2 Android)
    and OS version (places 0 and 4) are required, the other places empty strings."""
    event = hit(os={"name": "iOS", "version": "17.4.1"}, fbp=FBP)
    del event["context"]["page"], event["context"]["userAgent"]
    body, dropped = sent(event, ADVERTISING, "app")
    assert dropped == []
    assert body["action_source"] == "app" and "event_source_url" not in body
    assert body["app_data"] == {
        "advertiser_tracking_enabled": 1,
        "application_tracking_enabled": 1,
        "extinfo": ["i2", "", "", "", "17.4.1", "", "", "", "", "", "", "", "", "", "", ""],
    }


def test_app_event_without_os_is_dropped_with_a_reason() -> None:
    event = hit(fbp=FBP)
    assert sent(event, ADVERTISING, "app")[1] == ["missing_app_data"]


def test_an_unknown_action_source_is_website() -> None:
    body, _ = sent(hit(fbp=FBP), ADVERTISING, "spaceship")
    assert body["action_source"] == "website"


# -- item 14: advertising consent alone ------------------------------------------------------------


def test_advertising_alone_sends_name_and_url_but_no_analytics_field() -> None:
    """Before, every event was dropped (missing_event_name): the name and URL were analytics-only."""
    event = hit(fbp=FBP, ip="203.0.113.0")
    event["userId"] = "p-fedcba9876543210fedcba9876543210"
    body, dropped = sent(event, ADVERTISING)
    assert dropped == []
    assert body["event_name"] == "AddToCart" and body["event_source_url"] == "https://shop.example/p/1"
    assert "external_id" not in body["user_data"] and "client_ip_address" not in body["user_data"]
    assert "custom_data" not in body  # properties are analytics


# -- the per-source setting -------------------------------------------------------------------------


class _Table:
    """The few DynamoDB calls the sources CLI makes, over a dict."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool) -> dict[str, Any]:
        item = self.items.get(Key["id"]["S"])
        return {"Item": item} if item else {}

    def put_item(self, TableName: str, Item: dict[str, Any]) -> None:
        self.items[Item["id"]["S"]] = Item

    def delete_item(self, TableName: str, Key: dict[str, Any]) -> None:
        self.items.pop(Key["id"]["S"], None)


def test_action_source_is_a_source_setting_the_cli_sets_everywhere() -> None:
    from pydantic import ValidationError

    from fairtrack.stores.policy_table import Source, write_key_id
    from fairtrack_tools.ops import sources

    assert Source(source_id="web").action_source == "website"
    with pytest.raises(ValidationError):
        Source(source_id="web", action_source="spaceship")  # type: ignore[arg-type]
    table = _Table()
    key = sources.add_source(table, "t", Source(source_id="pos", measurement_ids=["G-ABC123"]))
    changed = sources.set_action_source(table, "t", "pos", "physical_store")
    assert changed.action_source == "physical_store"
    for item_id in ("source#pos", write_key_id(key), "measurement#G-ABC123"):
        assert json.loads(table.items[item_id]["value"]["S"])["action_source"] == "physical_store", item_id
    with pytest.raises(ValidationError):
        sources.set_action_source(table, "t", "pos", "spaceship")
