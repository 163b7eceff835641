"""GA4 Measurement Protocol mapping (``fairtrack.destinations.ga4_mapping``): canonical hits in,
exact request bodies out.

Golden tests write the expected bodies literally. The property test at the end checks, for random
batches (odd types anywhere, huge strings, many items), that every event ends in exactly one
request or one drop, and that every request stays within GA4's limits.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ga4_track_hits import track_hit as hit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairtrack.destinations import Delivery, EventRef, Mapping
from fairtrack.destinations.ga4_mapping import map_ga4

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NOW_MICROS = 1795608000000000  # 2026-11-25T12:00:00Z
ADS = ["necessary", "analytics", "advertising"]
ANALYTICS = ["necessary", "analytics"]
EMAIL_HASH = "b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514"
PHONE_HASH = "ec1a6f5c8a4a0c0a4e2e0b8c3b9a2f1d7e6c5b4a39281706f5e4d3c2b1a09f8e"
FIRST_HASH = "96d9632f363564cc3032521409cf22a852f2032eec099ed5967c0d000cec607a"
LAST_HASH = "799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f"
DENIED = '"consent":{"ad_user_data":"DENIED","ad_personalization":"DENIED"}'
GRANTED = '"consent":{"ad_user_data":"GRANTED","ad_personalization":"GRANTED"}'
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def run(*events: dict[str, Any], purposes: list[str] | None = None, **options: Any) -> Mapping:
    delivery = Delivery("sqs-1", "web", 3, [(list(purposes or ANALYTICS), event) for event in events])
    return map_ga4([delivery], now=NOW, **options)


def bodies(mapping: Mapping) -> list[str]:
    return [request.body.decode("utf-8") for request in mapping.requests]


def only_event(mapping: Mapping) -> dict[str, Any]:
    assert len(mapping.requests) == 1, mapping.dropped
    body = json.loads(mapping.requests[0].body)
    assert len(body["events"]) == 1
    event: dict[str, Any] = body["events"][0]
    return event


# --- golden bodies -------------------------------------------------------------------------------


def test_purchase_with_advertising_consent_golden() -> None:
    event = hit(
        event="Order Completed",
        userId="u-9c1d",
        properties={
            "order_id": "o-1001",
            "revenue": 25.5,
            "total": 30,
            "shipping": 4.5,
            "currency": "eur",
            "coupon": "WINTER",
            "products": [
                {
                    "product_id": "sku-1",
                    "sku": "ignored-when-product_id",
                    "name": "Mug",
                    "price": 12.75,
                    "quantity": 2,
                    "category": "Kitchen",
                    "brand": "Acme",
                    "variant": "red",
                    "image_url": "https://cdn.example/mug.png",
                }
            ],
            "gift": True,
            "note": None,
            "meta": {"a": 1},
        },
        context={
            "page": {
                "url": "https://shop.example/checkout?step=3",
                "path": "/checkout",
                "title": "Checkout",
                "referrer": "https://shop.example/cart",
            },
            "session": {"id": "1795600000", "number": 3, "engagementTimeMs": 5400},
            "campaign": {"name": "winter", "source": "newsletter", "medium": "email", "id": "c-42"},
            "traits": {"plan": "pro", "loyalty tier": "gold"},
            "locale": "de-DE",
            "ip": "203.0.113.0",
        },
        userData={
            "ga4": {
                "sha256_email_address": [EMAIL_HASH],
                "sha256_phone_number": [PHONE_HASH],
                "address": [{"sha256_first_name": FIRST_HASH, "sha256_last_name": LAST_HASH}],
            },
            "meta": {"em": EMAIL_HASH},
        },
    )
    mapping = run(event, purposes=ADS)
    assert bodies(mapping) == [
        '{"client_id":"p-3f2a","user_id":"u-9c1d",' + GRANTED + ","
        '"user_properties":{"plan":{"value":"pro"},"loyalty_tier":{"value":"gold"}},'
        '"user_data":{"sha256_email_address":["' + EMAIL_HASH + '"],"sha256_phone_number":["' + PHONE_HASH + '"],'
        '"address":[{"sha256_first_name":"' + FIRST_HASH + '","sha256_last_name":"' + LAST_HASH + '"}]},'
        '"events":[{"name":"purchase","params":{'
        '"page_location":"https://shop.example/checkout?step=3","page_referrer":"https://shop.example/cart",'
        '"page_title":"Checkout","session_id":"1795600000","engagement_time_msec":5400,'
        '"campaign":"winter","source":"newsletter","medium":"email","campaign_id":"c-42",'
        '"value":25.5,"currency":"EUR","transaction_id":"o-1001",'
        '"items":[{"item_id":"sku-1","item_name":"Mug","item_brand":"Acme","item_category":"Kitchen",'
        '"item_variant":"red","price":12.75,"quantity":2,"image_url":"https://cdn.example/mug.png"}],'
        '"total":30,"shipping":4.5,"coupon":"WINTER","gift":"true"},'
        '"timestamp_micros":1795600800123000}]}'
    ]
    assert mapping.requests[0].events == (EventRef("sqs-1", "e-1"),)
    assert mapping.dropped == []
    assert mapping.adjustments == Counter({"dropped_param:null": 1, "dropped_param:not_scalar": 1})
    assert b"api_secret" not in mapping.requests[0].body
    assert b"measurement_id" not in mapping.requests[0].body


@pytest.mark.parametrize(
    ("event", "expected", "adjustments"),
    [
        pytest.param(
            hit(
                type="page",
                messageId="e-2",
                timestamp="2026-11-25T11:59:00.000Z",
                event=None,
                name="Home",
                anonymousId="p-77",
                properties={
                    "url": "https://ex.org/?q=1",
                    "path": "/",
                    "title": "Home page",
                    "referrer": "",
                    "search": "?q=1",
                    "section": "news",
                },
                context={"page": {"path": "/"}},
                userData={"ga4": {"sha256_email_address": [EMAIL_HASH]}},
            ),
            '{"client_id":"p-77",' + DENIED + ',"events":[{"name":"page_view","params":{'
            '"page_location":"https://ex.org/?q=1","page_title":"Home page","engagement_time_msec":1,'
            '"search":"?q=1","section":"news"},"timestamp_micros":1795607940000000}]}',
            {"dropped_user_data:no_advertising_consent": 1},
            id="page view uses segment page properties once and leaves user data out",
        ),
        pytest.param(
            hit(type="page", event=None, context={"page": {"path": "/pricing", "title": "Pricing"}}),
            '{"client_id":"p-3f2a",' + DENIED + ',"events":[{"name":"page_view","params":{'
            '"page_title":"Pricing","page_path":"/pricing","engagement_time_msec":1},'
            '"timestamp_micros":1795600800123000}]}',
            {},
            id="page with only a path sends page_path",
        ),
        pytest.param(
            hit(
                type="screen",
                messageId="e-3",
                timestamp="2026-11-25T11:00:00Z",
                event=None,
                name="Settings",
                anonymousId="p-9",
                properties={"tab": "privacy", "count": 3, "ratio": 0.5},
                context={"session": {"id": 1795600000, "engagementTimeMs": 0}},
            ),
            '{"client_id":"p-9",' + DENIED + ',"events":[{"name":"screen_view","params":{'
            '"screen_name":"Settings","session_id":"1795600000","engagement_time_msec":1,'
            '"tab":"privacy","count":3,"ratio":0.5},"timestamp_micros":1795604400000000}]}',
            {},
            id="screen view",
        ),
        pytest.param(
            hit(
                event="Product Added",
                properties={
                    "cart_id": "c-1",
                    "product_id": 507,
                    "sku": "G-32",
                    "name": "Monopoly",
                    "price": "18.99",
                    "quantity": "1",
                    "currency": "usd",
                    "position": 3,
                },
            ),
            '{"client_id":"p-3f2a",' + DENIED + ',"events":[{"name":"add_to_cart","params":{'
            '"engagement_time_msec":1,"currency":"USD",'
            '"items":[{"item_id":"507","item_name":"Monopoly","index":3,"price":18.99,"quantity":1}],'
            '"cart_id":"c-1"},"timestamp_micros":1795600800123000}]}',
            {},
            id="single product event builds its item from top-level properties",
        ),
    ],
)
def test_one_event_golden(event: dict[str, Any], expected: str, adjustments: dict[str, int]) -> None:
    mapping = run(event)
    assert bodies(mapping) == [expected]
    assert mapping.adjustments == Counter(adjustments)


def test_spec_properties_get_their_ga4_names() -> None:
    search = only_event(run(hit(event="Products Searched", properties={"query": "blue mug"})))
    assert search["name"] == "search"
    assert search["params"] == {"engagement_time_msec": 1, "search_term": "blue mug"}
    promo = only_event(
        run(hit(event="Promotion Clicked", properties={"promotion_id": "p1", "creative": "banner", "name": "Sale"}))
    )
    assert promo["name"] == "select_promotion"
    assert promo["params"] == {
        "engagement_time_msec": 1,
        "promotion_id": "p1",
        "creative_name": "banner",
        "promotion_name": "Sale",
    }


def test_value_revenue_and_total_only_mean_value_on_ecommerce_events() -> None:
    custom = only_event(run(hit(event="Report Generated", properties={"total": 37, "order_id": "x"})))
    assert custom["params"] == {"engagement_time_msec": 1, "total": 37, "order_id": "x"}
    refund = only_event(run(hit(event="Order Refunded", properties={"total": 37, "order_id": "x"})))
    assert refund["name"] == "refund"
    assert refund["params"] == {"engagement_time_msec": 1, "value": 37, "transaction_id": "x"}


# --- batching ------------------------------------------------------------------------------------

HEAD = '{"client_id":"p-3f2a",' + DENIED + ',"events":['
CLICK = '{"name":"button_clicked","params":{"engagement_time_msec":1,"n":%d},"timestamp_micros":%d}'


def test_sixty_events_of_one_client_make_three_requests_of_25_25_and_10() -> None:
    events = [
        hit(messageId=f"e-{i:02d}", timestamp=f"2026-11-25T10:00:{i:02d}.000Z", properties={"n": i}) for i in range(60)
    ]
    mapping = run(*events)
    expected = [
        HEAD + ",".join(CLICK % (i, 1795600800000000 + i * 1_000_000) for i in chunk) + "]}"
        for chunk in (range(25), range(25, 50), range(50, 60))
    ]
    assert bodies(mapping) == expected
    assert [len(r.events) for r in mapping.requests] == [25, 25, 10]
    assert [ref.event_id for r in mapping.requests for ref in r.events] == [f"e-{i:02d}" for i in range(60)]
    assert mapping.dropped == []


def test_request_level_fields_split_groups_in_order_of_first_appearance() -> None:
    a = hit(messageId="a", anonymousId="p-1")
    b = hit(messageId="b", anonymousId="p-2")
    c = hit(messageId="c", anonymousId="p-1")
    d = hit(messageId="d", anonymousId="p-1", userId="u-1")
    e = hit(messageId="e", anonymousId="p-1", context={"traits": {"plan": "pro"}})
    delivery = Delivery(
        "sqs-1",
        "web",
        3,
        [(ADS, a), (ANALYTICS, b), (ADS, c), (ANALYTICS, {**a, "messageId": "a2"}), (ADS, d), (ADS, e)],
    )
    mapping = map_ga4([delivery, Delivery("sqs-2", "web", 3, [(ADS, {**a, "messageId": "a3"})])], now=NOW)
    assert [[(ref.message_id, ref.event_id) for ref in r.events] for r in mapping.requests] == [
        [("sqs-1", "a"), ("sqs-1", "c"), ("sqs-2", "a3")],
        [("sqs-1", "b")],
        [("sqs-1", "a2")],
        [("sqs-1", "d")],
        [("sqs-1", "e")],
    ]
    heads = [body.split(',"events":[')[0] for body in bodies(mapping)]
    assert heads == [
        '{"client_id":"p-1",' + GRANTED,
        '{"client_id":"p-2",' + DENIED,
        '{"client_id":"p-1",' + DENIED,
        '{"client_id":"p-1","user_id":"u-1",' + GRANTED,
        '{"client_id":"p-1",' + GRANTED + ',"user_properties":{"plan":{"value":"pro"}}',
    ]


def _big_purchase(i: int) -> dict[str, Any]:
    products = [{"product_id": f"sku-{j:03d}", "name": "N" * 90} for j in range(60)]
    return hit(messageId=f"big-{i:02d}", event="Order Completed", properties={"products": products})


def test_bodies_are_split_to_stay_under_130000_bytes() -> None:
    items = ",".join(f'{{"item_id":"sku-{j:03d}","item_name":"{"N" * 90}"}}' for j in range(60))
    event = (
        '{"name":"purchase","params":{"engagement_time_msec":1,"items":[' + items + "]},"
        '"timestamp_micros":1795600800123000}'
    )
    per_request = max(n for n in range(1, 26) if len(HEAD) + n * len(event) + (n - 1) + 2 < 130_000)
    assert per_request < 25  # the byte limit, not the event count, cuts here
    mapping = run(*(_big_purchase(i) for i in range(40)))
    sizes = [per_request] * (40 // per_request) + ([40 % per_request] if 40 % per_request else [])
    assert [len(r.events) for r in mapping.requests] == sizes
    assert bodies(mapping) == [HEAD + ",".join([event] * n) + "]}" for n in sizes]
    assert all(len(r.body) < 130_000 for r in mapping.requests)
    # one more event would not have fitted in the first request
    assert len(mapping.requests[0].body) + 1 + len(event) >= 130_000


def test_an_event_too_large_for_any_request_is_dropped_not_cut() -> None:
    long = "x" * 100
    product = {field: long for field in ("product_id", "name", "brand", "category", "variant", "coupon")}
    product |= {f"item_category{n}": long for n in range(2, 6)} | {"affiliation": long, "item_list_id": long}
    huge = hit(messageId="huge", event="Order Completed", properties={"products": [product] * 200, "t": "y" * 150})
    small = hit(messageId="small", properties={"label": "z" * 101})
    mapping = run(huge, small)
    assert mapping.dropped == [(EventRef("sqs-1", "huge"), "too_large")]
    assert [r.events for r in mapping.requests] == [(EventRef("sqs-1", "small"),)]
    assert mapping.adjustments == Counter({"truncated:label": 1})  # nothing counted for the dropped one


# --- names and limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Order Completed", "purchase"),
        ("order_completed", "purchase"),
        ("  ORDER   completed ", "purchase"),
        ("Product Added", "add_to_cart"),
        ("Product Removed", "remove_from_cart"),
        ("Product Viewed", "view_item"),
        ("Product List Viewed", "view_item_list"),
        ("Checkout Started", "begin_checkout"),
        ("Payment Info Entered", "add_payment_info"),
        ("Products Searched", "search"),
        ("Signed Up", "sign_up"),
        ("Signed In", "login"),
        ("Order Refunded", "refund"),
        ("Promotion Viewed", "view_promotion"),
        ("Promotion Clicked", "select_promotion"),
        ("Product Clicked", "select_item"),
        ("Product Added to Wishlist", "add_to_wishlist"),
        ("Cart Viewed", "view_cart"),
        ("purchase", "purchase"),
        ("Video Played!", "video_played"),
        ("--Newsletter::Opt-in--", "newsletter_opt_in"),
        ("Köp genomfört", "kop_genomfort"),
        ("Invalid Event Name", "invalid_event_name"),  # a name, not a drop reason
        ("x" + "y" * 60, "x" + "y" * 39),
        ("a" * 39 + " b", "a" * 39),
    ],
)
def test_event_names(name: str, expected: str) -> None:
    assert only_event(run(hit(event=name)))["name"] == expected


def test_a_cut_event_name_is_counted() -> None:
    mapping = run(hit(event="A" * 50))
    assert only_event(mapping)["name"] == "a" * 40
    assert mapping.adjustments == Counter({"truncated:event_name": 1})


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("session_start", "reserved_event_name"),
        ("first_visit", "reserved_event_name"),
        ("User Engagement", "reserved_event_name"),
        ("app_remove", "reserved_event_name"),
        ("error", "reserved_event_name"),
        ("in_app_purchase", "reserved_event_name"),
        ("notification_open", "reserved_event_name"),
        ("os_update", "reserved_event_name"),
        ("notification_dismiss", "reserved_event_name"),
        ("ad_activeview", "reserved_event_name"),
        ("session_start_with_rollout", "reserved_event_name"),
        ("Ad Click", "reserved_event_name"),
        ("firebase_campaign", "reserved_event_name"),
        ("Google Thing", "reserved_event_name"),
        ("ga_custom", "reserved_event_name"),
        ("", "invalid_event_name"),
        ("!!!", "invalid_event_name"),
        ("404 page", "invalid_event_name"),
        ("点击", "invalid_event_name"),
        (42, "invalid_event_name"),
        (None, "invalid_event_name"),
    ],
)
def test_reserved_and_invalid_event_names_are_dropped(name: Any, reason: str) -> None:
    mapping = run(hit(event=name) if name is not None else {**hit(), "event": None})
    assert mapping.requests == []
    assert mapping.dropped == [(EventRef("sqs-1", "e-1"), reason)]


def test_truncations_are_counted_per_parameter() -> None:
    event = hit(
        event="Long Values",
        properties={"description": "d" * 150, "p" * 45: "v", "short": "s" * 100},
        context={
            "page": {
                "url": "https://ex.org/" + "a" * 1100,
                "referrer": "https://ref.org/" + "b" * 500,
                "title": "T" * 350,
            },
            "campaign": {"name": "c" * 120},
            "traits": {"favourite programming language": "x" * 40},
        },
    )
    mapping = run(event)
    assert bodies(mapping) == [
        '{"client_id":"p-3f2a",' + DENIED + ","
        '"user_properties":{"favourite_programming_la":{"value":"' + "x" * 36 + '"}},'
        '"events":[{"name":"long_values","params":{'
        '"page_location":"https://ex.org/' + "a" * 985 + '",'
        '"page_referrer":"https://ref.org/' + "b" * 404 + '",'
        '"page_title":"' + "T" * 300 + '","engagement_time_msec":1,"campaign":"' + "c" * 100 + '",'
        '"description":"' + "d" * 100 + '","' + "p" * 40 + '":"v","short":"' + "s" * 100 + '"},'
        '"timestamp_micros":1795600800123000}]}'
    ]
    assert mapping.adjustments == Counter(
        {
            "truncated:page_location": 1,
            "truncated:page_referrer": 1,
            "truncated:page_title": 1,
            "truncated:campaign": 1,
            "truncated:description": 1,
            "truncated_name:param": 1,
            "truncated_name:user_property": 1,
            "truncated:user_properties.favourite_programming_la": 1,
        }
    )


def test_at_most_25_params_own_params_first() -> None:
    properties = {f"p{i:02d}": i for i in range(30)}
    event = hit(properties=properties, context={"session": {"id": "s1", "engagementTimeMs": 10}})
    mapping = run(event)
    params = only_event(mapping)["params"]
    assert list(params) == ["session_id", "engagement_time_msec"] + [f"p{i:02d}" for i in range(23)]
    assert mapping.adjustments == Counter({"dropped_param:over_25": 7})


def test_reserved_duplicate_and_invalid_param_names_are_dropped() -> None:
    properties = {
        "google_x": 1,
        "ga_session": 2,
        "firebase_conversion": 3,
        "Firebase Thing": 4,
        "Plan Type": "a",
        "plan_type": "b",
        "engagement_time_msec": 99,
        "1st": 5,
        "!!": 6,
        "ok": 7,
    }
    mapping = run(hit(properties=properties))
    assert only_event(mapping)["params"] == {"engagement_time_msec": 1, "plan_type": "a", "ok": 7}
    assert mapping.adjustments == Counter(
        {"dropped_param:reserved_name": 4, "dropped_param:duplicate_name": 2, "dropped_param:invalid_name": 2}
    )


def test_user_properties_limits_and_reserved_names() -> None:
    traits: dict[str, Any] = {f"t{i:02d}": i for i in range(27)}
    traits |= {"user_id": "x", "first_open_time": 1, "google_ads": "y", "nested": {"a": 1}, "vip": False}
    mapping = run(hit(context={"traits": traits}))
    body = json.loads(mapping.requests[0].body)
    assert list(body["user_properties"]) == [f"t{i:02d}" for i in range(25)]
    assert body["user_properties"]["t03"] == {"value": 3}
    assert mapping.adjustments == Counter(
        {
            "dropped_user_property:over_25": 3,  # t25, t26 and vip
            "dropped_user_property:reserved_name": 3,
            "dropped_user_property:not_scalar": 1,
        }
    )


def test_scalar_values_numbers_and_currency() -> None:
    properties = {
        "flag": False,
        "count": 3,
        "ratio": 0.25,
        "nan": float("nan"),
        "inf": float("-inf"),
        "list": [1, 2],
        "value": "19.90",
        "currency": "euro",
    }
    mapping = run(hit(properties=properties))
    assert only_event(mapping)["params"] == {
        "engagement_time_msec": 1,
        "value": 19.9,
        "flag": "false",
        "count": 3,
        "ratio": 0.25,
    }
    assert mapping.adjustments == Counter(
        {
            "dropped_param:not_finite": 2,
            "dropped_param:not_scalar": 1,
            "dropped_param:invalid_currency": 1,
            "revenue_without_currency:invalid_currency": 1,
        }
    )
    assert b"NaN" not in mapping.requests[0].body and b"Infinity" not in mapping.requests[0].body


def test_a_value_that_is_not_a_number_is_left_out() -> None:
    mapping = run(hit(event="Order Completed", properties={"revenue": "lots", "currency": "EUR"}))
    assert only_event(mapping)["params"] == {"engagement_time_msec": 1, "currency": "EUR"}
    assert mapping.adjustments == Counter({"dropped_param:invalid_value": 1})


def test_items_keep_ga4_fields_their_custom_parameters_and_at_most_200() -> None:
    products: list[Any] = [{"product_id": f"s{i}", "price": i, "colour": "red"} for i in range(250)]
    products[1:1] = [{"price": 3}, "not an item", {"sku": "q", "quantity": 1.5, "price": "cheap"}]
    mapping = run(hit(event="Checkout Started", properties={"products": products}))
    items = only_event(mapping)["params"]["items"]
    assert len(items) == 200
    assert items[:3] == [
        {"item_id": "s0", "price": 0, "colour": "red"},
        {"item_id": "q"},
        {"item_id": "s1", "price": 1, "colour": "red"},
    ]
    assert items[-1] == {"item_id": "s198", "price": 198, "colour": "red"}
    assert mapping.adjustments == Counter(
        {
            "dropped_item:over_200": 51,
            "dropped_item:no_id": 1,
            "dropped_item:invalid": 1,
            "dropped_item_param:invalid": 2,
        }
    )


# --- consent and user data -----------------------------------------------------------------------


def test_consent_and_user_data_follow_the_advertising_purpose() -> None:
    user_data = {
        "ga4": {
            "sha256_email_address": [EMAIL_HASH.upper(), EMAIL_HASH, "jane@example.com"],
            "sha256_phone_number": PHONE_HASH,
            "address": [{"sha256_first_name": FIRST_HASH, "city": "Berlin", "sha256_last_name": "Doe", "x": 1}],
            "email": "jane@example.com",
        }
    }
    granted = hit(messageId="g", userData=user_data)
    denied = hit(messageId="d", userData=user_data)
    delivery = Delivery("sqs-1", "web", 3, [(ADS, granted), (ANALYTICS, denied)])
    mapping = map_ga4([delivery], now=NOW)
    assert [body.split(',"events":[')[0] for body in bodies(mapping)] == [
        '{"client_id":"p-3f2a",' + GRANTED + ',"user_data":{"sha256_email_address":["' + EMAIL_HASH + '"],'
        '"sha256_phone_number":["' + PHONE_HASH + '"],'
        '"address":[{"sha256_first_name":"' + FIRST_HASH + '","city":"Berlin"}]}',
        '{"client_id":"p-3f2a",' + DENIED,
    ]
    assert b"jane" not in b"".join(r.body for r in mapping.requests)
    assert mapping.adjustments == Counter(
        {
            "dropped_user_data:invalid_hash": 2,
            "dropped_user_data:unknown_field": 2,
            "dropped_user_data:no_advertising_consent": 1,
        }
    )


def test_the_advertising_purpose_name_is_configurable() -> None:
    event = hit(userData={"ga4": {"sha256_email_address": [EMAIL_HASH]}})
    mapping = run(event, purposes=["ads"], purposes_granted_ads="ads")
    assert bodies(mapping)[0].startswith('{"client_id":"p-3f2a",' + GRANTED + ',"user_data":')
    other = run(event, purposes=["advertising"], purposes_granted_ads="ads")
    assert bodies(other)[0].startswith('{"client_id":"p-3f2a",' + DENIED + ',"events":')


# --- time ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "outcome"),
    [
        ("2026-11-22T12:00:00.000Z", 1795348800000000),  # exactly 72 hours
        ("2026-11-22T11:59:59.999Z", "too_old"),
        ("2026-11-25T12:15:00.000Z", NOW_MICROS),  # 15 minutes ahead: sent as now
        ("2026-11-25T12:15:00.001Z", "in_future"),
        ("2026-11-25T13:00:00+01:00", NOW_MICROS),
        ("2026-11-25T11:00:00", 1795604400000000),  # naive: UTC
        ("yesterday", "invalid_timestamp"),
        (1795604400, "invalid_timestamp"),
    ],
)
def test_time_window(timestamp: Any, outcome: int | str) -> None:
    mapping = run(hit(timestamp=timestamp))
    if isinstance(outcome, str):
        assert mapping.requests == []
        assert mapping.dropped == [(EventRef("sqs-1", "e-1"), outcome)]
    else:
        assert only_event(mapping)["timestamp_micros"] == outcome


def test_clamped_future_timestamp_is_counted() -> None:
    assert run(hit(timestamp="2026-11-25T12:10:00Z")).adjustments == Counter({"clamped:timestamp": 1})


def test_received_at_stands_in_for_a_missing_timestamp() -> None:
    event = hit()
    del event["timestamp"]
    mapping = run(event)
    assert only_event(mapping)["timestamp_micros"] == 1795600801000000
    assert mapping.adjustments == Counter({"timestamp:from_receivedAt": 1})
    del event["receivedAt"]
    assert run(event).dropped == [(EventRef("sqs-1", "e-1"), "missing_timestamp")]


# --- drops and odd input -------------------------------------------------------------------------


def test_drop_reasons() -> None:
    no_client = hit(messageId="no-client")
    del no_client["anonymousId"]
    no_type = hit(messageId="no-type")
    del no_type["type"]
    no_id = hit()
    del no_id["messageId"]
    events: list[Any] = [
        hit(messageId="ok"),
        hit(messageId="identify", type="identify", traits={"plan": "pro"}),
        hit(messageId="group", type="group"),
        hit(messageId="alias", type="alias"),
        hit(messageId="bogus", type="bogus"),
        no_type,
        no_client,
        hit(messageId="blank-client", anonymousId=" "),
        hit(messageId="int-client", anonymousId=7),
        no_id,
        "not an event",
        hit(messageId="ok"),
    ]
    delivery = Delivery("sqs-1", "web", 3, [(ANALYTICS, event) for event in events])
    mapping = map_ga4([delivery, Delivery("sqs-2", "web", 3, [(ANALYTICS, hit(messageId="ok"))])], now=NOW)
    assert [r.events for r in mapping.requests] == [(EventRef("sqs-1", "ok"), EventRef("sqs-1", "group"))]
    assert mapping.dropped == [
        (EventRef("sqs-1", "identify"), "unsupported_type"),
        (EventRef("sqs-1", "alias"), "unsupported_type"),
        (EventRef("sqs-1", "bogus"), "unsupported_type"),
        (EventRef("sqs-1", "no-type"), "invalid_event"),
        (EventRef("sqs-1", "no-client"), "missing_client_id"),
        (EventRef("sqs-1", "blank-client"), "missing_client_id"),
        (EventRef("sqs-1", "int-client"), "missing_client_id"),
        (EventRef("sqs-1", ""), "invalid_event"),
        (EventRef("sqs-1", ""), "invalid_event"),
        (EventRef("sqs-1", "ok"), "duplicate"),
        (EventRef("sqs-2", "ok"), "duplicate"),
    ]


def test_wrong_types_anywhere_drop_the_field_not_the_event() -> None:
    event = hit(
        userId=42,
        properties=[1, 2],
        context={
            "page": "https://ex.org",
            "session": {"id": {"a": 1}, "engagementTimeMs": "soon"},
            "campaign": {"source": ["x"], "medium": "cpc"},
            "traits": ["vip"],
        },
        userData="hashed?",
    )
    mapping = run(event, purposes=ADS)
    assert bodies(mapping) == [
        '{"client_id":"p-3f2a",' + GRANTED + ',"events":[{"name":"button_clicked","params":{'
        '"engagement_time_msec":1,"medium":"cpc"},"timestamp_micros":1795600800123000}]}'
    ]
    assert mapping.adjustments == Counter(
        {
            "dropped_field:userId": 1,
            "dropped_field:properties": 1,
            "dropped_field:context.page": 1,
            "dropped_field:context.session.id": 1,
            "dropped_field:context.session.engagementTimeMs": 1,
            "dropped_field:context.campaign.source": 1,
            "dropped_field:context.traits": 1,
            "dropped_field:userData": 1,
        }
    )


def test_a_context_that_is_not_an_object_is_left_out() -> None:
    mapping = run(hit(context="web"))
    assert only_event(mapping)["params"] == {"engagement_time_msec": 1}
    assert mapping.adjustments == Counter({"dropped_field:context": 1})


def test_lone_surrogates_never_break_utf8() -> None:
    mapping = run(hit(properties={"label": "a\ud800b"}, context={"traits": {"nick": "\udfffz"}}))
    body = mapping.requests[0].body.decode("utf-8")  # strict: raises on invalid UTF-8
    assert json.loads(body)["events"][0]["params"]["label"] == "a?b"
    assert mapping.adjustments == Counter({"replaced:invalid_unicode": 2})


def test_non_ascii_is_sent_as_utf8_not_escaped() -> None:
    mapping = run(hit(properties={"city": "Zürich"}))
    assert '"city":"Zürich"'.encode() in mapping.requests[0].body


# --- property: every event accounted for, every request within the limits -------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats()
    | st.text(max_size=30)
    | st.text(alphabet="abcXYZ ", min_size=90, max_size=1200)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=6,
)
_keys = st.text(max_size=50) | st.sampled_from(["value", "currency", "items", "products", "google_x", "order_id"])
_props = st.dictionaries(_keys, _json, max_size=35)
_product = st.dictionaries(
    st.sampled_from(["product_id", "sku", "name", "price", "quantity", "brand", "extra"]),
    st.text(alphabet="pq", max_size=120) | st.integers(0, 5) | st.floats(),
    max_size=6,
)
_commerce = st.fixed_dictionaries(
    {"products": st.lists(_product | _json, max_size=230)},
    optional={"revenue": _scalars, "currency": st.sampled_from(["EUR", "usd", "x", 3])},
)
_bulk = st.builds(
    lambda n, size, price: {
        "products": [{"product_id": f"s{j}", "name": "n" * size, "price": price} for j in range(n)]
    },
    st.integers(0, 250),
    st.integers(0, 130),
    _scalars,
)
_offsets = st.integers(min_value=-80 * 3600, max_value=30 * 60)
_times = _offsets.map(lambda s: (NOW + timedelta(seconds=s)).isoformat())
_valid = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["track"] * 6 + ["page", "page", "screen", "identify", "group", "alias", "x"]),
        "messageId": st.sampled_from([f"m{i}" for i in range(80)]),
        "anonymousId": st.sampled_from(["p-1", "p-1", "p-2", "p-" + "z" * 500]),
        "event": st.sampled_from(["Order Completed", "Product Added", "Clicked", "session_start", "x" * 60])
        | st.text(max_size=60),
        "timestamp": _times,
        "receivedAt": _times,
    },
    optional={
        "userId": st.sampled_from(["u-1", "u-" + "9" * 300]) | _scalars,
        "name": _scalars,
        "properties": _props | _commerce | _bulk,
        "context": st.fixed_dictionaries(
            {},
            optional={
                "page": st.dictionaries(st.sampled_from(["url", "title", "referrer", "path"]), _scalars),
                "session": st.dictionaries(st.sampled_from(["id", "engagementTimeMs"]), _scalars),
                "campaign": st.dictionaries(st.sampled_from(["name", "source", "id"]), _scalars),
                "traits": st.dictionaries(st.text(max_size=30), _json, max_size=30),
            },
        ),
        "userData": st.fixed_dictionaries(
            {
                "ga4": st.fixed_dictionaries(
                    {},
                    optional={
                        "sha256_email_address": st.lists(
                            st.text(alphabet="0af", min_size=64, max_size=64) | _scalars, max_size=12
                        ),
                        "address": st.lists(
                            st.dictionaries(
                                st.sampled_from(["sha256_first_name", "city", "country", "zip"]),
                                st.text(alphabet="0af", min_size=64, max_size=64) | _scalars,
                            ),
                            max_size=12,
                        ),
                    },
                )
            }
        ),
    },
)
_fields = [
    "type",
    "messageId",
    "anonymousId",
    "event",
    "timestamp",
    "receivedAt",
    "userId",
    "properties",
    "context",
    "userData",
]


@st.composite
def _events(draw: st.DrawFn) -> Any:
    """Mostly well-formed hits; some with one or two fields replaced by anything (or removed), a
    few not even an object."""
    if draw(st.integers(0, 40)) == 0:
        return draw(_json)
    event: dict[str, Any] = draw(_valid)
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 2]))):
        key = draw(st.sampled_from(_fields))
        if draw(st.booleans()):
            event.pop(key, None)
        else:
            event[key] = draw(_json)
    return event


@st.composite
def _repeated(draw: st.DrawFn) -> tuple[str, list[tuple[Any, Any]]]:
    """One hit many times under fresh ids (one client's burst): fills requests to 25 events and,
    with many items, to the byte limit."""
    event = draw(_valid)
    if draw(st.booleans()):
        event |= {"type": "track", "event": "Order Completed", "properties": draw(_bulk)}
    purposes = draw(st.sampled_from([ADS, ANALYTICS]))
    count = draw(st.integers(1, 70))
    prefix = draw(st.sampled_from(["r", "s"]))
    return draw(st.sampled_from(["sqs-1", "sqs-4"])), [
        (purposes, {**event, "messageId": f"{prefix}{i}"}) for i in range(count)
    ]


_batches = st.lists(
    st.tuples(
        st.sampled_from(["sqs-1", "sqs-2", "sqs-3"]),
        st.lists(st.tuples(st.sampled_from([ADS, ADS, ANALYTICS, [], None]), _events()), max_size=40),
    )
    | _repeated(),
    max_size=4,
)


def _ref(message_id: str, event: Any) -> EventRef:
    event_id = event.get("messageId") if isinstance(event, dict) else None
    return EventRef(message_id, event_id if isinstance(event_id, str) and event_id else "")


def _check_params(params: dict[str, Any]) -> None:
    assert len(params) <= 25
    limits = {"page_location": 1000, "page_referrer": 420, "page_title": 300}
    for name, value in params.items():
        assert NAME.match(name) and len(name) <= 40
        assert not name.startswith(("google_", "ga_", "firebase_"))
        if name == "items":
            assert 0 < len(value) <= 200
            for item in value:
                assert "item_id" in item or "item_name" in item
                assert all(not isinstance(v, str) or len(v) <= 100 for v in item.values())
        else:
            assert isinstance(value, str | int | float) and not isinstance(value, bool)
            assert not isinstance(value, str) or len(value) <= limits.get(name, 100)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_batches)
def test_every_event_is_accounted_for_and_every_request_fits(batch: list[tuple[str, list[Any]]]) -> None:
    deliveries = [Delivery(mid, "web", 1, events) for mid, events in batch]
    expected = Counter(_ref(mid, event) for mid, events in batch for _, event in events)
    ads: dict[EventRef, bool] = {}  # by first occurrence: a later copy is a dropped duplicate
    for mid, events in batch:
        for purposes, event in events:
            ads.setdefault(_ref(mid, event), purposes == ADS)

    mapping = map_ga4(deliveries, now=NOW)

    sent = Counter(ref for request in mapping.requests for ref in request.events)
    dropped = Counter(ref for ref, _ in mapping.dropped)
    assert sent + dropped == expected
    assert all(count == 1 for count in sent.values())
    assert {reason for _, reason in mapping.dropped} <= {
        "invalid_event",
        "duplicate",
        "unsupported_type",
        "missing_client_id",
        "invalid_event_name",
        "reserved_event_name",
        "missing_timestamp",
        "invalid_timestamp",
        "too_old",
        "in_future",
        "too_large",
    }
    order = list(dict.fromkeys(ref for mid, events in batch for _, event in events for ref in [_ref(mid, event)]))
    last_index: dict[str, int] = {}
    for request in mapping.requests:
        assert len(request.body) < 130_000
        assert 1 <= len(request.events) <= 25
        body = json.loads(request.body.decode("utf-8"))
        assert list(body) == [
            k for k in ("client_id", "user_id", "consent", "user_properties", "user_data", "events") if k in body
        ]
        assert len(body["events"]) == len(request.events)
        granted = body["consent"] == {"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"}
        assert granted == all(ads[ref] for ref in request.events)
        assert granted or body["consent"] == {"ad_user_data": "DENIED", "ad_personalization": "DENIED"}
        assert "user_data" not in body or granted
        assert len(body.get("user_properties", {})) <= 25
        for name, prop in body.get("user_properties", {}).items():
            assert NAME.match(name) and len(name) <= 24
            assert not isinstance(prop["value"], str) or len(prop["value"]) <= 36
        for event in body["events"]:
            assert NAME.match(event["name"]) and len(event["name"]) <= 40
            assert NOW_MICROS - 72 * 3600 * 10**6 <= event["timestamp_micros"] <= NOW_MICROS
            _check_params(event["params"])
        # input order within a group (same request head), across the group's requests too
        head = request.body.split(b',"events":[')[0].decode("utf-8")
        indexes = [order.index(ref) for ref in request.events]
        assert indexes == sorted(indexes)
        assert indexes[0] > last_index.get(head, -1)
        last_index[head] = indexes[-1]

    again = map_ga4(deliveries, now=NOW)
    assert again.requests == mapping.requests
    assert again.dropped == mapping.dropped
    assert again.adjustments == mapping.adjustments
