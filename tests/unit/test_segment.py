"""Segment / RudderStack adapter: request events to canonical hits (protocols/segment.py, hit.py)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from segment_products import product

from fairtrack.errors import FieldError
from fairtrack.hit import Hit
from fairtrack.protocols.segment import MAX_DEPTH, MAX_EVENT_BYTES, MAX_KEYS, SegmentEvent, _shape_problem, parse_event

RECEIVED_AT = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
PII = "jane.doe@example.com"
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def track(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "track", "event": "Order Completed", "anonymousId": "anon-1"}
    event.update(overrides)
    return event


def ok(raw: Any, implied_type: Any = "track", path: str = "") -> SegmentEvent:
    parsed = parse_event(raw, implied_type=implied_type, path=path)
    assert isinstance(parsed, SegmentEvent), parsed
    return parsed


def errors(raw: Any, implied_type: Any = "track", path: str = "") -> list[FieldError]:
    parsed = parse_event(raw, implied_type=implied_type, path=path)
    assert isinstance(parsed, list), f"expected errors, got {parsed!r}"
    assert parsed, "an invalid event must give at least one error"
    return parsed


def paths(errs: list[FieldError]) -> list[str]:
    return [e.path for e in errs]


def nested(levels: int) -> dict[str, Any]:
    """A dict whose deepest key sits ``levels`` keys down: nested(2) == {"l1": {"l0": "x"}}."""
    value: dict[str, Any] = {"l0": "x"}
    for i in range(1, levels):
        value = {f"l{i}": value}
    return value


# -- valid events ---------------------------------------------------------------------------------


def test_valid_track_event_becomes_hit() -> None:
    """Given a complete track event, when it is parsed and turned into a hit, then every field is carried."""
    raw = track(
        userId="user-7",
        messageId="msg-1",
        properties={"revenue": 12.5, "currency": "EUR"},
        context={"locale": "en-GB", "page": {"path": "/checkout"}},
        integrations={"All": True},  # unknown top-level keys are accepted and not carried
    )

    hit = ok(raw).to_hit(RECEIVED_AT)

    assert isinstance(hit, Hit)
    assert hit.type == "track"
    assert hit.event == "Order Completed"
    assert hit.userId == "user-7"
    assert hit.anonymousId == "anon-1"
    assert hit.messageId == "msg-1"
    assert hit.properties == {"revenue": 12.5, "currency": "EUR"}
    assert hit.to_payload()["context"] == {"locale": "en-GB", "page": {"path": "/checkout"}}
    assert hit.receivedAt == RECEIVED_AT
    # no client timestamp at all: the hit happened when it was received
    assert hit.timestamp == RECEIVED_AT
    assert "integrations" not in hit.to_payload()


def test_type_is_implied_by_the_route_when_absent() -> None:
    """Given a /v1/page body without ``type``, when parsed for the page route, then the type is page."""
    parsed = ok({"anonymousId": "a", "name": "Home"}, implied_type="page")

    assert parsed.type == "page"
    assert parsed.name == "Home"


def test_user_id_null_is_treated_as_absent() -> None:
    """Given ``userId: null`` next to an anonymousId, when parsed, then the event is valid and has no userId."""
    hit = ok(track(userId=None)).to_hit(RECEIVED_AT)

    assert hit.userId is None
    assert "userId" not in hit.to_payload()


def test_user_id_null_does_not_count_as_an_identifier() -> None:
    """Given ``userId: null`` and no anonymousId, when parsed, then the event is rejected for lacking an id."""
    raw = {"type": "track", "event": "e", "userId": None}

    errs = errors(raw)

    assert any("userId or anonymousId" in e.reason for e in errs)


@pytest.mark.parametrize(("sent", "expected"), [(42, "42"), (0, "0"), (1.5, "1.5"), (10**15, str(10**15))])
def test_numeric_ids_become_strings(sent: float, expected: str) -> None:
    """Given a numeric userId and anonymousId (SDKs send both), when parsed, then they are strings."""
    parsed = ok(track(userId=sent, anonymousId=sent))

    assert parsed.userId == expected
    assert parsed.anonymousId == expected


@pytest.mark.parametrize("field", ["userId", "anonymousId"])
@pytest.mark.parametrize("value", [True, False])
def test_boolean_id_is_rejected(field: str, value: bool) -> None:
    """Given ``true``/``false`` as an id (a bool is an int in Python), when parsed, then that id is rejected."""
    raw = {"type": "track", "event": "e", "userId": "u", "anonymousId": "a", field: value}

    assert field in paths(errors(raw))


def test_missing_both_ids_is_rejected() -> None:
    """Given neither userId nor anonymousId, when parsed, then it is rejected with a reason naming both."""
    errs = errors({"type": "track", "event": "e"})

    assert any("userId" in e.reason and "anonymousId" in e.reason for e in errs)


@pytest.mark.parametrize("raw_event", [{}, {"event": None}, {"event": ""}])
def test_track_without_event_is_rejected(raw_event: dict[str, Any]) -> None:
    """Given a track event with no (or an empty) event name, when parsed, then it is rejected."""
    raw = {"type": "track", "anonymousId": "a", **raw_event}

    errs = errors(raw)

    assert any("event" in e.path or "event" in e.reason for e in errs)


def test_page_without_event_name_is_valid() -> None:
    """Given a page event without ``event`` (only track needs one), when parsed, then it is valid."""
    assert ok({"type": "page", "anonymousId": "a"}, implied_type="page").event is None


def test_wrong_type_for_route_is_rejected_with_path_type() -> None:
    """Given ``type: page`` posted to /v1/track, when parsed, then the error path is ``type``."""
    errs = errors(track(type="page"), implied_type="track")

    assert paths(errs) == ["type"]
    assert "track" in errs[0].reason


def test_unknown_type_is_rejected_on_batch() -> None:
    """Given an unknown ``type`` in a batch (no implied type), when parsed, then the error path is ``type``."""
    assert "type" in paths(errors(track(type="purchase"), implied_type=None))


def test_non_object_event_is_rejected() -> None:
    """Given an event that is a JSON array, when parsed, then it is rejected at the event's own path."""
    assert paths(errors(["not", "an", "object"], path="batch[0]")) == ["batch[0]"]
    assert paths(errors("text")) == ["body"]


# -- shape limits ---------------------------------------------------------------------------------


def test_nesting_deeper_than_limit_is_rejected_with_path() -> None:
    """Given properties nested far deeper than 8 levels, when parsed, then the error path is ``properties``."""
    errs = errors(track(properties=nested(MAX_DEPTH + 4)))

    assert paths(errs) == ["properties"]
    assert str(MAX_DEPTH) in errs[0].reason


def test_nesting_limit_boundary() -> None:
    """Given a key path of exactly 8 keys below ``properties`` it is accepted; 9 keys is one level too deep."""
    assert ok(track(properties=nested(MAX_DEPTH))).properties == nested(MAX_DEPTH)
    assert paths(errors(track(properties=nested(MAX_DEPTH + 1)))) == ["properties"]


def test_nesting_through_lists_counts_too() -> None:
    """Given deep nesting built from lists inside context, when parsed, then it is rejected at ``context``."""
    deep: Any = "x"
    for _ in range(MAX_DEPTH + 4):
        deep = [deep]

    assert paths(errors(track(context={"deep": deep}))) == ["context"]


def test_more_than_max_keys_is_rejected() -> None:
    """Given properties holding MAX_KEYS + 1 keys and items (small enough for 32 KB: a list of zeros),
    when parsed, then it is rejected at ``properties``; MAX_KEYS pass."""
    at_limit = {"zeros": [0] * (MAX_KEYS - 1)}  # 1 key + MAX_KEYS - 1 items
    over = {"zeros": [0] * MAX_KEYS}

    assert len(ok(track(properties=at_limit)).properties["zeros"]) == MAX_KEYS - 1
    errs = errors(track(properties=over))
    assert paths(errs) == ["properties"]
    assert f"{MAX_KEYS} keys" in errs[0].reason


def test_keys_in_nested_objects_are_counted() -> None:
    """Given MAX_KEYS + 1 keys and items spread over nested lists (none of them alone over the
    limit), then it is rejected."""
    spread = {"a": [[0] * 999 for _ in range(5)], "b": [0] * 1}  # 2 keys + 5 lists + 4,995 + 1 items

    assert paths(errors(track(properties=spread))) == ["properties"]


def test_ecommerce_lists_pass_the_structural_bound() -> None:
    """Given a Product List Viewed with 50 full products (the old bound, 500 keys, refused it) and an
    order of 200 full products (over 32 KB, so refused only by size, never by its shape), then the
    first is accepted and the shape of the second passes the structural bound."""
    listed = track(
        event="Product List Viewed", properties={"list_id": "l", "products": [product(i) for i in range(50)]}
    )
    assert len(ok(listed).properties["products"]) == 50
    order = {"order_id": "o-1", "total": 4000, "currency": "EUR", "products": [product(i) for i in range(200)]}
    assert _shape_problem(order) is None


def test_event_over_32_kb_is_rejected() -> None:
    """Given an event whose JSON is over 32 KB, when parsed, then it is rejected as a whole with a size reason."""
    raw = track(properties={"blob": "x" * MAX_EVENT_BYTES})

    errs = errors(raw, path="batch[3]")

    assert paths(errs) == ["batch[3]"]
    assert "32 KB" in errs[0].reason


def test_event_size_counts_utf8_bytes() -> None:
    """Given 12,000 three-byte characters (36 KB of UTF-8, 12 K characters), then the event is too large."""
    raw = track(properties={"text": "€" * 12_000})
    as_text = json.dumps(raw, ensure_ascii=False)
    assert len(as_text) < MAX_EVENT_BYTES < len(as_text.encode())

    assert any("KB" in e.reason for e in errors(raw))


# -- error paths and privacy ----------------------------------------------------------------------


def test_error_paths_get_the_batch_prefix() -> None:
    """Given the third event of a batch has a bad userId, when parsed with its prefix, then the path says so."""
    errs = errors(track(userId=True), implied_type=None, path="batch[2]")

    assert paths(errs) == ["batch[2].userId"]


def test_wrong_type_error_gets_the_batch_prefix() -> None:
    """Given a prefix and a type that does not match the route, then the path is ``<prefix>.type``."""
    assert paths(errors(track(type="identify"), implied_type="track", path="batch[1]")) == ["batch[1].type"]


@pytest.mark.parametrize(
    "bad",
    [
        {"timestamp": PII},
        {"originalTimestamp": PII},
        {"sentAt": PII},
        {"messageId": PII * 6},  # longer than 100 characters
        {"userId": PII * 11},  # longer than 200 characters
        {"event": PII * 11},
        {"type": PII},
        {"context": PII},
        {"properties": [PII]},
    ],
    ids=lambda bad: next(iter(bad)),
)
def test_error_reasons_never_contain_the_submitted_value(bad: dict[str, Any]) -> None:
    """Given personal data in a bad field, when rejected, then no error path or reason repeats it."""
    errs = errors(track(**bad), implied_type=None, path="batch[0]")

    rendered = json.dumps([e.as_dict() for e in errs])
    assert "jane" not in rendered.lower()
    assert "example.com" not in rendered
    assert next(iter(bad)) in rendered  # but the failing field is named


# -- timestamps -----------------------------------------------------------------------------------


def test_clock_correction_uses_sent_at_and_original_timestamp() -> None:
    """Given a client clock that runs 1 h fast, when received, then the timestamp is corrected for the skew."""
    original = datetime(2024, 5, 1, 13, 0, 0, tzinfo=UTC)  # client clock
    sent_at = original + timedelta(seconds=3)  # client clock, 3 s later
    raw = track(originalTimestamp=original.isoformat(), sentAt=sent_at.isoformat())

    hit = ok(raw).to_hit(RECEIVED_AT)

    assert hit.timestamp == RECEIVED_AT - (sent_at - original)
    assert hit.timestamp == RECEIVED_AT - timedelta(seconds=3)


def test_clock_correction_uses_the_batch_sent_at() -> None:
    """Given sentAt only on the batch, when the event is turned into a hit, then the batch value is used."""
    original = datetime(2024, 5, 1, 11, 0, 0, tzinfo=UTC)
    batch_sent_at = datetime(2024, 5, 1, 11, 0, 10, tzinfo=UTC)

    hit = ok(track(timestamp=original.isoformat())).to_hit(RECEIVED_AT, batch_sent_at)

    assert hit.timestamp == RECEIVED_AT - (batch_sent_at - original)


def test_event_sent_at_wins_over_batch_sent_at() -> None:
    """Given sentAt on the event and on the batch, then the event's own value is used."""
    original = datetime(2024, 5, 1, 11, 0, 0, tzinfo=UTC)
    own = original + timedelta(seconds=2)
    batch = original + timedelta(seconds=50)
    raw = track(originalTimestamp=original.isoformat(), sentAt=own.isoformat())

    assert ok(raw).to_hit(RECEIVED_AT, batch).timestamp == RECEIVED_AT - (own - original)


def test_timestamp_without_sent_at_is_kept_as_sent() -> None:
    """Given a timestamp but no sentAt anywhere, then the hit keeps the client's timestamp unchanged."""
    original = datetime(2024, 4, 30, 8, 15, tzinfo=UTC)

    assert ok(track(timestamp=original.isoformat())).to_hit(RECEIVED_AT).timestamp == original


def test_naive_timestamps_are_utc() -> None:
    """Given timestamps without a zone, when made into a hit, then they are read as UTC."""
    alone = ok(track(timestamp="2024-05-01T10:00:00")).to_hit(RECEIVED_AT)
    mixed = ok(track(timestamp="2024-05-01T10:00:00", sentAt="2024-05-01T12:00:05.500+02:00")).to_hit(RECEIVED_AT)
    sent_naive = ok(track(timestamp="2024-05-01T12:00:00+02:00", sentAt="2024-05-01T10:00:05.500")).to_hit(RECEIVED_AT)

    assert alone.timestamp == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert alone.to_payload()["timestamp"] == "2024-05-01T10:00:00.000Z"
    assert mixed.timestamp == RECEIVED_AT - timedelta(seconds=5.5)
    assert sent_naive.timestamp == RECEIVED_AT - timedelta(seconds=5.5)


@pytest.mark.parametrize(
    ("text", "offset_hours"), [("2024-05-01T12:00:00+02:00", 2), ("2024-05-01T12:00:00-05:00", -5)]
)
def test_timestamps_with_an_offset_keep_it(text: str, offset_hours: int) -> None:
    """Given timestamps with an explicit offset, when parsed, then the instant is not shifted to UTC wall time."""
    expected = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=offset_hours)))

    assert ok(track(timestamp=text)).timestamp == expected


# -- context.ip, payload, messageId ----------------------------------------------------------------


def test_client_sent_context_ip_is_dropped() -> None:
    """Given a client that sends its own ``context.ip``, when turned into a hit, then it is not carried."""
    hit = ok(track(context={"ip": "203.0.113.77", "locale": "de-DE"})).to_hit(RECEIVED_AT)

    assert "ip" not in hit.context
    assert hit.to_payload()["context"] == {"locale": "de-DE"}
    assert "203.0.113.77" not in json.dumps(hit.to_payload())


def test_payload_omits_absent_and_empty_fields() -> None:
    """Given a hit without name, userId, context or traits, when serialised, then those keys are absent."""
    hit = ok(track(properties={"a": 1})).to_hit(RECEIVED_AT)

    payload = hit.to_payload()

    assert set(payload) == {"type", "messageId", "event", "anonymousId", "timestamp", "receivedAt", "properties"}


def test_payload_formats_timestamps_in_utc_with_milliseconds() -> None:
    """Given timestamps with microseconds and an offset, then the payload writes UTC with ms and a ``Z``."""
    paris = timezone(timedelta(hours=2))
    hit = Hit(
        type="page",
        messageId="m",
        timestamp=datetime(2024, 5, 1, 14, 30, 15, 123_456, tzinfo=paris),
        receivedAt=datetime(2024, 5, 1, 12, 30, 16, 7_000, tzinfo=UTC),
    )

    payload = hit.to_payload()

    assert payload["timestamp"] == "2024-05-01T12:30:15.123Z"
    assert payload["receivedAt"] == "2024-05-01T12:30:16.007Z"
    assert ISO_MS.match(payload["timestamp"])
    assert payload == {
        "type": "page",
        "messageId": "m",
        "timestamp": payload["timestamp"],
        "receivedAt": payload["receivedAt"],
    }


def test_payload_is_json_serialisable() -> None:
    """Given any parsed hit, then its payload can be written as JSON (the queue and lake need that)."""
    hit = ok(track(userId=5, context={"page": {"path": "/"}}, traits={"plan": "pro"})).to_hit(RECEIVED_AT)

    assert json.loads(json.dumps(hit.to_payload()))["userId"] == "5"


def test_message_id_is_generated_when_absent() -> None:
    """Given no messageId, when two hits are made, then each gets its own UUID."""
    parsed = ok(track())

    first = parsed.to_hit(RECEIVED_AT)
    second = parsed.to_hit(RECEIVED_AT)

    assert uuid.UUID(first.messageId)
    assert uuid.UUID(second.messageId)
    assert first.messageId != second.messageId


def test_client_message_id_is_kept() -> None:
    """Given a messageId with surrounding spaces, then it is kept (stripped) for deduplication."""
    assert ok(track(messageId="  ajs-123  ")).to_hit(RECEIVED_AT).messageId == "ajs-123"


# -- found by the SDK fixture and property tests ---------------------------------------------------


@pytest.mark.parametrize("empty", ["", "   "])
def test_empty_user_id_is_absent_like_null(empty: str) -> None:
    """Given RudderStack JS v3's userId "" before identify, then the event is kept by its anonymousId."""
    hit = ok(track(userId=empty, anonymousId="anon-9")).to_hit(RECEIVED_AT)

    assert hit.userId is None
    assert hit.anonymousId == "anon-9"


def test_both_ids_empty_is_still_an_error() -> None:
    assert FieldError("anonymousId", "userId or anonymousId is required") in errors(track(userId="", anonymousId=" "))


@pytest.mark.parametrize(
    "field", ["timestamp", "originalTimestamp", "sentAt"], ids=["timestamp", "originalTimestamp", "sentAt"]
)
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0001-01-01T00:00:00+01:00", "Input should be greater than or equal to 1970-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59-01:00", "Input should be less than or equal to 2200-01-01T00:00:00Z"),
        ("1969-12-31T23:59:59Z", "Input should be greater than or equal to 1970-01-01T00:00:00Z"),
    ],
)
def test_timestamps_outside_1970_2200_are_rejected_not_crashed(field: str, value: str, reason: str) -> None:
    assert FieldError(field, reason) in errors(track(**{field: value}))


def test_client_keys_in_error_paths_are_masked() -> None:
    found = errors(track(context={"session": "x", "page": {"url": 5.5, "title": {"jane.doe@example.com": 1}}}))

    assert "jane.doe" not in repr(found)
    assert {e.path for e in found} >= {"context.session", "context.page.title"}


def test_server_only_fields_sent_by_a_client_are_never_trusted() -> None:
    """Given a client that sends the gateway's own fields (resolved consent, receivedAt, an ip), then
    none of them is taken: consent comes only from the client's consent shapes, time and address
    from the gateway."""
    raw = track(
        consentSignals={"categoryPreferences": {"analytics": True}, "gcs": "G111"},
        receivedAt="2001-01-01T00:00:00Z",
        context={"ip": "203.0.113.9", "consent": {"categoryPreferences": {"analytics": False}}},
    )

    hit = ok(raw).to_hit(RECEIVED_AT)

    assert hit.consent.categoryPreferences == {"analytics": False}
    assert hit.consent.gcs is None
    assert hit.receivedAt == RECEIVED_AT
    assert "ip" not in hit.context


def test_consent_mode_and_tcf_strings_in_context_consent_are_signals() -> None:
    """Given the shape fairtrack.js sends (gtag's consent strings inside ``context.consent``), then
    they become the hit's signals next to Segment's categories; anything but a string is no signal."""
    hit = ok(
        track(context={"consent": {"gcd": "13n3m3m3m5", "gcs": "G101", "npa": "1", "tcString": "CQ", "gdpr": "1"}})
    ).to_hit(RECEIVED_AT)

    assert (hit.consent.gcd, hit.consent.gcs, hit.consent.npa, hit.consent.tcString, hit.consent.gdpr) == (
        "13n3m3m3m5",
        "G101",
        "1",
        "CQ",
        "1",
    )
    odd = ok(track(context={"consent": {"gcd": 5, "tcString": "", "gcs": ["G111"]}})).to_hit(RECEIVED_AT)
    assert not odd.consent.present()


@pytest.mark.parametrize(
    "raw",
    [
        track(),
        track(
            userId=42,
            anonymousId=None,
            properties={"revenue": 9.5, "products": [{"id": "p1"}]},
            context={
                "page": {"url": "https://shop.example/a?b=1", "title": "A"},
                "traits": {"email": "Jane@Example.com", "address": {"city": "Berlin"}},
                "consent": {"categoryPreferences": {"analytics": True}, "gcd": "13r3r3r3r5"},
                "locale": "de-DE",
                "custom": {"x": [1, 2]},
            },
            originalTimestamp="2024-05-01T11:59:00Z",
            sentAt="2024-05-01T11:59:30Z",
        ),
        {"type": "identify", "anonymousId": "a-1", "traits": {"firstName": "Jane", "plan": "pro"}},
        {"type": "page", "anonymousId": "a-2", "name": "Home", "properties": {"path": "/"}},
    ],
)
def test_to_hit_without_revalidation_equals_a_validated_hit(raw: dict[str, Any]) -> None:
    """``to_hit`` builds the hit from values the event model has just validated, without
    validating them again: it must be exactly the hit full validation gives."""
    hit = ok(raw, implied_type=None).to_hit(RECEIVED_AT)
    validated = Hit.model_validate({name: getattr(hit, name) for name in Hit.model_fields})

    assert hit == validated
    assert hit.model_dump() == validated.model_dump()
    assert hit.model_fields_set == validated.model_fields_set
    assert hit.to_payload() == validated.to_payload()
    with pytest.raises(TypeError):
        Hit.from_validated(type="track")  # every field, or none: no silent defaults
