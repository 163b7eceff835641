"""No client-chosen key in any error body (issue 17, class 7): error paths name only fields of
fairtrack's own models; a key the client chose is shown by its position (``<key #n>``, from 1)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from fairtrack.consent import receipts
from fairtrack.errors import ClientError, FieldError, format_loc
from fairtrack.hit import Campaign, ConsentSignals, Context, Hit, Library, Page, Session, UserData
from fairtrack.protocols import gtag, segment

RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
REFERENCE_KEY = "zzreference"


def _names(*models: Any) -> set[str]:
    out: set[str] = set()
    for model in models:
        out |= (
            set(model.model_fields)
            if isinstance(model, type) and issubclass(model, BaseModel)
            else set(model.__annotations__)
        )
    return out


# keys that are fields where they sit would change what is validated, not only the key's text
FIELD_NAMES = (
    _names(Hit, segment.SegmentEvent, Context, Page, Campaign, Library, Session, ConsentSignals, UserData)
    | _names(receipts.ConsentRequest, receipts.SegmentConsent, receipts.RudderConsent)
    | {
        "batch",
        "consent",
        "consentManagement",
        "address",
    }
)

emails = st.from_regex(r"[a-z]{1,8}\.[a-z]{1,8}@[a-z]{2,8}\.(com|org|example)", fullmatch=True)
plain_names = st.from_regex(r"user_[0-9]{1,4}_[a-z]{2,8}_[a-z]{2,8}", fullmatch=True)  # SAFE_KEY-shaped
any_text = st.text(min_size=1, max_size=40)
client_keys = st.one_of(emails, plain_names, any_text).filter(lambda k: k not in FIELD_NAMES and k != REFERENCE_KEY)


def deep(levels: int = 10) -> dict[str, Any]:
    value: dict[str, Any] = {"x": 1}
    for _ in range(levels):
        value = {"y": value}
    return value


def answer(errors: list[FieldError]) -> str:
    """The error body ingest and the receipts route answer with."""
    return json.dumps(ClientError(400, "invalid_event", "not valid", errors).body(), ensure_ascii=False)


def check(build: Callable[[str], str], key: str) -> None:
    """The answer to a body holding ``key`` is the answer to the same body holding a reference key
    instead (so it cannot depend on the key's text), and never holds the key itself."""
    with_key, reference = build(key), build(REFERENCE_KEY)
    assert REFERENCE_KEY not in reference, reference
    assert with_key == reference
    if key not in reference:
        assert key not in with_key


# -- Segment / RudderStack events ---------------------------------------------------------------------

# where a client chooses keys in an event, as (path to the object, what to put under the key)
SEGMENT_PLACES: list[tuple[tuple[str, ...], Any]] = [
    ((), deep()),
    (("properties",), deep()),
    (("traits",), deep()),
    (("integrations",), deep()),
    (("context",), deep()),
    (("context", "page"), deep()),
    (("context", "campaign"), deep()),
    (("context", "library"), deep()),
    (("context", "session"), deep()),
    (("context", "userAgentData"), deep()),
    (("context", "device"), deep()),
    (("context", "os"), deep()),
    (("context", "screen"), deep()),
    (("context", "traits"), deep()),
    (("context", "consent"), deep()),
    (("context", "consent", "categoryPreferences"), deep()),
    (("context", "consentManagement"), deep()),
]


def segment_event(key: str, place: tuple[str, ...], value: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "track",
        "event": "Order",
        "anonymousId": "a-1",
        "timestamp": "not a time",  # invalid in a field of fairtrack's own too
        "properties": {"first": 1},
        "context": {"page": {"title": {"t": 1}}, "consent": {"categoryPreferences": {"analytics": True}}},
    }
    target = event
    for name in place:
        target = target.setdefault(name, {})
    target[key] = value
    return event


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=client_keys, place=st.sampled_from(SEGMENT_PLACES), batch=st.booleans())
def test_segment_errors_never_name_a_client_key(key: str, place: tuple[tuple[str, ...], Any], batch: bool) -> None:
    def build(k: str) -> str:
        event = segment_event(k, place[0], place[1])
        parsed = segment.parse_event(event, implied_type=None, path="batch[0]" if batch else "")
        assert isinstance(parsed, list), parsed
        return answer(parsed)

    check(build, key)


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(client_keys, min_size=1, max_size=4, unique=True))
def test_a_batch_answer_never_names_a_client_key(keys: list[str]) -> None:
    def build(ks: list[str]) -> str:
        body = {"context": dict.fromkeys(ks, deep()), "batch": [segment_event(k, ("properties",), deep()) for k in ks]}
        events, errors, _ = segment.batch_events(body)
        assert not errors
        found: list[FieldError] = []
        for index, raw in events:
            parsed = segment.parse_event(raw, implied_type=None, path=f"batch[{index}]")
            assert isinstance(parsed, list)
            found += parsed
        return answer(found)

    reference = [f"{REFERENCE_KEY}{i}" for i in range(len(keys))]
    with_keys, without = build(keys), build(reference)
    assert with_keys == without
    for key in keys:
        if key not in without:
            assert key not in with_keys


# -- consent receipts ------------------------------------------------------------------------------------

RECEIPT_PLACES: list[tuple[tuple[str, ...], Any]] = [
    ((), "x"),
    (("consent",), "x"),
    (("consent", "categoryPreferences"), "yes"),  # not a boolean: invalid under the key
    (("consent", "categoryPreferences"), {"nested": True}),
    (("consentManagement",), "x"),
    (("context",), deep()),
]


@settings(max_examples=150, deadline=None)
@given(key=client_keys, place=st.sampled_from(RECEIPT_PLACES), long_key=st.booleans())
def test_receipt_errors_never_name_a_client_key(key: str, place: tuple[tuple[str, ...], Any], long_key: bool) -> None:
    def build(k: str) -> str:
        if long_key and place[0] == ("consent", "categoryPreferences"):
            k = k * (129 // len(k) + 1)  # longer than a category may be: an error about the key itself
        body: dict[str, Any] = {
            "anonymousId": "a-1",
            "gcs": "G1x1",
            "consent": {"categoryPreferences": {"analytics": True}},
            "consentManagement": {"allowedConsentIds": ["C0002"]},
        }
        target = body
        for name in place[0]:
            target = target.setdefault(name, {})
        target[k] = place[1]
        parsed = receipts.parse_request(body, json.dumps(body).encode())
        assert isinstance(parsed, list), parsed
        return answer(parsed)

    check(build, key)


def test_a_category_is_named_by_its_position() -> None:
    body = {"anonymousId": "a", "consent": {"categoryPreferences": {"analytics": True, "user_42_jane_doe": "yes"}}}
    assert receipts.parse_request(body) == [
        FieldError("consent.categoryPreferences.<key #2>", "Input should be a valid boolean")
    ]


def test_an_error_about_the_key_itself_says_so() -> None:
    body = {"anonymousId": "a", "consent": {"categoryPreferences": {"k" * 200: True}}}
    (error,) = receipts.parse_request(body)  # type: ignore[misc]
    assert error.path == "consent.categoryPreferences.<key #1>"
    assert error.reason.startswith("the key: ")


def test_a_receipt_key_given_twice_with_different_values_is_refused() -> None:
    text = b'{"anonymousId":"a","consent":{"categoryPreferences":{"user_42_jane_doe":false,"user_42_jane_doe":true}}}'
    found = receipts.parse_request(json.loads(text), text)
    assert found == [FieldError("consent.categoryPreferences", receipts.GIVEN_TWICE)]
    text = b'{"anonymousId":"a","gcs":"G100","gcs":"G111"}'
    assert receipts.parse_request(json.loads(text), text) == [FieldError("gcs", receipts.GIVEN_TWICE)]
    same = b'{"anonymousId":"a","gcs":"G111","gcs":"G111"}'
    assert isinstance(receipts.parse_request(json.loads(same), same), receipts.ConsentRequest)


# -- gtag ------------------------------------------------------------------------------------------------

GTAG_PREFIXES = ["ep.", "epn.", "up.", "upn.", ""]
# parameters the adapter reads: as a bare key, one of these is a parameter, not a client's key
GTAG_PARAMS = {
    *[
        "v",
        "tid",
        "en",
        "cid",
        "uid",
        "dl",
        "dr",
        "dt",
        "ul",
        "sr",
        "cu",
        "sid",
        "sct",
        "seg",
        "_et",
        "_fv",
        "_ss",
        "_p",
        "_s",
        "gtm",
        "_uip",
    ],
    *["uaa", "uab", "uafvl", "uamb", "uam", "uap", "uapv", "uaw"],
    *gtag._CONSENT,
    *gtag._CAMPAIGN,
}


def a_gtag_parameter(key: str) -> bool:
    return (
        key in GTAG_PARAMS
        or gtag._ITEM.match(key) is not None
        or key.split(".", maxsplit=1)[0] in {"ep", "epn", "up", "upn"}
    )


@settings(max_examples=150, deadline=None)
@given(key=client_keys, prefix=st.sampled_from(GTAG_PREFIXES), in_body=st.booleans())
def test_gtag_errors_never_name_a_client_key(key: str, prefix: str, in_body: bool) -> None:
    assume(prefix or not a_gtag_parameter(key))

    def build(k: str) -> str:
        name, number = quote(prefix + k, safe=""), quote(k, safe="")
        own = f"en=page_view&cid=1.2&{name}=not-a-number&epn.{number}=nan&dt={'x' * 9000}"
        query = "v=2&tid=G-DEV" if in_body else f"v=2&tid=G-DEV&{own}"
        collect = gtag.split_request(query, own.encode() if in_body else b"")
        found = [e for _, hit in gtag.hits(collect, RECEIVED, "UA") if isinstance(hit, list) for e in hit]
        found += [e for _, errs in collect.errors for e in errs]
        assert found
        return answer(found)

    check(build, key)


# -- format_loc ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loc", "data", "path"),
    [
        (("context", "page", "url"), {}, "context.page.url"),
        (("properties", "jane@example.com"), {"properties": {"a": 1, "jane@example.com": 2}}, "properties.<key #2>"),
        (("context", "user_42_jane_doe"), {"context": {"user_42_jane_doe": 1}}, "context.<key #1>"),
        (("context", "user_42_jane_doe"), None, "context.<key>"),
        (("batch", 3), None, "<key>[3]"),
        (("context", "page", "title", "[key]"), {}, "context.page.title"),
    ],
)
def test_format_loc_names_fields_and_numbers_keys(loc: tuple[int | str, ...], data: Any, path: str) -> None:
    assert format_loc(loc, model=segment.SegmentEvent, data=data) == path


def test_without_a_model_no_key_is_named() -> None:
    assert format_loc(("context", "page")) == "<key>.<key>"
