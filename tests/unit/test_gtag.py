"""GA4 gtag ``/g/collect`` adapter: request splitting and parameters to canonical hits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from fairtrack.errors import EVENT_TOO_LARGE, FieldError
from fairtrack.hit import Hit
from fairtrack.protocols import gtag

RECEIVED = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

# A page_view as gtag.js sends it (parameter order and values taken from real hits' shape).
PAGE_VIEW = {
    "v": "2",
    "tid": "G-DEV",
    "gtm": "45je4bi0v9",
    "_p": "1732443200123",
    "gcs": "G111",
    "gcd": "13r3r3r3r5",
    "npa": "0",
    "dma": "0",
    "cid": "1234567890.1732443200",
    "ul": "en-gb",
    "sr": "1920x1080",
    "uaa": "x86",
    "uab": "64",
    "uafvl": "Chromium;131.0.6778.85|Not_A%20Brand;24.0.0.0",
    "uamb": "0",
    "uam": "",
    "uap": "Linux",
    "uapv": "6.1.0",
    "uaw": "0",
    "_s": "1",
    "sid": "1732443200",
    "sct": "3",
    "seg": "1",
    "dl": "https://shop.example/products/shoes?utm_source=news&color=red#reviews",
    "dr": "https://www.search.example/",
    "dt": "Shoes | Shop",
    "en": "page_view",
    "_fv": "1",
    "_ss": "1",
    "_et": "0",
}


def one(params: dict[str, str], index: int = 0, user_agent: str | None = UA) -> Hit:
    result = gtag.to_hit(params, index, RECEIVED, user_agent)
    assert isinstance(result, Hit), result
    return result


def errors(params: dict[str, str]) -> list[FieldError]:
    result = gtag.to_hit(params, 0, RECEIVED, UA)
    assert isinstance(result, list), result
    return result


# -- splitting requests ---------------------------------------------------------------------------


def test_get_or_empty_post_is_one_event_from_the_query() -> None:
    collect = gtag.split_request(urlencode(PAGE_VIEW), b"")

    assert collect.measurement_id == "G-DEV"
    assert collect.errors == []
    assert collect.events == [(0, PAGE_VIEW)]


def test_batched_body_lines_are_events_merged_over_the_query() -> None:
    shared = {"v": "2", "tid": "G-DEV", "cid": "1.2", "en": "ignored_default"}
    body = "en=page_view&_s=1\r\nen=scroll&epn.percent_scrolled=90&_s=2\n\nen=click&cid=9.9&_s=3\n"

    collect = gtag.split_request(urlencode(shared), body.encode())

    assert [i for i, _ in collect.events] == [0, 1, 2]
    assert [p["en"] for _, p in collect.events] == ["page_view", "scroll", "click"]
    assert all(p["tid"] == "G-DEV" for _, p in collect.events)
    assert collect.events[2][1]["cid"] == "9.9"  # a line's parameter wins over the query's
    assert collect.events[0][1]["cid"] == "1.2"


def test_measurement_id_may_come_from_the_lines() -> None:
    collect = gtag.split_request("", b"v=2&tid=G-ABC123&en=page_view")

    assert collect.measurement_id == "G-ABC123"


def test_a_bad_line_is_rejected_by_index_and_the_others_kept() -> None:
    body = b"en=ok_one\nen=%FF%FE\nen=ok_two"

    collect = gtag.split_request("tid=G-DEV", body)

    assert [i for i, _ in collect.events] == [0, 2]
    assert collect.errors == [(1, [FieldError("events[1]", "not valid percent-encoded UTF-8")])]


def test_an_oversized_line_is_rejected_as_too_large() -> None:
    body = b"en=ok\nen=big&ep.blob=" + b"x" * (33 * 1024)

    collect = gtag.split_request("tid=G-DEV", body)

    assert [i for i, _ in collect.events] == [0]
    assert collect.errors == [(1, [FieldError("events[1]", EVENT_TOO_LARGE)])]


@pytest.mark.parametrize(
    ("query", "body", "path"),
    [
        ("tid=G-DEV&en=%C3%28", b"", "query"),
        ("tid=G-DEV", b"\xff\xfe", "body"),
        ("tid=G-DEV", b"en=x\n" * 2501, "body"),
        ("&".join(f"ep.k{i}=v" for i in range(501)), b"", "query"),
    ],
)
def test_request_level_errors_come_back_at_index_minus_one(query: str, body: bytes, path: str) -> None:
    collect = gtag.split_request(query, body)

    assert collect.events == []
    assert collect.errors[0][0] == -1
    assert collect.errors[0][1][0].path == path


def test_lines_for_another_measurement_id_are_rejected() -> None:
    collect = gtag.split_request("tid=G-DEV&v=2", b"en=a\nen=b&tid=G-OTHER1")

    results = dict(gtag.hits(collect, RECEIVED, UA))

    assert isinstance(results[0], Hit)
    assert results[1] == [FieldError("events[1].tid", "must match the request's measurement id")]


# -- parameters to a canonical hit ----------------------------------------------------------------


def test_page_view_becomes_a_page_hit_with_page_session_and_device_data() -> None:
    hit = one(PAGE_VIEW)

    assert hit.type == "page"
    assert hit.event is None
    assert hit.anonymousId == "1234567890.1732443200"
    assert hit.timestamp == hit.receivedAt == RECEIVED
    assert hit.context["page"] == {
        "url": PAGE_VIEW["dl"],
        "path": "/products/shoes",
        "search": "?utm_source=news&color=red",
        "referrer": "https://www.search.example/",
        "title": "Shoes | Shop",
    }
    assert hit.context["session"] == {
        "id": "1732443200",
        "number": 3,
        "engaged": True,
        "engagementTimeMs": 0,
        "firstVisit": True,
        "start": True,
    }
    assert hit.context["locale"] == "en-gb"
    assert hit.context["screen"] == {"width": 1920, "height": 1080}
    assert hit.context["userAgent"] == UA
    assert hit.context["library"] == {"name": "gtag", "version": "2"}
    assert hit.context["userAgentData"] == {
        "fullVersionList": [
            {"brand": "Chromium", "version": "131.0.6778.85"},
            {"brand": "Not_A Brand", "version": "24.0.0.0"},
        ],
        "architecture": "x86",
        "bitness": "64",
        "model": "",
        "platform": "Linux",
        "platformVersion": "6.1.0",
        "mobile": False,
        "wow64": False,
    }


def test_custom_event_with_typed_params_user_properties_and_campaign() -> None:
    params = {
        "v": "2",
        "tid": "G-DEV",
        "cid": "1.2",
        "uid": "customer-77",
        "en": "sign_up",
        "ep.method": "email",
        "epn.value": "12.50",
        "epn.count": "3",
        "up.plan": "pro",
        "upn.seats": "5",
        "cs": "newsletter",
        "cm": "email",
        "cn": "black_friday",
        "ck": "shoes",
        "cc": "banner_a",
        "ci": "bf-26",
    }

    hit = one(params)

    assert (hit.type, hit.event, hit.userId) == ("track", "sign_up", "customer-77")
    assert hit.properties == {"method": "email", "value": 12.5, "count": 3}
    assert isinstance(hit.properties["count"], int)
    assert hit.context["traits"] == {"plan": "pro", "seats": 5}
    assert hit.context["campaign"] == {
        "name": "black_friday",
        "source": "newsletter",
        "medium": "email",
        "term": "shoes",
        "content": "banner_a",
        "id": "bf-26",
    }


def test_items_become_properties_items_with_ga4_names() -> None:
    params = {
        "tid": "G-DEV",
        "en": "purchase",
        "cu": "EUR",
        "pr2": "idSKU-2~nmSocks~pr4.5~qt2",
        "pr1": "idSKU-1~nmShoes~brAcme~caApparel~c2Men~vaRed~pr89.90~qt1~ds10~k0size~v042",
        "ep.transaction_id": "T-1",
    }

    hit = one(params)

    assert hit.properties["currency"] == "EUR"
    assert hit.properties["items"] == [
        {
            "item_id": "SKU-1",
            "item_name": "Shoes",
            "item_brand": "Acme",
            "item_category": "Apparel",
            "item_category2": "Men",
            "item_variant": "Red",
            "price": 89.9,
            "quantity": 1,
            "discount": 10,
            "size": "42",
        },
        {"item_id": "SKU-2", "item_name": "Socks", "price": 4.5, "quantity": 2},
    ]


def test_consent_parameters_are_kept_raw_for_the_consent_stage_and_never_forwarded() -> None:
    params = {
        **PAGE_VIEW,
        "gdpr": "1",
        "gdpr_consent": "CQJxYAAQJxYAAAHABBENBPFgAP_gAAAAAAAAAAAAAAAA",
        "us_privacy": "1YNN",
        "dma_cps": "sypham",
    }

    hit = one(params)

    assert hit.consent.model_dump(exclude_none=True) == {
        "gcs": "G111",
        "gcd": "13r3r3r3r5",
        "npa": "0",
        "dma": "0",
        "dmaCps": "sypham",
        "gdpr": "1",
        "tcString": "CQJxYAAQJxYAAAHABBENBPFgAP_gAAAAAAAAAAAAAAAA",
        "usPrivacy": "1YNN",
    }
    payload = str(hit.to_payload())
    assert "CQJxYAAQ" not in payload
    assert "13r3r3r3r5" not in payload


def test_client_ip_override_is_never_trusted() -> None:
    hit = one({**PAGE_VIEW, "_uip": "203.0.113.77", "uip": "203.0.113.77"})

    assert "ip" not in hit.context
    assert "203.0.113.77" not in str(hit.to_payload())


def test_message_id_is_stable_for_a_retried_hit_and_distinct_per_line() -> None:
    first = one(PAGE_VIEW, index=0)
    retried = one(PAGE_VIEW, index=0)
    other_line = one(PAGE_VIEW, index=1)
    next_hit = one({**PAGE_VIEW, "_s": "2"}, index=0)

    assert first.messageId == retried.messageId
    assert len({first.messageId, other_line.messageId, next_hit.messageId}) == 3


def test_message_id_differs_for_two_visitors_sharing_page_load_and_sequence() -> None:
    """gtag draws ``_p`` from 2^31: at a million page loads a day, hundreds of pairs of visitors
    share one. Their hits with the same ``_s``, line and name must stay two events."""
    one_visitor = one({**PAGE_VIEW, "cid": "111111111.1700000000"})
    other_visitor = one({**PAGE_VIEW, "cid": "222222222.1700000001"})

    assert one_visitor.messageId != other_visitor.messageId


def test_message_id_is_random_without_a_page_load_id() -> None:
    params = {k: v for k, v in PAGE_VIEW.items() if k != "_p"}

    assert one(params).messageId != one(params).messageId


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"en": ""}, "events[0].en", "an event name is required"),
        ({"en": "1bad"}, "events[0].en", "must start with a letter and hold only letters, digits and _"),
        ({"en": "has space"}, "events[0].en", "must start with a letter and hold only letters, digits and _"),
        ({"v": "1"}, "events[0].v", "only GA4 hits (v=2) are accepted"),
        ({"epn.value": "12,50"}, "events[0].epn", "must be a finite number"),
        ({"upn.ltv": "inf"}, "events[0].upn", "must be a finite number"),
        ({"ep.note": "x" * 9000}, "events[0]", "a parameter value is longer than 8192 characters"),
    ],
)
def test_invalid_parameters_name_the_path_and_rule(change: dict[str, str], path: str, reason: str) -> None:
    found = errors({**PAGE_VIEW, **change})

    assert FieldError(path, reason) in found


def test_errors_never_echo_values_or_client_parameter_names() -> None:
    secret = "jane.doe@example.com"
    found = errors({**PAGE_VIEW, f"epn.{secret}": secret, "en": secret})

    assert secret not in repr(found)


def test_missing_event_name_at_the_query_level() -> None:
    params: dict[str, Any] = {k: v for k, v in PAGE_VIEW.items() if k != "en"}

    assert FieldError("events[0].en", "an event name is required") in errors(params)


def test_unusable_screen_sizes_are_left_out() -> None:
    for size in ("", "big", "1920x", "x1080", "1920*1080", "99999999x1"):
        assert "screen" not in one({**PAGE_VIEW, "sr": size}).context
