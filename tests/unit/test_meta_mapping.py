"""Meta Conversions API mapping: canonical (policy-filtered) events in, exact request bodies out.

Given events as the forwarder hands them over (``Delivery`` items), when ``map_meta`` maps them,
then every event is in exactly one request body or dropped with a reason, bodies are byte-for-byte
the expected compact JSON, and nothing Meta would reject (which would fail the whole request)
reaches a body. Digests are written literally (computed with ``printf '%s' value | sha256sum``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairtrack.anonymise.userdata import meta_user_data
from fairtrack.destinations import Delivery, EventRef, Mapping
from fairtrack.destinations.meta_mapping import MAX_BODY_BYTES, STANDARD_EVENTS, map_meta
from fairtrack.hit import UserData

NOW = datetime(2026, 11, 25, 10, 5, tzinfo=UTC)
ADS = ["necessary", "analytics", "advertising"]

EM_JANE = "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"  # jane.doe@example.com
PH_UK = "35e206e5dec4c89b9e8b71b8c32724a5bb518483ac5a20c6617d738375b3b823"  # 442079460958
FN_ZOE = "2752b88686847fa5c86f47b94ce652b7b3f22a91c37617d451a4db9afa431450"  # zoë
LN_OBRIEN = "b4cb6cb33fe4b865868de825023a1e2790dc12ac01ecc8d7c5afe8254071c8ba"  # obrien
CT_NEWYORK = "350c754ba4d38897693aa077ef43072a859d23f613443133fecbbd90a3512ca5"  # newyork
GA4_EM = "3586de92bb3636d0885a12eff961429a32e4ebd764b96f50d85d016f9338d586"  # johnsmith@gmail.com
EXT_USER_9 = "14817f52178f6bc3d9bde29d8e163b179bd99de06cb908953ac31369377c759f"  # user-9
EXT_ANON_1 = "2e96105c29d2c92c48ffb367fa6e4b40db08207d649bcf83aa1cec30532a1e17"  # anon-1
T_1000 = 1795600800  # 2026-11-25T10:00:00Z (date -u -d ... +%s)
T_0930 = 1795599000  # 2026-11-25T09:30:00Z


def purchase() -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": "m-1",
        "timestamp": "2026-11-25T10:00:00.123Z",
        "receivedAt": "2026-11-25T10:00:01.000Z",
        "event": "Order Completed",
        "anonymousId": "anon-1",
        "userId": "user-9",
        "properties": {
            "revenue": 42.5,
            "currency": "eur",
            "order_id": "o-1",
            "products": [
                {"product_id": "p1", "sku": "s1", "name": "Mug", "price": 10, "quantity": 2, "category": "Kitchen"},
                {"sku": "s2", "price": "22.5"},
            ],
        },
        "context": {
            "page": {"url": "https://shop.example/thanks?x=1", "path": "/thanks", "title": "Thanks"},
            "ip": "203.0.113.0",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
            "clickIds": {"fbclid": "IwAR2xyz", "gclid": "g-1"},
            "fbp": "fb.1.1700000000000.1234567890",
            "locale": "en-GB",
        },
        "userData": {
            "meta": {"em": [EM_JANE], "ph": [PH_UK], "fn": [FN_ZOE]},
            "ga4": {"sha256_email_address": [GA4_EM]},
        },
    }


def minimal(message_id: str = "m-x", **changes: Any) -> dict[str, Any]:
    """A valid custom track event with just what Meta needs."""
    event: dict[str, Any] = {
        "type": "track",
        "messageId": message_id,
        "timestamp": "2026-11-25T10:00:00.000Z",
        "event": "Newsletter Subscribed",
        "anonymousId": "anon-1",
        "context": {"page": {"url": "https://shop.example/"}, "userAgent": "UA/1.0"},
    }
    event.update(changes)
    return event


def deliver(*events: Any, purposes: list[str] | None = None, message_id: str = "sqs-1") -> list[Delivery]:
    return [Delivery(message_id, "src-1", 3, [(list(purposes or ADS), e) for e in events])]


def with_click_ids(event: dict[str, Any], *, ip: str, fbc: str, fbclid: str, fbp: str) -> dict[str, Any]:
    """``event`` whose context also has an IP address, Meta's click cookies and a click id."""
    event["context"] = {**event["context"], "ip": ip, "fbc": fbc, "clickIds": {"fbclid": fbclid}, "fbp": fbp}
    return event


def run(*events: Any, **kwargs: Any) -> Mapping:
    return map_meta(deliver(*events), now=kwargs.pop("now", NOW), **kwargs)


def only_event(mapping: Mapping) -> dict[str, Any]:
    assert not mapping.dropped, mapping.dropped
    assert len(mapping.requests) == 1
    data: list[dict[str, Any]] = json.loads(mapping.requests[0].body)["data"]
    assert len(data) == 1
    return data[0]


def reasons(mapping: Mapping) -> list[str]:
    return [reason for _, reason in mapping.dropped]


# --- golden bodies --------------------------------------------------------------------------------


def test_golden_purchase() -> None:
    mapping = run(purchase())
    expected = (
        b'{"data":[{"event_name":"Purchase","event_time":1795600800,"event_id":"m-1","action_source":"website",'
        b'"event_source_url":"https://shop.example/thanks?x=1","user_data":{'
        b'"em":["86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"],'
        b'"ph":["35e206e5dec4c89b9e8b71b8c32724a5bb518483ac5a20c6617d738375b3b823"],'
        b'"fn":["2752b88686847fa5c86f47b94ce652b7b3f22a91c37617d451a4db9afa431450"],'
        b'"external_id":["14817f52178f6bc3d9bde29d8e163b179bd99de06cb908953ac31369377c759f"],'
        b'"client_ip_address":"203.0.113.0","client_user_agent":"Mozilla/5.0 (X11; Linux x86_64)",'
        b'"fbc":"fb.1.1795600800123.IwAR2xyz","fbp":"fb.1.1700000000000.1234567890"},'
        b'"custom_data":{"value":42.5,"currency":"EUR","order_id":"o-1","content_ids":["p1","s2"],'
        b'"contents":[{"id":"p1","quantity":2,"item_price":10.0},{"id":"s2","item_price":22.5}],'
        b'"content_type":"product","num_items":3}}]}'
    )
    assert mapping.requests[0].body == expected
    assert mapping.requests[0].events == (EventRef("sqs-1", "m-1"),)
    assert mapping.dropped == []
    assert mapping.adjustments == {}


def test_golden_page_view_with_ldu_test_code_and_utf8() -> None:
    page = {
        "type": "page",
        "messageId": "m-2",
        "timestamp": "2026-11-25T09:30:00.000Z",
        "name": "Home",
        "anonymousId": "anon-1",
        "context": {
            "page": {"url": "https://shop.example/grüße", "title": "Grüße"},
            "ip": "2001:db8::",
            "userAgent": "UA/1.0",
            "fbc": "fb.1.1795590000000.AbC",
        },
    }
    mapping = run(page, test_event_code="TEST123", limited_data_use=lambda event: True)
    expected = (
        '{"data":[{"event_name":"PageView","event_time":1795599000,"event_id":"m-2","action_source":"website",'
        '"event_source_url":"https://shop.example/grüße","user_data":{'
        '"external_id":["2e96105c29d2c92c48ffb367fa6e4b40db08207d649bcf83aa1cec30532a1e17"],'
        '"client_ip_address":"2001:db8::","client_user_agent":"UA/1.0","fbc":"fb.1.1795590000000.AbC"},'
        '"data_processing_options":["LDU"],"data_processing_options_country":0,"data_processing_options_state":0}],'
        '"test_event_code":"TEST123"}'
    ).encode()
    assert mapping.requests[0].body == expected
    assert mapping.adjustments == {"ldu": 1}


def test_golden_batch_keeps_order_and_records_drops() -> None:
    viewed = minimal(
        "m-3",
        event="Product Viewed",
        properties={"product_id": 507, "name": "Mug", "price": 9.99, "category": "Kitchen", "currency": "gbp"},
    )
    identify = {"type": "identify", "messageId": "m-4", "timestamp": "2026-11-25T10:00:00.000Z", "userId": "u"}
    items = [
        *deliver(minimal("m-1"), identify, message_id="sqs-1"),
        *deliver(viewed, message_id="sqs-2"),
    ]
    mapping = map_meta(items, now=NOW)
    expected = (
        b'{"data":['
        b'{"event_name":"Newsletter Subscribed","event_time":1795600800,"event_id":"m-1","action_source":"website",'
        b'"event_source_url":"https://shop.example/","user_data":{'
        b'"external_id":["2e96105c29d2c92c48ffb367fa6e4b40db08207d649bcf83aa1cec30532a1e17"],'
        b'"client_user_agent":"UA/1.0"}},'
        b'{"event_name":"ViewContent","event_time":1795600800,"event_id":"m-3","action_source":"website",'
        b'"event_source_url":"https://shop.example/","user_data":{'
        b'"external_id":["2e96105c29d2c92c48ffb367fa6e4b40db08207d649bcf83aa1cec30532a1e17"],'
        b'"client_user_agent":"UA/1.0"},"custom_data":{"currency":"GBP","content_ids":["507"],'
        b'"contents":[{"id":"507","item_price":9.99}],"content_type":"product","content_name":"Mug",'
        b'"content_category":"Kitchen"}}'
        b"]}"
    )
    assert [r.body for r in mapping.requests] == [expected]
    assert mapping.requests[0].events == (EventRef("sqs-1", "m-1"), EventRef("sqs-2", "m-3"))
    assert mapping.dropped == [(EventRef("sqs-1", "m-4"), "unsupported_type")]


def test_body_is_exactly_compact_json_of_the_request() -> None:
    mapping = run(purchase(), minimal("m-2"), test_event_code="T1")
    body = mapping.requests[0].body
    parsed = json.loads(body)
    assert body == json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()
    assert list(parsed) == ["data", "test_event_code"]
    assert b"access_token" not in body


def test_ga4_hashes_and_the_raw_ga4_block_never_reach_meta() -> None:
    body = run(purchase()).requests[0].body
    assert GA4_EM.encode() not in body
    assert b"sha256_email_address" not in body
    assert b"gclid" not in body and b"g-1" not in body


# --- event names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "meta_name"),
    [
        ("Order Completed", "Purchase"),
        ("Product Added", "AddToCart"),
        ("Product Viewed", "ViewContent"),
        ("Checkout Started", "InitiateCheckout"),
        ("Payment Info Entered", "AddPaymentInfo"),
        ("Products Searched", "Search"),
        ("Signed Up", "CompleteRegistration"),
        ("Product Added to Wishlist", "AddToWishlist"),
        ("Lead Generated", "Lead"),
        ("add_to_cart", "AddToCart"),
        ("  Signed Up  ", "CompleteRegistration"),
        ("Purchase", "Purchase"),  # a Meta standard name sent as such stays
        ("Video Played", "Video Played"),
        ("  Coupon Applied ", "Coupon Applied"),
    ],
)
def test_event_names(source: str, meta_name: str) -> None:
    props = {"revenue": 1, "currency": "USD"}
    assert only_event(run(minimal(event=source, properties=props)))["event_name"] == meta_name


def test_long_custom_names_are_cut_to_50_characters_and_counted() -> None:
    mapping = run(minimal(event="x" * 49 + " yz" + "z" * 20))
    assert only_event(mapping)["event_name"] == "x" * 49
    assert mapping.adjustments["truncated:event_name"] == 1
    assert len(only_event(run(minimal(event="y" * 50)))["event_name"]) == 50


# --- user_data ------------------------------------------------------------------------------------


def test_user_data_order_and_never_hashed_fields() -> None:
    user_data = {"meta": {"ct": [CT_NEWYORK], "ln": [LN_OBRIEN], "em": [EM_JANE], "xx": ["nope"]}}
    event = with_click_ids(
        minimal(userId="user-9", userData=user_data),
        ip="198.51.100.0",
        fbc="fb.1.1795590000000.given",
        fbclid="ignored-because-fbc-given",
        fbp="fb.2.1700000000000.42",
    )
    assert only_event(run(event))["user_data"] == {
        "em": [EM_JANE],
        "ln": [LN_OBRIEN],
        "ct": [CT_NEWYORK],
        "external_id": [EXT_USER_9],
        "client_ip_address": "198.51.100.0",
        "client_user_agent": "UA/1.0",
        "fbc": "fb.1.1795590000000.given",
        "fbp": "fb.2.1700000000000.42",
    }


def test_external_id_falls_back_to_anonymous_id() -> None:
    assert only_event(run(minimal()))["user_data"]["external_id"] == [EXT_ANON_1]
    assert only_event(run(minimal(userId="user-9")))["user_data"]["external_id"] == [EXT_USER_9]


def test_clear_values_in_user_data_meta_are_never_sent() -> None:
    event = minimal(userData={"meta": {"em": ["jane@example.com", EM_JANE.upper(), EM_JANE], "ph": "+442079460958"}})
    mapping = run(event)
    assert only_event(mapping)["user_data"]["em"] == [EM_JANE]
    assert "ph" not in only_event(mapping)["user_data"]
    body = mapping.requests[0].body
    assert b"jane@example.com" not in body and b"+442079460958" not in body
    assert mapping.adjustments == {"dropped_field:user_data.em": 1, "dropped_field:user_data.ph": 1}


def test_malformed_click_cookies_are_left_out_and_counted() -> None:
    event = with_click_ids(minimal(), ip="not-an-ip", fbc="garbage", fbclid="has space", fbp="fb.1.x.1")
    mapping = run(event)
    user_data = only_event(mapping)["user_data"]
    assert set(user_data) == {"external_id", "client_user_agent"}
    assert mapping.adjustments == {
        "dropped_field:client_ip_address": 1,
        "dropped_field:fbc": 1,
        "dropped_field:fbclid": 1,
        "dropped_field:fbp": 1,
    }


@pytest.mark.parametrize("fbp", ["fb.1.1700000000000.123.AQ", "fb.3.1700000000000.123", "fb.1..123", "FB.1.1.1"])
def test_fbp_must_be_a_well_formed_browser_id(fbp: str) -> None:
    event = minimal(context={"page": {"url": "https://a.example/"}, "userAgent": "UA", "fbp": fbp})
    mapping = run(event)
    assert "fbp" not in only_event(mapping)["user_data"]
    assert mapping.adjustments == {"dropped_field:fbp": 1}


def test_fbc_from_malformed_fbc_falls_back_to_fbclid() -> None:
    event = minimal(
        context={"page": {"url": "https://a.example/"}, "userAgent": "UA", "fbc": "x", "clickIds": {"fbclid": "Q1"}}
    )
    assert only_event(run(event))["user_data"]["fbc"] == "fb.1.1795600800000.Q1"


def test_ip_and_user_agent_only_when_the_policy_left_them() -> None:
    event = purchase()
    del event["context"]["ip"]
    user_data = only_event(run(event))["user_data"]
    assert "client_ip_address" not in user_data
    assert user_data["client_user_agent"] == "Mozilla/5.0 (X11; Linux x86_64)"


# --- custom_data ----------------------------------------------------------------------------------


def test_custom_data_value_fallbacks_and_well_formed_values_only() -> None:
    event = minimal(
        event="Checkout Started",
        properties={
            "revenue": "n/a",
            "total": "19.90",
            "currency": "euro",
            "order_id": True,
            "products": [{"product_id": "a", "quantity": "3"}, {"name": "no id"}, "junk", {"sku": "b", "quantity": 0}],
            "query": "",
        },
    )
    mapping = run(event)
    assert only_event(mapping)["custom_data"] == {
        "value": 19.9,
        "content_ids": ["a", "b"],
        "contents": [{"id": "a", "quantity": 3}, {"id": "b"}],
        "content_type": "product",
        "num_items": 4,
    }
    assert mapping.adjustments == {
        "dropped_field:properties.revenue": 1,
        "dropped_field:properties.currency": 1,
        "dropped_field:properties.order_id": 1,
        "dropped_field:properties.products[]": 2,
        "dropped_field:properties.query": 1,
    }


def test_custom_data_from_gtag_items_and_search() -> None:
    event = minimal(
        event="purchase",
        properties={
            "value": 30,
            "currency": "USD",
            "transaction_id": "T-9",
            "items": [{"item_id": "SKU_1", "price": 15, "quantity": 2.0}],
        },
    )
    assert only_event(run(event))["custom_data"] == {
        "value": 30.0,
        "currency": "USD",
        "order_id": "T-9",
        "content_ids": ["SKU_1"],
        "contents": [{"id": "SKU_1", "quantity": 2, "item_price": 15.0}],
        "content_type": "product",
        "num_items": 2,
    }
    searched = minimal(event="Products Searched", properties={"query": " blue mugs "})
    assert only_event(run(searched))["custom_data"] == {"search_string": "blue mugs"}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -5, True, "1e3", "12,50", None, [1], 10**400])
def test_unusable_amounts_are_never_sent(bad: Any) -> None:
    event = minimal(event="Lead Generated", properties={"value": bad, "currency": "EUR"})
    assert only_event(run(event))["custom_data"] == {"currency": "EUR"}


# --- Limited Data Use -----------------------------------------------------------------------------


def test_ldu_only_for_events_the_rule_selects() -> None:
    us = minimal(
        "m-us", context={"page": {"url": "https://a.example/"}, "userAgent": "UA", "location": {"country": "US"}}
    )
    fr = minimal(
        "m-fr", context={"page": {"url": "https://a.example/"}, "userAgent": "UA", "location": {"country": "FR"}}
    )
    mapping = run(us, fr, limited_data_use=lambda e: e["context"]["location"]["country"] == "US")
    first, second = json.loads(mapping.requests[0].body)["data"]
    assert first["data_processing_options"] == ["LDU"]
    assert first["data_processing_options_country"] == 0 and first["data_processing_options_state"] == 0
    assert not {"data_processing_options", "data_processing_options_country"} & set(second)
    assert mapping.adjustments == {"ldu": 1}


def test_no_ldu_rule_means_no_processing_options() -> None:
    assert b"data_processing_options" not in run(minimal()).requests[0].body


def test_a_failing_ldu_rule_fails_closed() -> None:
    def broken(event: dict[str, Any]) -> bool:
        raise KeyError("location")

    mapping = run(minimal(), limited_data_use=broken)
    assert only_event(mapping)["data_processing_options"] == ["LDU"]
    assert mapping.adjustments == {"ldu:callback_failed": 1, "ldu": 1}


# --- drop reasons ---------------------------------------------------------------------------------


def without(*path: str) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        target = event
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


def setting(value: Any, *path: str) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def strip_identifiers(event: dict[str, Any]) -> None:
    for key in ("anonymousId", "userId"):
        event.pop(key, None)
    event["userData"] = {"meta": {"fn": [FN_ZOE], "ln": [LN_OBRIEN], "ct": [CT_NEWYORK]}}
    for key in ("ip", "fbp", "clickIds"):
        event["context"].pop(key, None)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (setting(iso(NOW - timedelta(days=7, seconds=1)), "timestamp"), "too_old"),
        (setting(iso(NOW - timedelta(days=6, hours=23, minutes=56)), "timestamp"), "too_old"),  # inside the margin
        (setting(iso(NOW + timedelta(seconds=61)), "timestamp"), "in_future"),
        (setting("2027-01-01T00:00:00Z", "timestamp"), "in_future"),
        (without("event"), "missing_event_name"),
        (setting("   ", "event"), "missing_event_name"),
        (setting(7, "event"), "missing_event_name"),
        (setting("Bad\nName", "event"), "invalid_event_name"),
        (without("context", "page", "url"), "missing_event_source_url"),
        (without("context", "page"), "missing_event_source_url"),
        (setting("/thanks", "context", "page", "url"), "missing_event_source_url"),
        (setting("javascript:alert(1)", "context", "page", "url"), "missing_event_source_url"),
        (setting("https://", "context", "page", "url"), "missing_event_source_url"),
        (setting("https://a.example/x y", "context", "page", "url"), "missing_event_source_url"),
        (without("context", "userAgent"), "missing_client_user_agent"),
        (setting("  ", "context", "userAgent"), "missing_client_user_agent"),
        (strip_identifiers, "no_customer_information"),
        (setting("identify", "type"), "unsupported_type"),
        (setting("group", "type"), "unsupported_type"),
        (setting("alias", "type"), "unsupported_type"),
        (setting("screen", "type"), "unsupported_type"),
        (setting("click", "type"), "invalid_event"),
        (without("type"), "invalid_event"),
        (without("messageId"), "invalid_event"),
        (setting("", "messageId"), "invalid_event"),
        (without("timestamp"), "invalid_event"),
        (setting("yesterday", "timestamp"), "invalid_event"),
        (setting(1795600800, "timestamp"), "invalid_event"),
        (without("properties", "currency"), "missing_purchase_value"),
        (setting({"total": "free"}, "properties"), "missing_purchase_value"),
    ],
)
def test_drop_reasons(change: Callable[[dict[str, Any]], None], reason: str) -> None:
    event = purchase()
    change(event)
    mapping = run(event)
    assert mapping.requests == []
    assert mapping.dropped == [(EventRef("sqs-1", event.get("messageId") or ""), reason)]
    assert mapping.adjustments == {}  # nothing counted for events that are not sent


@pytest.mark.parametrize(
    "timestamp",
    [
        iso(NOW - timedelta(days=6, hours=23, minutes=54)),  # just outside the 5-minute margin
        iso(NOW + timedelta(seconds=59)),
        "2026-11-25T10:00:00",  # naive: read as UTC
        "2026-11-25T11:00:00+01:00",
    ],
)
def test_times_near_the_limits_are_sent(timestamp: str) -> None:
    assert only_event(run(minimal(timestamp=timestamp)))["event_id"] == "m-x"


def test_offset_timestamps_convert_to_unix_seconds() -> None:
    assert only_event(run(minimal(timestamp="2026-11-25T11:00:00+01:00")))["event_time"] == T_1000


def test_event_id_is_message_id_as_sent_up_to_256_characters() -> None:
    assert only_event(run(minimal("e" * 256)))["event_id"] == "e" * 256
    assert only_event(run(minimal(" m-1 ")))["event_id"] == " m-1 "  # never changed: the Pixel sent the same
    mapping = run(minimal("e" * 257))
    assert mapping.dropped == [(EventRef("sqs-1", "e" * 257), "invalid_event")]


def test_customer_information_rule() -> None:
    base = minimal()
    del base["anonymousId"]
    assert reasons(run(base)) == ["no_customer_information"]  # a user agent alone is not enough
    ip = copy.deepcopy(base)
    ip["context"]["ip"] = "203.0.113.0"
    assert set(only_event(run(ip))["user_data"]) == {"client_ip_address", "client_user_agent"}
    for key, value in (("fbp", "fb.1.1700000000000.1"), ("fbc", "fb.1.1700000000000.c")):
        cookie = copy.deepcopy(base)
        cookie["context"][key] = value
        assert only_event(run(cookie))["user_data"][key] == value
    hashed = copy.deepcopy(base)
    hashed["userData"] = {"meta": {"ph": [PH_UK]}}
    assert only_event(run(hashed))["user_data"]["ph"] == [PH_UK]


def test_purpose_not_granted() -> None:
    mapping = map_meta(deliver(minimal(), purposes=["necessary", "analytics"]), now=NOW)
    assert mapping.dropped == [(EventRef("sqs-1", "m-x"), "purpose_not_granted")]
    custom = map_meta(deliver(minimal(), purposes=["ads"]), now=NOW, advertising="ads")
    assert custom.dropped == [] and len(custom.requests) == 1


def test_odd_inputs_never_raise() -> None:
    odd: list[Any] = [None, "event", 5, [], {"type": "track"}, {"messageId": {"x": 1}, "type": "track"}]
    odd_context = minimal("m-odd", context="not a dict", properties=["not", "a", "dict"], userData=[1])
    items = [
        Delivery("sqs-1", "src", 1, [(ADS, e) for e in odd]),
        Delivery("sqs-2", "src", 1, [("not-a-list", minimal("m-a")), (ADS, odd_context)]),  # type: ignore[list-item]
        Delivery("sqs-3", "src", 1, [("only-one",)]),  # type: ignore[list-item]
        Delivery("sqs-4", "src", 1, None),  # type: ignore[arg-type]
    ]
    mapping = map_meta(items, now=NOW)
    assert mapping.requests == []
    assert reasons(mapping) == ["invalid_event"] * 6 + [
        "purpose_not_granted",
        "missing_event_source_url",
        "invalid_event",
    ]


def test_lone_surrogates_never_reach_a_body() -> None:
    event = minimal(event="Bad\ud800", properties={"name": "x\udfff"})
    assert reasons(run(event)) == ["invalid_event_name"]
    fine_name = minimal(properties={"name": "x\udfff", "category": "ok"})
    assert only_event(run(fine_name))["custom_data"] == {"content_category": "ok"}


# --- request limits -------------------------------------------------------------------------------


def test_1001_events_make_two_requests() -> None:
    events = [minimal(f"m-{i}") for i in range(1001)]
    mapping = run(*events)
    assert [len(json.loads(r.body)["data"]) for r in mapping.requests] == [1000, 1]
    assert [len(r.events) for r in mapping.requests] == [1000, 1]
    assert mapping.requests[1].events == (EventRef("sqs-1", "m-1000"),)
    assert [ref.event_id for r in mapping.requests for ref in r.events] == [f"m-{i}" for i in range(1001)]


def test_1000_events_make_one_request() -> None:
    assert len(run(*[minimal(f"m-{i}") for i in range(1000)]).requests) == 1


def big(message_id: str, products: int) -> dict[str, Any]:
    return minimal(
        message_id, properties={"products": [{"product_id": f"{i:06d}" + "x" * 500} for i in range(products)]}
    )


def test_bodies_stay_under_one_megabyte() -> None:
    mapping = run(big("m-1", 380), big("m-2", 380), big("m-3", 380), minimal("m-4"))
    sizes = [len(r.body) for r in mapping.requests]
    assert [[ref.event_id for ref in r.events] for r in mapping.requests] == [["m-1", "m-2"], ["m-3", "m-4"]]
    assert all(390_000 < size < MAX_BODY_BYTES for size in sizes)
    assert sizes[0] > 770_000  # two big events did share a request
    # and the first request was full: the next event would have taken it to the limit
    next_event = json.dumps(json.loads(mapping.requests[1].body)["data"][0], separators=(",", ":")).encode()
    assert sizes[0] + 1 + len(next_event) >= MAX_BODY_BYTES


def test_an_event_too_big_for_any_request_is_dropped() -> None:
    mapping = run(minimal("m-1"), big("m-2", 1000), minimal("m-3"))
    assert reasons(mapping) == ["too_large"]
    assert [ref.event_id for ref in mapping.requests[0].events] == ["m-1", "m-3"]


def test_test_event_code_is_in_every_request() -> None:
    mapping = run(*[minimal(f"m-{i}") for i in range(1001)], test_event_code="TEST42")
    assert [json.loads(r.body)["test_event_code"] for r in mapping.requests] == ["TEST42", "TEST42"]
    assert run(minimal(), test_event_code="").adjustments == {"dropped_field:test_event_code": 1}


def test_empty_input() -> None:
    assert map_meta([], now=NOW) == Mapping()


# --- properties -----------------------------------------------------------------------------------

EMAILS = st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,5})?@(example|gmail)\.(com|org)", fullmatch=True)
PHONES = st.from_regex(r"(\+|00)[1-9][0-9]{2}[ -]?[0-9]{3}[ -]?[0-9]{4}", fullmatch=True)
NAMES = st.sampled_from([*STANDARD_EVENTS, "Video Played", "", "  ", "x" * 80, None, 3])
LIKELY = st.sampled_from([True, True, True, False])  # most random events should be sendable


@st.composite
def random_event(draw: st.DrawFn, index: int) -> tuple[list[str], dict[str, Any], list[str]]:
    email = draw(EMAILS)
    phone = draw(PHONES)
    offset = draw(st.one_of(st.integers(-3600, 0), st.integers(min_value=-8 * 86400, max_value=120)))
    event: dict[str, Any] = {
        "type": draw(st.sampled_from(["track", "track", "track", "page", "identify", "bogus"])),
        "messageId": f"m-{index}",
        "timestamp": iso(NOW + timedelta(seconds=offset)),
        "event": draw(NAMES),
    }
    if draw(st.booleans()):
        event["userId"] = draw(st.sampled_from([email, "user-9"]))
    if draw(st.booleans()):
        event["anonymousId"] = "anon-1"
    context: dict[str, Any] = {}
    if draw(LIKELY):
        urls = ["https://a.example/p", "https://a.example/p?q=1", "nope"]
        context["page"] = {"url": draw(st.sampled_from(urls))}
    if draw(LIKELY):
        context["userAgent"] = "UA/1.0"
    if draw(st.booleans()):
        context["ip"] = draw(st.sampled_from(["203.0.113.0", "2001:db8::", "bad"]))
    if draw(st.booleans()):
        context["clickIds"] = {"fbclid": "IwAR"}
    event["context"] = context
    if draw(st.booleans()):
        event["userData"] = {"meta": meta_user_data(UserData(email=email, phone=phone, firstName="Zoë"))}
    if draw(st.booleans()):
        event["properties"] = draw(
            st.dictionaries(
                st.sampled_from(["revenue", "total", "value", "currency", "order_id", "products", "query", "name"]),
                st.one_of(st.none(), st.integers(-5, 10**6), st.floats(), st.text(max_size=8), st.lists(st.dictionaries(
                    st.sampled_from(["product_id", "sku", "price", "quantity"]),
                    st.one_of(st.integers(-3, 50), st.text(max_size=5), st.floats())), max_size=3)),
                max_size=6,
            )
        )  # fmt: skip
    purposes = draw(st.sampled_from([ADS, ADS, ADS, ["necessary"]]))
    return purposes, event, [email, phone]


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Delivery], list[str]]:
    count = draw(st.integers(min_value=0, max_value=20))
    drawn = [draw(random_event(i)) for i in range(count)]
    raws = [value for _, _, raw in drawn for value in raw]
    split = draw(st.integers(min_value=0, max_value=count))
    first = [(p, e) for p, e, _ in drawn[:split]]
    second = [(p, e) for p, e, _ in drawn[split:]]
    return [Delivery("sqs-a", "s", 1, first), Delivery("sqs-b", "s", 1, second)], raws


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(), st.sampled_from([None, "T1"]), st.booleans())
def test_property_every_event_accounted_once_in_order_no_raw_pii(
    drawn: tuple[list[Delivery], list[str]], code: str | None, ldu: bool
) -> None:
    items, raws = drawn
    snapshot = copy.deepcopy(items)
    mapping = map_meta(items, now=NOW, test_event_code=code, limited_data_use=lambda e: ldu)
    expected = [EventRef(d.message_id, e["messageId"]) for d in items for _, e in d.events]
    sent = [ref for request in mapping.requests for ref in request.events]
    dropped = [ref for ref, _ in mapping.dropped]
    assert sorted(sent + dropped, key=expected.index) == expected
    assert len(sent) + len(dropped) == len(expected)
    assert sent == [ref for ref in expected if ref in sent]  # order kept
    for request in mapping.requests:
        assert len(request.body) < MAX_BODY_BYTES
        body = json.loads(request.body)
        assert 1 <= len(body["data"]) <= 1000 and len(body["data"]) == len(request.events)
        assert [e["event_id"] for e in body["data"]] == [ref.event_id for ref in request.events]
        text = request.body.decode("utf-8")
        for raw in raws:
            assert raw not in text
    assert items == snapshot  # inputs are not changed
    again = map_meta(items, now=NOW, test_event_code=code, limited_data_use=lambda e: ldu)
    assert again == mapping  # deterministic


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(["type", "messageId", "timestamp", "event", "context", "properties", "userData", "userId"])


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.one_of(JSON, st.dictionaries(FIELDS, JSON)), max_size=10))
def test_property_arbitrary_values_never_raise(events: list[Any]) -> None:
    mapping = map_meta([Delivery("sqs-1", "s", 1, [(ADS, e) for e in events])], now=NOW)
    assert sum(len(r.events) for r in mapping.requests) + len(mapping.dropped) == len(events)
    for request in mapping.requests:
        json.loads(request.body)
