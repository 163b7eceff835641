"""GA4 Measurement Protocol golden payloads written from Google's documentation (issue 18, items 5-8).

Each fixture names the section of Google's documentation it follows; the expected bodies are
written literally from it, not from the mapper's output.

- MP reference: https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference
- MP events reference: https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference/events
- MP user-provided data: https://developers.google.com/analytics/devguides/collection/ga4/uid-data
- MP sending events: https://developers.google.com/analytics/devguides/collection/protocol/ga4/sending-events
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from ga4_track_hits import track_hit as hit

from fairtrack.anonymise.userdata import ga4_user_data
from fairtrack.destinations import Delivery, EventRef, Mapping
from fairtrack.destinations.ga4 import meter_revenue_without_currency
from fairtrack.destinations.ga4_mapping import map_ga4
from fairtrack.destinations.ga4_rules import RESERVED_EVENT_NAMES, RESERVED_PREFIXES, RESERVED_USER_PROPERTY_NAMES
from fairtrack.hit import UserData
from fairtrack.protocols import gtag
from fairtrack.protocols.segment import parse_event
from fairtrack_tools.local.validators.ga4 import (
    GA4_REFERENCE_EVENT_NAMES,
    GA4_REFERENCE_PREFIXES,
    GA4_RESERVED_USER_PROPERTIES,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ANALYTICS = ["necessary", "analytics"]
DENIED = '"consent":{"ad_user_data":"DENIED","ad_personalization":"DENIED"}'
MICROS = 1795600800123000  # 2026-11-25T10:00:00.123Z


def run(*events: dict[str, Any]) -> Mapping:
    return map_ga4([Delivery("sqs-1", "web", 3, [(ANALYTICS, event) for event in events])], now=NOW)


def body(mapping: Mapping) -> str:
    assert len(mapping.requests) == 1, mapping.dropped
    return mapping.requests[0].body.decode("utf-8")


def canonical(parsed: Any) -> dict[str, Any]:
    """A canonical hit as the forwarder receives it (JSON, no nulls)."""
    assert not isinstance(parsed, list), parsed
    dumped: dict[str, Any] = parsed.model_dump(mode="json", exclude_none=True)
    return dumped


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- item 5: MP reference, "Reserved names" ----------------------------------------------------------
# "Reserved event names": an exact list; "Reserved parameter names"/prefixes: names may not begin
# with ga_, google_ or firebase_. Nothing else is reserved. The lists are written from that page as
# data beside the local GA4 validator (local/validators/ga4_reserved.json), independent of the layer,
# whose lists these tests hold to them.
RESERVED_FROM_THE_REFERENCE = sorted(GA4_REFERENCE_EVENT_NAMES)


def test_the_reserved_list_is_the_references_list() -> None:
    assert sorted(RESERVED_EVENT_NAMES) == RESERVED_FROM_THE_REFERENCE


def test_the_reserved_prefixes_and_user_property_names_are_the_references() -> None:
    assert sorted(RESERVED_PREFIXES) == sorted(GA4_REFERENCE_PREFIXES)
    assert RESERVED_USER_PROPERTY_NAMES == GA4_RESERVED_USER_PROPERTIES


@pytest.mark.parametrize("name", [*RESERVED_FROM_THE_REFERENCE, "ga_custom", "google_thing", "firebase_x"])
def test_reserved_names_and_prefixes_are_dropped(name: str) -> None:
    mapping = run(hit(event=name))
    assert mapping.requests == []
    assert mapping.dropped == [(EventRef("sqs-1", "e-1"), "reserved_event_name")]


@pytest.mark.parametrize(
    "name",
    [
        "ad_banner_clicked",
        "notification_bell_opened",
        "adventure_started",
        "errors_shown",
        "app_opened",
        "gallery_view",
    ],
)
def test_names_near_reserved_ones_are_sent(name: str) -> None:
    assert body(run(hit(event=name))) == (
        '{"client_id":"p-3f2a",' + DENIED + ',"events":[{"name":"' + name + '",'
        '"params":{"engagement_time_msec":1},"timestamp_micros":' + str(MICROS) + "}]}"
    )


# --- item 6: MP user-provided data, user_data.address[].sha256_first_name / sha256_last_name -------
# "Remove digits and symbols; Lowercase; Remove leading and trailing spaces; hash with SHA256;
# hex string".


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("O'Brien-Smith 3rd", "obriensmith rd"),
        ("  Jean-Luc  ", "jeanluc"),
        ("Mary  Ann", "mary ann"),
        ("Zoë", "zoë"),
        ("R2-D2", "rd"),
        ("José!!", "josé"),
    ],
)
def test_names_lose_digits_and_symbols_before_hashing(given: str, normalised: str) -> None:
    assert ga4_user_data(UserData(lastName=given, firstName=given)) == {
        "address": [{"sha256_first_name": sha(normalised), "sha256_last_name": sha(normalised)}]
    }


def test_a_name_of_digits_and_symbols_only_is_left_out() -> None:
    assert ga4_user_data(UserData(lastName="3-4 !")) is None


# --- item 7: MP events reference, "purchase" (value: "currency is required if you set value") -------


def test_value_without_currency_keeps_the_event_and_counts_the_lost_revenue(
    capsys: pytest.CaptureFixture[str],
) -> None:
    mapping = run(
        hit(messageId="alone", event="Order Completed", properties={"revenue": 10, "order_id": "o-1"}),
        hit(messageId="euro", event="Order Completed", properties={"revenue": 10, "currency": "EURO"}),
        hit(messageId="ok", event="Order Completed", properties={"revenue": 10, "currency": "eur"}),
        hit(messageId="no-value", event="Order Completed", properties={"currency": "EURO"}),
    )
    events = json.loads(body(mapping))["events"]
    assert [e["params"] for e in events] == [
        {"engagement_time_msec": 1, "value": 10, "transaction_id": "o-1"},
        {"engagement_time_msec": 1, "value": 10},
        {"engagement_time_msec": 1, "value": 10, "currency": "EUR"},
        {"engagement_time_msec": 1},
    ]
    assert mapping.adjustments == Counter(
        {
            "revenue_without_currency:missing_currency": 1,
            "revenue_without_currency:invalid_currency": 1,
            "dropped_param:invalid_currency": 2,
        }
    )
    capsys.readouterr()
    assert meter_revenue_without_currency(mapping.adjustments) == {"missing_currency": 1, "invalid_currency": 1}
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    metered = {m["reason"]: m["Ga4RevenueWithoutCurrency"] for m in emitted if "Ga4RevenueWithoutCurrency" in m}
    assert {reason: float(count if not isinstance(count, list) else count[0]) for reason, count in metered.items()} == {
        "missing_currency": 1.0,
        "invalid_currency": 1.0,
    }


@pytest.mark.parametrize("code", ["USD", "usd", " jpy ", "CHF"])
def test_iso_4217_codes_are_valid(code: str) -> None:
    params = json.loads(body(run(hit(properties={"value": 1, "currency": code}))))["events"][0]["params"]
    assert params["currency"] == code.strip().upper()


@pytest.mark.parametrize("code", ["ABC", "XXX", "XTS", "EU", "€", 978])
def test_codes_that_name_no_currency_are_invalid(code: Any) -> None:
    mapping = run(hit(properties={"value": 1, "currency": code}))
    assert "currency" not in json.loads(body(mapping))["events"][0]["params"]
    assert mapping.adjustments["revenue_without_currency:invalid_currency"] == 1


# --- item 8: sessions (MP sending events: session_id and engagement_time_msec params), campaigns
# (MP events reference "campaign_details": campaign_id, campaign, source, medium, term, content),
# "join_group" (group_id), item-scoped custom parameters (events reference, items).


SIGNED_UP = {"type": "track", "event": "Signed Up", "messageId": "e-1", "anonymousId": "p-3f2a"}


def client_hit(raw: dict[str, Any], received: datetime = NOW) -> dict[str, Any]:
    """A client's Segment or RudderStack event, received at ``received``, as the forwarder gets it."""
    return canonical(parse_event(raw, implied_type=None).to_hit(received))  # type: ignore[union-attr]


def test_rudderstack_session_id_becomes_session_id() -> None:
    raw = {
        **SIGNED_UP,
        "originalTimestamp": "2026-11-25T10:00:00.123Z",
        "context": {"sessionId": 1795600000000, "sessionStart": True},
    }
    event = client_hit(raw, received=datetime(2026, 11, 25, 10, 0, 0, 123000, UTC))
    assert event["context"]["session"] == {"id": "1795600000000", "start": True}
    params = json.loads(body(run(event)))["events"][0]["params"]
    assert params == {"session_id": "1795600000000", "engagement_time_msec": 1}


def test_segment_session_id_becomes_session_id() -> None:
    event = client_hit({**SIGNED_UP, "integrations": {"Actions Amplitude": {"session_id": 1795600000000}}})
    assert event["context"]["session"] == {"id": "1795600000000"}


def test_a_clients_own_session_id_wins() -> None:
    context = {"sessionId": 1795600000000, "session": {"id": "s-1"}}
    event = client_hit({"type": "track", "event": "x", "anonymousId": "a", "context": context})
    assert event["context"]["session"] == {"id": "s-1"}


GTAG_BASE = {
    "v": "2",
    "tid": "G-TEST",
    "cid": "1234.5678",
    "sid": "1795600000",
    "_p": "99",
    "_s": "3",
}


def gtag_event(**params: str) -> dict[str, Any]:
    parsed = gtag.to_hit({**GTAG_BASE, **params}, 0, datetime(2026, 11, 25, 10, 0, 0, 123000, UTC), "UA")
    return canonical(parsed)


def test_gtag_user_engagement_is_relayed_with_its_engagement_time() -> None:
    event = gtag_event(en="user_engagement", _et="4200", dl="https://shop.example/")
    sent = json.loads(body(run(event)))["events"][0]
    assert sent["name"] == "user_engagement"
    assert sent["params"] == {
        "page_location": "https://shop.example/",
        "session_id": "1795600000",
        "engagement_time_msec": 4200,
    }


def test_a_user_engagement_without_engagement_time_is_reserved() -> None:
    assert run(hit(event="user_engagement")).dropped == [(EventRef("sqs-1", "e-1"), "reserved_event_name")]


def test_utm_values_in_the_page_url_become_the_campaign() -> None:
    url = "https://shop.example/?utm_source=news&utm_medium=email&utm_campaign=winter&utm_term=mugs&utm_content=top&utm_id=c-42"
    event = gtag_event(en="page_view", dl=url)
    assert body(run(event)) == (
        '{"client_id":"1234.5678",' + DENIED + ',"events":[{"name":"page_view","params":{'
        '"page_location":"' + url + '","session_id":"1795600000","engagement_time_msec":1,'
        '"campaign":"winter","source":"news","medium":"email","term":"mugs","content":"top","campaign_id":"c-42"},'
        '"timestamp_micros":' + str(MICROS) + "}]}"
    )


def test_context_campaign_wins_over_the_url_field_by_field() -> None:
    event = hit(
        context={
            "page": {"url": "https://shop.example/?utm_source=news&utm_medium=email"},
            "campaign": {"source": "partner", "name": "spring"},
        }
    )
    params = json.loads(body(run(event)))["events"][0]["params"]
    assert {k: params[k] for k in ("campaign", "source", "medium")} == {
        "campaign": "spring",
        "source": "partner",
        "medium": "email",
    }


def test_group_becomes_join_group_with_the_pseudonymous_group_id() -> None:
    event = hit(type="group", event=None, groupId="p-0123456789abcdef0123456789abcdef")
    assert body(run(event)) == (
        '{"client_id":"p-3f2a",' + DENIED + ',"events":[{"name":"join_group","params":{'
        '"group_id":"p-0123456789abcdef0123456789abcdef","engagement_time_msec":1},'
        '"timestamp_micros":' + str(MICROS) + "}]}"
    )


def test_gtag_item_custom_parameters_are_kept() -> None:
    event = gtag_event(en="add_to_cart", pr1="idsku-1~nmMug~k0colour~v0red~k1size~v1L", cu="EUR", **{"epn.value": "12"})
    params = json.loads(body(run(event)))["events"][0]["params"]
    assert params["items"] == [{"item_id": "sku-1", "item_name": "Mug", "colour": "red", "size": "L"}]
    assert params["currency"] == "EUR" and params["value"] == 12


def test_item_custom_parameters_follow_the_parameter_rules() -> None:
    item: dict[str, Any] = {"item_id": "s", "ga_x": "1", "Pack Size": 6, "tags": ["a"], "gone": None}
    item.update({f"c{i}": i for i in range(30)})
    mapping = run(hit(event="Order Completed", properties={"products": [item]}))
    sent = json.loads(body(mapping))["events"][0]["params"]["items"][0]
    assert sent == {"item_id": "s", "pack_size": 6, **{f"c{i}": i for i in range(26)}}
    assert mapping.adjustments == Counter(
        {
            "dropped_item_param:reserved_name": 1,
            "dropped_item_param:not_scalar": 1,
            "dropped_item_param:null": 1,
            "dropped_item_param:over_27": 4,
        }
    )
