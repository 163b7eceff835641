"""The capture server's payload judges (fairtrack_tools.local.validators): GA4 /debug/mp/collect messages and
Meta Graph API errors."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairtrack_tools.local.validators import (
    META_SUBCODE_NOT_ENOUGH_CUSTOMER_INFO,
    META_SUBCODE_TIMESTAMP_TOO_OLD,
    validate_ga4,
    validate_meta,
)
from fairtrack_tools.local.validators import Ga4Code as Code

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
NOW_US = int(NOW.timestamp()) * 1_000_000
NOW_S = int(NOW.timestamp())
HOUR_US = 3600 * 1_000_000
DAY_S = 86_400
HEX = hashlib.sha256(b"jane.doe@example.com").hexdigest()
DELETE = object()


def put(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``body`` with ``value`` at ``path`` (dict keys and list indexes), or the key removed."""
    copied = copy.deepcopy(body)
    target: Any = copied
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copied


# -- GA4 ------------------------------------------------------------------------------------------


def good_ga4() -> dict[str, Any]:
    return {
        "client_id": "1187563462.1745998800",
        "user_id": "p-3f2a9c",
        "timestamp_micros": NOW_US - HOUR_US,
        "consent": {"ad_user_data": "DENIED", "ad_personalization": "DENIED"},
        "user_data": {
            "sha256_email_address": [HEX],
            "sha256_phone_number": [HEX],
            "address": [{"sha256_first_name": HEX, "sha256_street": HEX, "city": "berlin", "country": "DE"}],
        },
        "user_properties": {"plan": {"value": "pro"}},
        "events": [
            {
                "name": "page_view",
                "params": {
                    "page_location": "https://shop.example/products/42?utm_source=news",
                    "page_referrer": "https://news.example/",
                    "page_title": "Product 42",
                    "session_id": "1745998800",
                    "engagement_time_msec": 100,
                    "debug_mode": True,
                },
            }
        ],
    }


def codes(messages: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(m["fieldPath"], m["validationCode"]) for m in messages]


def test_a_known_good_ga4_body_has_no_messages() -> None:
    assert validate_ga4(good_ga4(), now=NOW) == []


def test_known_good_variants_have_no_messages() -> None:
    """Given the edges that are still allowed, then GA4 has nothing to say."""
    app = put(good_ga4(), ("client_id",), DELETE)
    app["app_instance_id"] = "a" * 32
    assert validate_ga4(app, now=NOW) == []
    assert validate_ga4(put(good_ga4(), ("timestamp_micros",), NOW_US - 71 * HOUR_US), now=NOW) == []
    params = ("events", 0, "params")
    assert validate_ga4(put(good_ga4(), (*params, "page_location"), "x" * 1000), now=NOW) == []
    assert validate_ga4(put(good_ga4(), (*params, "page_title"), "x" * 300), now=NOW) == []
    assert validate_ga4(put(good_ga4(), (*params, "page_referrer"), "x" * 420), now=NOW) == []
    assert validate_ga4(put(good_ga4(), (*params, "value"), "x" * 100), now=NOW) == []
    assert validate_ga4(put(good_ga4(), ("events",), [{"name": f"e{i}"} for i in range(25)]), now=NOW) == []
    many = {f"p{i}": i for i in range(25)}
    assert validate_ga4(put(good_ga4(), params, many), now=NOW) == []
    items = [{"item_id": f"sku-{i}", "price": 9.5, "quantity": 1} for i in range(200)]
    assert validate_ga4(put(good_ga4(), (*params, "items"), items), now=NOW) == []
    assert validate_ga4(put(good_ga4(), ("user_properties", "tier"), {"value": "x" * 36}), now=NOW) == []
    assert validate_ga4(put(good_ga4(), ("consent",), {"ad_user_data": "GRANTED"}), now=NOW) == []
    assert validate_ga4(put(good_ga4(), ("ip_override",), "2001:db8::1"), now=NOW) == []


EVENT = ("events", 0)
PARAMS = ("events", 0, "params")

GA4_VIOLATIONS: list[tuple[str, tuple[Any, ...], Any, str, str]] = [
    ("client_id missing", ("client_id",), DELETE, "client_id", Code.VALUE_REQUIRED),
    ("client_id empty", ("client_id",), "", "client_id", Code.VALUE_INVALID),
    ("client_id number", ("client_id",), 1187563462, "client_id", Code.VALUE_INVALID),
    ("app_instance_id not hex", ("app_instance_id",), "not-an-app-instance", "app_instance_id", Code.VALUE_INVALID),
    ("user_id number", ("user_id",), 42, "user_id", Code.VALUE_INVALID),
    ("user_id too long", ("user_id",), "u" * 257, "user_id", Code.VALUE_OUT_OF_BOUNDS),
    ("timestamp text", ("timestamp_micros",), str(NOW_US), "timestamp_micros", Code.VALUE_INVALID),
    ("timestamp boolean", ("timestamp_micros",), True, "timestamp_micros", Code.VALUE_INVALID),
    ("timestamp 73 h old", ("timestamp_micros",), NOW_US - 73 * HOUR_US, "timestamp_micros", Code.VALUE_OUT_OF_BOUNDS),
    (
        "event timestamp 73 h old",
        (*EVENT, "timestamp_micros"),
        NOW_US - 73 * HOUR_US,
        "events[0].timestamp_micros",
        Code.VALUE_OUT_OF_BOUNDS,
    ),
    ("events missing", ("events",), DELETE, "events", Code.VALUE_REQUIRED),
    ("events empty", ("events",), [], "events", Code.VALUE_REQUIRED),
    ("events object", ("events",), {"name": "page_view"}, "events", Code.VALUE_INVALID),
    ("26 events", ("events",), [{"name": "page_view"}] * 26, "events", Code.EXCEEDED_MAX_ENTITIES),
    ("event not object", EVENT, "page_view", "events[0]", Code.VALUE_INVALID),
    ("event unknown field", (*EVENT, "category"), "x", "events[0].category", Code.VALUE_INVALID),
    ("event name missing", (*EVENT, "name"), DELETE, "events[0].name", Code.VALUE_REQUIRED),
    ("event name hyphen", (*EVENT, "name"), "page-view", "events[0].name", Code.NAME_INVALID),
    ("event name underscore first", (*EVENT, "name"), "_page_view", "events[0].name", Code.NAME_INVALID),
    ("event name digit first", (*EVENT, "name"), "1st_visit", "events[0].name", Code.NAME_INVALID),
    ("event name 41 chars", (*EVENT, "name"), "e" * 41, "events[0].name", Code.NAME_INVALID),
    ("event name number", (*EVENT, "name"), 7, "events[0].name", Code.NAME_INVALID),
    ("session_start reserved", (*EVENT, "name"), "session_start", "events[0].name", Code.NAME_RESERVED),
    ("first_visit reserved", (*EVENT, "name"), "first_visit", "events[0].name", Code.NAME_RESERVED),
    ("user_engagement reserved", (*EVENT, "name"), "user_engagement", "events[0].name", Code.NAME_RESERVED),
    ("ad_ prefix reserved", (*EVENT, "name"), "ad_custom", "events[0].name", Code.NAME_RESERVED),
    ("firebase_ prefix reserved", (*EVENT, "name"), "firebase_thing", "events[0].name", Code.NAME_RESERVED),
    ("google_ prefix reserved", (*EVENT, "name"), "google_thing", "events[0].name", Code.NAME_RESERVED),
    ("ga_ prefix reserved", (*EVENT, "name"), "ga_thing", "events[0].name", Code.NAME_RESERVED),
    ("params not object", PARAMS, ["page_location"], "events[0].params", Code.VALUE_INVALID),
    ("26 params", PARAMS, {f"p{i}": i for i in range(26)}, "events[0].params", Code.EXCEEDED_MAX_ENTITIES),
    ("param name hyphen", (*PARAMS, "page-type"), "x", "events[0].params", Code.NAME_INVALID),
    ("param name 41 chars", (*PARAMS, "p" * 41), "x", "events[0].params", Code.NAME_INVALID),
    ("param ga_ reserved", (*PARAMS, "ga_session_id"), "1", "events[0].params", Code.NAME_RESERVED),
    ("param google_ reserved", (*PARAMS, "google_thing"), "1", "events[0].params", Code.NAME_RESERVED),
    ("param firebase_ reserved", (*PARAMS, "firebase_screen"), "1", "events[0].params", Code.NAME_RESERVED),
    ("param value object", (*PARAMS, "page_title"), {"a": 1}, "events[0].params.page_title", Code.VALUE_INVALID),
    ("param value list", (*PARAMS, "tags"), ["a"], "events[0].params.tags", Code.VALUE_INVALID),
    ("param value null", (*PARAMS, "page_title"), None, "events[0].params.page_title", Code.VALUE_INVALID),
    ("param value nan", (*PARAMS, "value"), float("nan"), "events[0].params.value", Code.VALUE_INVALID),
    ("value 101 chars", (*PARAMS, "value"), "x" * 101, "events[0].params.value", Code.VALUE_OUT_OF_BOUNDS),
    (
        "page_location 1001 chars",
        (*PARAMS, "page_location"),
        "x" * 1001,
        "events[0].params.page_location",
        Code.VALUE_OUT_OF_BOUNDS,
    ),
    (
        "page_title 301 chars",
        (*PARAMS, "page_title"),
        "x" * 301,
        "events[0].params.page_title",
        Code.VALUE_OUT_OF_BOUNDS,
    ),
    (
        "page_referrer 421 chars",
        (*PARAMS, "page_referrer"),
        "x" * 421,
        "events[0].params.page_referrer",
        Code.VALUE_OUT_OF_BOUNDS,
    ),
    ("items not list", (*PARAMS, "items"), {"item_id": "a"}, "events[0].params.items", Code.VALUE_INVALID),
    (
        "201 items",
        (*PARAMS, "items"),
        [{"item_id": "a"}] * 201,
        "events[0].params.items",
        Code.EXCEEDED_MAX_ENTITIES,
    ),
    ("item not object", (*PARAMS, "items"), ["sku-1"], "events[0].params.items[0]", Code.VALUE_INVALID),
    ("item without id or name", (*PARAMS, "items"), [{"price": 1}], "events[0].params.items[0]", Code.VALUE_REQUIRED),
    (
        "item value too long",
        (*PARAMS, "items"),
        [{"item_id": "a", "item_brand": "b" * 101}],
        "events[0].params.items[0].item_brand",
        Code.VALUE_OUT_OF_BOUNDS,
    ),
    ("user_properties not object", ("user_properties",), [], "user_properties", Code.VALUE_INVALID),
    (
        "26 user properties",
        ("user_properties",),
        {f"u{i}": {"value": 1} for i in range(26)},
        "user_properties",
        Code.EXCEEDED_MAX_ENTITIES,
    ),
    ("user property name 25 chars", ("user_properties", "u" * 25), {"value": 1}, "user_properties", Code.NAME_INVALID),
    ("user property name hyphen", ("user_properties", "a-b"), {"value": 1}, "user_properties", Code.NAME_INVALID),
    (
        "user property first_open_time",
        ("user_properties", "first_open_time"),
        {"value": 1},
        "user_properties",
        Code.NAME_RESERVED,
    ),
    ("user property user_id", ("user_properties", "user_id"), {"value": "x"}, "user_properties", Code.NAME_RESERVED),
    ("user property google_", ("user_properties", "google_x"), {"value": 1}, "user_properties", Code.NAME_RESERVED),
    ("user property bare value", ("user_properties", "plan"), "pro", "user_properties.plan", Code.VALUE_INVALID),
    ("user property no value", ("user_properties", "plan"), {}, "user_properties.plan", Code.VALUE_REQUIRED),
    (
        "user property value 37 chars",
        ("user_properties", "plan", "value"),
        "p" * 37,
        "user_properties.plan.value",
        Code.VALUE_OUT_OF_BOUNDS,
    ),
    (
        "user property value object",
        ("user_properties", "plan", "value"),
        {"a": 1},
        "user_properties.plan.value",
        Code.VALUE_INVALID,
    ),
    ("consent not object", ("consent",), "DENIED", "consent", Code.VALUE_INVALID),
    ("consent unknown type", ("consent", "ad_storage"), "DENIED", "consent.ad_storage", Code.VALUE_INVALID),
    ("consent lowercase", ("consent", "ad_user_data"), "granted", "consent.ad_user_data", Code.VALUE_INVALID),
    ("consent boolean", ("consent", "ad_personalization"), False, "consent.ad_personalization", Code.VALUE_INVALID),
    ("user_data not object", ("user_data",), [HEX], "user_data", Code.VALUE_INVALID),
    ("user_data unknown key", ("user_data", "email"), "jane@example.com", "user_data.email", Code.VALUE_INVALID),
    (
        "email digest not a list",
        ("user_data", "sha256_email_address"),
        HEX,
        "user_data.sha256_email_address",
        Code.VALUE_INVALID,
    ),
    (
        "email not hashed",
        ("user_data", "sha256_email_address"),
        ["jane.doe@example.com"],
        "user_data.sha256_email_address[0]",
        Code.VALUE_INVALID,
    ),
    (
        "phone digest uppercase",
        ("user_data", "sha256_phone_number"),
        [HEX, HEX.upper()],
        "user_data.sha256_phone_number[1]",
        Code.VALUE_INVALID,
    ),
    ("address not list", ("user_data", "address"), {"city": "x"}, "user_data.address", Code.VALUE_INVALID),
    (
        "address street not hashed",
        ("user_data", "address", 0, "sha256_street"),
        "Main Street 1",
        "user_data.address[0].sha256_street",
        Code.VALUE_INVALID,
    ),
    (
        "address unknown key",
        ("user_data", "address", 0, "street"),
        "Main Street 1",
        "user_data.address[0].street",
        Code.VALUE_INVALID,
    ),
    (
        "address city number",
        ("user_data", "address", 0, "city"),
        10115,
        "user_data.address[0].city",
        Code.VALUE_INVALID,
    ),
    ("unknown top-level key", ("measurement_id",), "G-XXXX", "measurement_id", Code.VALUE_INVALID),
    ("unknown top-level odd key", ("api secret",), "s", "", Code.VALUE_INVALID),
    ("ip_override not an IP", ("ip_override",), "203.0.113.300", "ip_override", Code.VALUE_INVALID),
    ("non_personalized_ads text", ("non_personalized_ads",), "true", "non_personalized_ads", Code.VALUE_INVALID),
    ("validation_behavior unknown", ("validation_behavior",), "STRICT", "validation_behavior", Code.VALUE_INVALID),
    ("device unknown key", ("device", "gpu"), "x", "device.gpu", Code.VALUE_INVALID),
    ("user_location number", ("user_location", "city"), 1, "user_location.city", Code.VALUE_INVALID),
]


@pytest.mark.parametrize(
    ("path", "value", "field_path", "code"),
    [case[1:] for case in GA4_VIOLATIONS],
    ids=[case[0] for case in GA4_VIOLATIONS],
)
def test_each_ga4_violation_gives_exactly_its_message(
    path: tuple[Any, ...], value: Any, field_path: str, code: str
) -> None:
    """Given a known-good body with one rule broken, then GA4 reports that rule, and only that one."""
    body = good_ga4()
    if path[0] in ("device", "user_location"):
        body[path[0]] = {}
    messages = validate_ga4(put(body, path, value), now=NOW)

    assert codes(messages) == [(field_path, code)], messages
    assert all(set(m) == {"fieldPath", "description", "validationCode"} for m in messages)
    assert all(isinstance(m["description"], str) and m["description"] for m in messages)


def test_ga4_body_must_be_an_object() -> None:
    for body in ([good_ga4()], "client_id=1", None, 3):
        assert codes(validate_ga4(body, now=NOW)) == [("", Code.VALUE_INVALID)]


def test_ga4_reports_every_problem_not_just_the_first() -> None:
    body = put(good_ga4(), ("client_id",), DELETE)
    body = put(body, (*EVENT, "name"), "session_start")
    assert codes(validate_ga4(body, now=NOW)) == [
        ("client_id", Code.VALUE_REQUIRED),
        ("events[0].name", Code.NAME_RESERVED),
    ]


def test_ga4_events_are_indexed_in_field_paths() -> None:
    body = put(good_ga4(), ("events",), [{"name": "page_view"}, {"name": "bad name"}, {"name": "purchase"}])
    assert codes(validate_ga4(body, now=NOW)) == [("events[1].name", Code.NAME_INVALID)]


def test_ga4_body_size_limit_from_raw_size_or_computed() -> None:
    """Given a body of 130,000 bytes or more, then Code.VALUE_OUT_OF_BOUNDS; 129,999 is still fine."""
    assert validate_ga4(good_ga4(), now=NOW, raw_size=129_999) == []
    assert codes(validate_ga4(good_ga4(), now=NOW, raw_size=130_000)) == [("", Code.VALUE_OUT_OF_BOUNDS)]
    huge = put(good_ga4(), ("user_data", "address", 0, "city"), "x" * 130_000)  # no per-field limit on city
    assert codes(validate_ga4(huge, now=NOW)) == [("", Code.VALUE_OUT_OF_BOUNDS)]
    multibyte = put(good_ga4(), ("user_data", "address", 0, "city"), "é" * 65_000)  # 130,000 bytes in UTF-8
    assert codes(validate_ga4(multibyte, now=NOW)) == [("", Code.VALUE_OUT_OF_BOUNDS)]


def test_ga4_backdating_is_measured_from_now() -> None:
    old = put(good_ga4(), ("timestamp_micros",), NOW_US - 73 * HOUR_US)
    assert validate_ga4(old, now=NOW + timedelta(hours=-2)) == []
    assert codes(validate_ga4(old, now=NOW)) == [("timestamp_micros", Code.VALUE_OUT_OF_BOUNDS)]
    naive = NOW.replace(tzinfo=None)  # naive means UTC
    assert codes(validate_ga4(old, now=naive)) == [("timestamp_micros", Code.VALUE_OUT_OF_BOUNDS)]


# -- Meta -----------------------------------------------------------------------------------------


def good_meta_event() -> dict[str, Any]:
    return {
        "event_name": "Purchase",
        "event_time": NOW_S - 60,
        "event_id": "0c1b2a39-5f7e-4d6c-9b8a-7a6b5c4d3e2f",
        "action_source": "website",
        "event_source_url": "https://shop.example/checkout/thanks",
        "user_data": {
            "em": [HEX],
            "ph": HEX,
            "external_id": [HEX, HEX],
            "client_ip_address": "203.0.113.7",
            "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
            "fbc": "fb.1.1745998800000.IwAR2xYz-abc_123",
            "fbp": "fb.1.1745998800000.1098765432",
        },
        "custom_data": {"value": 129.9, "currency": "EUR", "content_ids": ["sku-1"], "num_items": 1},
        "data_processing_options": [],
        "opt_out": False,
    }


def good_meta() -> dict[str, Any]:
    return {"data": [good_meta_event()], "test_event_code": "TEST12345"}


def assert_meta_error(error: dict[str, Any] | None, needle: str, subcode: int | None = None) -> None:
    assert error is not None, f"expected an error naming {needle!r}"
    assert set(error) == {"error"}
    body = error["error"]
    assert set(body) == {
        "message",
        "type",
        "code",
        "error_subcode",
        "is_transient",
        "error_user_title",
        "error_user_msg",
        "fbtrace_id",
    }
    assert body["message"] == "Invalid parameter"
    assert body["type"] == "OAuthException"
    assert body["code"] == 100
    assert body["is_transient"] is False
    assert isinstance(body["error_subcode"], int) and not isinstance(body["error_subcode"], bool)
    assert isinstance(body["fbtrace_id"], str) and body["fbtrace_id"]
    assert isinstance(body["error_user_title"], str) and body["error_user_title"]
    assert needle in body["error_user_msg"], body
    if subcode is not None:
        assert body["error_subcode"] == subcode
    json.dumps(error)  # what the capture server would send back


def test_a_known_good_meta_web_event_is_accepted() -> None:
    assert validate_meta(good_meta(), now=NOW) is None


def test_known_good_meta_variants_are_accepted() -> None:
    event = ("data", 0)
    ok = [
        put(good_meta(), (*event, "data_processing_options"), ["LDU"]),
        put(
            put(
                put(good_meta(), (*event, "data_processing_options"), ["LDU"]),
                (*event, "data_processing_options_country"),
                1,
            ),
            (*event, "data_processing_options_state"),
            1000,
        ),
        put(good_meta(), (*event, "event_time"), NOW_S - 7 * DAY_S + 60),
        put(good_meta(), (*event, "event_time"), NOW_S + 9 * 60),
        put(good_meta(), (*event, "user_data", "client_ip_address"), "2001:db8::7"),
        put(good_meta(), (*event, "user_data", "unknown_key"), "tolerated"),
        put(good_meta(), (*event, "referrer_url"), "https://news.example/"),
        put(good_meta(), ("access_token",), "token-in-body-is-ignored-here"),
        put(good_meta(), (*event, "custom_data", "currency"), "eur"),
        {"data": [good_meta_event()] * 1000},
    ]
    for body in ok:
        assert validate_meta(body, now=NOW) is None, body


def test_non_web_events_need_neither_url_nor_user_agent() -> None:
    event = good_meta_event()
    event["action_source"] = "email"
    del event["event_source_url"]
    del event["user_data"]["client_user_agent"]
    assert validate_meta({"data": [event]}, now=NOW) is None


def test_a_form_encoded_body_with_data_as_json_text_is_accepted() -> None:
    """The capture server decodes a form into strings: data arrives as JSON text."""
    form = {"data": json.dumps([good_meta_event()]), "access_token": "t", "test_event_code": "TEST1"}
    assert validate_meta(form, now=NOW) is None
    bad = {"data": json.dumps([put(good_meta_event(), ("event_name",), "")])}
    assert_meta_error(validate_meta(bad, now=NOW), "event_name")
    assert_meta_error(validate_meta({"data": "[{not json"}, now=NOW), "not valid JSON")


E = ("data", 0)
UD = ("data", 0, "user_data")

META_VIOLATIONS: list[tuple[str, tuple[Any, ...], Any, str]] = [
    ("data missing", ("data",), DELETE, "data"),
    ("data object", ("data",), {"event_name": "Purchase"}, "list of events"),
    ("data empty", ("data",), [], "at least one event"),
    ("1001 events", ("data",), [good_meta_event()] * 1001, "1000"),
    ("event not object", E, "Purchase", "data[0]"),
    ("test_event_code number", ("test_event_code",), 12345, "test_event_code"),
    ("event_name missing", (*E, "event_name"), DELETE, "data[0].event_name"),
    ("event_name empty", (*E, "event_name"), "", "data[0].event_name"),
    ("event_name number", (*E, "event_name"), 1, "data[0].event_name"),
    ("event_name 51 chars", (*E, "event_name"), "E" * 51, "data[0].event_name"),
    ("event_time missing", (*E, "event_time"), DELETE, "data[0].event_time"),
    ("event_time text", (*E, "event_time"), str(NOW_S), "data[0].event_time"),
    ("event_time float", (*E, "event_time"), NOW_S + 0.5, "data[0].event_time"),
    ("event_time boolean", (*E, "event_time"), True, "data[0].event_time"),
    ("event_time 11 min ahead", (*E, "event_time"), NOW_S + 11 * 60, "data[0].event_time"),
    ("event_time in milliseconds", (*E, "event_time"), NOW_S * 1000, "data[0].event_time"),
    ("action_source missing", (*E, "action_source"), DELETE, "data[0].action_source"),
    ("action_source unknown", (*E, "action_source"), "web", "data[0].action_source"),
    ("action_source list", (*E, "action_source"), ["website"], "data[0].action_source"),
    ("website without url", (*E, "event_source_url"), DELETE, "data[0].event_source_url"),
    ("website with empty url", (*E, "event_source_url"), "", "data[0].event_source_url"),
    ("website without user agent", (*UD, "client_user_agent"), DELETE, "data[0].user_data.client_user_agent"),
    ("website with empty user agent", (*UD, "client_user_agent"), "", "data[0].user_data.client_user_agent"),
    ("user_data missing", (*E, "user_data"), DELETE, "data[0].user_data"),
    ("user_data list", (*E, "user_data"), [HEX], "data[0].user_data"),
    *[  # a field Meta wants hashed, given in clear text
        (f"{key} plain", (*UD, key), clear, f"data[0].user_data.{key}")
        for key, clear in [
            ("em", "jane.doe@example.com"),
            ("fn", "jane"),
            ("ge", "f"),
            ("db", "19900101"),
            ("ct", "berlin"),
            ("st", "be"),
            ("zp", "10115"),
            ("country", "de"),
        ]
    ],
    ("em uppercase digest", (*UD, "em"), [HEX.upper()], "data[0].user_data.em"),
    ("em digest too short", (*UD, "em"), [HEX[:63]], "data[0].user_data.em"),
    ("ph number", (*UD, "ph"), 491701234567, "data[0].user_data.ph"),
    ("ln list with plain", (*UD, "ln"), [HEX, "doe"], "data[0].user_data.ln"),
    ("external_id unhashed", (*UD, "external_id"), "user-42", "data[0].user_data.external_id"),
    ("client_ip_address invalid", (*UD, "client_ip_address"), "999.1.1.1", "data[0].user_data.client_ip_address"),
    ("client_ip_address number", (*UD, "client_ip_address"), 3405803783, "data[0].user_data.client_ip_address"),
    ("fbc without prefix", (*UD, "fbc"), "IwAR2xYz", "data[0].user_data.fbc"),
    ("fbc time not digits", (*UD, "fbc"), "fb.1.yesterday.IwAR2xYz", "data[0].user_data.fbc"),
    ("fbc without click id", (*UD, "fbc"), "fb.1.1745998800000.", "data[0].user_data.fbc"),
    ("fbp random part not digits", (*UD, "fbp"), "fb.1.1745998800000.abc", "data[0].user_data.fbp"),
    ("fbp wrong version", (*UD, "fbp"), "fb.9.1745998800000.123", "data[0].user_data.fbp"),
    ("dpo text", (*E, "data_processing_options"), "LDU", "data[0].data_processing_options"),
    ("dpo unknown option", (*E, "data_processing_options"), ["XYZ"], "data[0].data_processing_options"),
    ("dpo lowercase", (*E, "data_processing_options"), ["ldu"], "data[0].data_processing_options"),
    ("dpo country text", (*E, "data_processing_options_country"), "1", "data[0].data_processing_options_country"),
    ("dpo state float", (*E, "data_processing_options_state"), 1000.0, "data[0].data_processing_options_state"),
    ("custom_data list", (*E, "custom_data"), [], "data[0].custom_data"),
    ("custom_data value text", (*E, "custom_data", "value"), "129.90", "data[0].custom_data.value"),
    ("custom_data value boolean", (*E, "custom_data", "value"), True, "data[0].custom_data.value"),
    ("currency four letters", (*E, "custom_data", "currency"), "EURO", "data[0].custom_data.currency"),
    ("currency symbol", (*E, "custom_data", "currency"), "€", "data[0].custom_data.currency"),
    ("purchase without currency", (*E, "custom_data", "currency"), DELETE, "Purchase events require"),
    ("purchase without custom_data", (*E, "custom_data"), DELETE, "Purchase events require"),
    ("content_ids text", (*E, "custom_data", "content_ids"), "sku-1", "data[0].custom_data.content_ids"),
    ("contents of text", (*E, "custom_data", "contents"), ["sku-1"], "data[0].custom_data.contents"),
    ("num_items text", (*E, "custom_data", "num_items"), "1", "data[0].custom_data.num_items"),
    ("event_id number", (*E, "event_id"), 42, "data[0].event_id"),
    ("event_id empty", (*E, "event_id"), "", "data[0].event_id"),
    ("event_id 257 chars", (*E, "event_id"), "i" * 257, "data[0].event_id"),
    ("opt_out text", (*E, "opt_out"), "false", "data[0].opt_out"),
]


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [case[1:] for case in META_VIOLATIONS],
    ids=[case[0] for case in META_VIOLATIONS],
)
def test_each_meta_violation_gives_an_invalid_parameter_error(path: tuple[Any, ...], value: Any, needle: str) -> None:
    """Given a known-good request with one rule broken, then Meta's code 100 naming the problem."""
    assert_meta_error(validate_meta(put(good_meta(), path, value), now=NOW), needle)


def test_an_event_older_than_seven_days_gets_metas_timestamp_subcode() -> None:
    old = put(good_meta(), ("data", 0, "event_time"), NOW_S - 7 * DAY_S - 60)
    assert_meta_error(validate_meta(old, now=NOW), "data[0].event_time", META_SUBCODE_TIMESTAMP_TOO_OLD)
    assert validate_meta(old, now=NOW - timedelta(minutes=2)) is None


def test_an_event_without_customer_information_gets_metas_subcode() -> None:
    event = good_meta_event()
    event["action_source"] = "physical_store"
    subcode = META_SUBCODE_NOT_ENOUGH_CUSTOMER_INFO
    event["user_data"] = {}
    assert_meta_error(validate_meta({"data": [event]}, now=NOW), "data[0].user_data", subcode)
    event["user_data"] = {"em": [], "client_user_agent": ""}  # present but empty is still nothing
    assert_meta_error(validate_meta({"data": [event]}, now=NOW), "data[0].user_data", subcode)


def test_meta_body_must_be_an_object() -> None:
    for body in ([good_meta_event()], "data=[]", None):
        assert_meta_error(validate_meta(body, now=NOW), "request body")


def test_one_invalid_event_rejects_the_batch_and_only_the_first_problem_is_named() -> None:
    second_bad = {"data": [good_meta_event(), put(good_meta_event(), ("event_name",), "")]}
    assert_meta_error(validate_meta(second_bad, now=NOW), "data[1].event_name")
    both_bad = {
        "data": [
            put(good_meta_event(), ("action_source",), "web"),
            put(good_meta_event(), ("event_name",), ""),
        ]
    }
    error = validate_meta(both_bad, now=NOW)
    assert_meta_error(error, "data[0].action_source")
    assert error is not None and "data[1]" not in error["error"]["error_user_msg"]


# -- never raises ---------------------------------------------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        | st.dictionaries(st.integers() | st.booleans() | st.none(), inner, max_size=2)  # not JSON, still no crash
    ),
    max_leaves=25,
)
NAMES = st.sampled_from(["page_view", "session_start", "items", "page_title", "value", "_x", "ga_x", "a-b", "e" * 41])


def near(values: list[str]) -> st.SearchStrategy[Any]:
    """A plausible value for a field, or anything at all."""
    return st.sampled_from(values) | JSONISH


def key(values: list[str]) -> st.SearchStrategy[str]:
    """A plausible key for an object, or any short text."""
    return st.sampled_from(values) | st.text(max_size=30)


GA4_ISH = st.fixed_dictionaries(
    {},
    optional={
        "client_id": near(["1.2", ""]),
        "app_instance_id": near(["a" * 32]),
        "user_id": JSONISH,
        "timestamp_micros": st.integers() | JSONISH,
        "consent": st.dictionaries(key(["ad_user_data", "ad_storage"]), near(["GRANTED", "DENIED"]), max_size=3)
        | JSONISH,
        "user_data": st.dictionaries(
            key(["sha256_email_address", "sha256_phone_number", "address"]),
            st.lists(near([HEX]) | st.dictionaries(key(["city", "sha256_street"]), near([HEX])), max_size=3) | JSONISH,
            max_size=3,
        )
        | JSONISH,
        "user_properties": st.dictionaries(NAMES | st.text(max_size=30), st.fixed_dictionaries({"value": JSONISH}))
        | JSONISH,
        "events": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": NAMES | JSONISH,
                    "params": st.dictionaries(
                        NAMES | st.text(max_size=45),
                        JSONISH | st.lists(st.dictionaries(key(["item_id", "price"]), JSONISH), max_size=3),
                        max_size=6,
                    )
                    | JSONISH,
                    "timestamp_micros": JSONISH,
                },
            )
            | JSONISH,
            max_size=4,
        )
        | JSONISH,
        "ip_override": JSONISH,
        "device": JSONISH,
        "user_location": JSONISH,
        "validation_behavior": JSONISH,
        "non_personalized_ads": JSONISH,
    },
)

META_EVENT_ISH = st.fixed_dictionaries(
    {},
    optional={
        "event_name": near(["Purchase", "PageView", ""]),
        "event_time": st.integers(min_value=NOW_S - 10 * DAY_S, max_value=NOW_S + DAY_S) | JSONISH,
        "action_source": near(["website", "email", "app"]),
        "event_source_url": near(["https://shop.example/"]),
        "event_id": JSONISH,
        "user_data": st.dictionaries(
            key(["em", "ph", "external_id", "client_ip_address", "client_user_agent", "fbc", "fbp"]),
            near([HEX, "203.0.113.7", "fb.1.1.x", "fb.1.1.2", "Mozilla/5.0"]) | st.lists(near([HEX]), max_size=2),
            max_size=5,
        )
        | JSONISH,
        "custom_data": st.dictionaries(key(["value", "currency", "contents", "num_items"]), JSONISH, max_size=4)
        | JSONISH,
        "data_processing_options": near(["LDU"]) | st.lists(near(["LDU"]), max_size=2),
        "data_processing_options_country": JSONISH,
        "data_processing_options_state": JSONISH,
        "opt_out": JSONISH,
    },
)
META_ISH = st.fixed_dictionaries(
    {},
    optional={
        "data": st.lists(META_EVENT_ISH | JSONISH, max_size=3)
        | st.lists(META_EVENT_ISH, max_size=2).map(json.dumps)
        | JSONISH,
        "test_event_code": JSONISH,
    },
)
NOWS = st.none() | st.datetimes(timezones=st.none() | st.just(UTC))


@settings(max_examples=400, deadline=None)
@given(body=JSONISH | GA4_ISH, now=NOWS, raw_size=st.none() | st.integers())
def test_validate_ga4_never_raises(body: Any, now: datetime | None, raw_size: int | None) -> None:
    messages = validate_ga4(body, now=now, raw_size=raw_size)

    assert isinstance(messages, list)
    for message in messages:
        assert set(message) == {"fieldPath", "description", "validationCode"}
        assert all(isinstance(v, str) for v in message.values())


@settings(max_examples=400, deadline=None)
@given(body=JSONISH | META_ISH | st.text(max_size=20).map(lambda t: {"data": t}), now=NOWS)
def test_validate_meta_never_raises(body: Any, now: datetime | None) -> None:
    error = validate_meta(body, now=now)

    assert error is None or (error["error"]["code"] == 100 and isinstance(error["error"]["error_user_msg"], str))


@settings(max_examples=100, deadline=None)
@given(depth=st.integers(min_value=1, max_value=5000))
def test_deep_nesting_does_not_raise(depth: int) -> None:
    nested: Any = []
    for _ in range(min(depth, 200)):
        nested = [nested]
    assert isinstance(validate_ga4({"client_id": "1", "events": nested}, now=NOW), list)
    deep_text = "[" * depth + "]" * depth
    assert validate_meta({"data": deep_text}, now=NOW) is not None
