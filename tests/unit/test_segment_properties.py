"""Property-based tests of the Segment/RudderStack adapter end to end: ``Ingestor.segment`` and
``Ingestor.segment_batch`` with the real policy store over an in-memory table and a sender that
discards (bench/fakes.py), so nothing here calls AWS.

Properties, for any input (arbitrary JSON, arbitrary bytes, event-shaped dicts with a random type
in every field, huge strings, deep nesting, random Content-Type/Content-Encoding, the base64 flag
on or off, gzip bodies, invalid UTF-8, the write key anywhere or nowhere):

- the answer is an accepted :class:`IngestResult` or a :class:`ClientError` with a 4xx status,
  never any other exception (which the Lambda would turn into a 500);
- a rejection never echoes a submitted value (canary strings planted in the input never appear
  in the error body nor in a batch's ``rejected`` list);
- in a batch, accepted + rejected == the events in the batch;
- every queued message is a valid envelope, one per destination that receives data.

Failures these properties found are pinned by their own tests with the failing input as an
explicit example; lone UTF-16 surrogates (written by JSON as ``"\\ud800"``) have their own
properties at the end.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from unit_ingest import ingest_request

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

from bench.fakes import ORIGIN, DiscardingSender, MemoryPolicyStore, all_destinations_settings, memory_ingestor, quiet
from fairtrack.envelope import Envelope
from fairtrack.errors import ClientError
from fairtrack.hit import EventType
from fairtrack.ingest import IngestRequest, IngestResult
from fairtrack.observability import logger
from fairtrack.stores.queue import MAX_MESSAGE_BYTES

WRITE_KEY = "prop-write-key"
RECEIVED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
CANARY = "zzcanary"  # never part of a field name, a reason or a message

STORE = MemoryPolicyStore(WRITE_KEY, "prop")
SENDER = DiscardingSender()
INGESTOR = memory_ingestor(all_destinations_settings(), STORE, SENDER)

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,  # no example database: every run draws afresh (a failure prints its reproduction)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(PROPERTY, max_examples=40)  # for examples that are large by design


@pytest.fixture(autouse=True, scope="module")
def _no_info_logs() -> Any:
    """Thousands of requests: their INFO lines would only slow pytest's log capture down."""
    std = logging.getLogger(logger.name)
    previous = std.level
    std.setLevel(logging.WARNING)
    yield
    std.setLevel(previous)


# -- running a request ----------------------------------------------------------------------------


make_request = partial(ingest_request, received_at=RECEIVED_AT, request_id="prop-request")


def basic(user: str, password: str = "") -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def event_holding(value: str, where: str, *, key: str = "k", field_prefix: str = "") -> dict[str, Any]:
    """A track event with ``value`` in ``where``: a property (named ``key``), the page title, or a
    top-level field (after ``field_prefix``)."""
    event: dict[str, Any] = {"type": "track", "event": "x", "anonymousId": "a"}
    if where == "properties":
        event["properties"] = {key: value}
    elif where == "context.page.title":
        event["context"] = {"page": {"title": value}}
    else:
        event[where] = field_prefix + value
    return event


def run(request: IngestRequest, route: str | None) -> IngestResult | ClientError:
    """``route`` is an implied event type (``/v1/track`` ...) or None for ``/v1/batch``.
    Returns the result or the ClientError; any other exception fails the test."""
    SENDER.reset_counts()
    try:
        with quiet():  # Powertools' EMF flush every 100 values would print to the captured output
            result = INGESTOR.segment_batch(request) if route is None else INGESTOR.segment(request, route)  # type: ignore[arg-type]
    except ClientError as exc:
        assert 400 <= exc.status < 500, f"status {exc.status}: {exc.body()}"
        assert SENDER.messages == 0, "a refused request queued messages"
        note(f"{exc.status} {exc.code}")  # --hypothesis-show-statistics shows what was exercised
        return exc
    assert isinstance(result, IngestResult)
    note("accepted" if not result.rejected else "accepted with rejections")
    check_messages(result)
    return result


def check_messages(result: IngestResult) -> None:
    """One SendMessage per destination that receives data (more only when one message would pass
    the SQS size limit), each a valid envelope for that destination."""
    events_by_destination: Counter[str] = Counter()
    sizes_by_destination: dict[str, list[int]] = {}
    for _url, body in SENDER.last:
        size = len(body.encode())
        assert size <= MAX_MESSAGE_BYTES
        envelope = Envelope.model_validate_json(body)
        events_by_destination[envelope.destination] += len(envelope.events)
        sizes_by_destination.setdefault(envelope.destination, []).append(size)
    assert dict(events_by_destination) == {d: n for d, n in result.queued.items() if n}
    for sizes in sizes_by_destination.values():
        assert len(sizes) == 1 or sum(sizes) > MAX_MESSAGE_BYTES, f"split without need: {sizes}"
    assert all(n <= result.accepted for n in result.queued.values())


def one_event_body(event: dict[str, Any], route: str | None, **top: Any) -> str:
    """``event`` as a single-event body (typed route) or as a one-event batch; ``top`` goes to the
    body's top level (where the write key is read)."""
    body = {**event, **top} if route is not None else {"batch": [event], **top}
    return json.dumps(body)  # ensure_ascii: a lone surrogate becomes a "\\udXXX" escape, valid JSON


def response_text(outcome: IngestResult | ClientError) -> str:
    """What the client gets back, as JSON text."""
    return json.dumps(outcome.body())


def assert_no_canary(outcome: IngestResult | ClientError) -> None:
    text = response_text(outcome)
    assert CANARY not in text, f"a submitted value is echoed: {text[:500]}"


# -- strategies -----------------------------------------------------------------------------------

canaries = st.integers(0, 10**6).map(lambda n: f"{CANARY}{n}zz")
email_canaries = st.integers(0, 10**6).map(lambda n: f"jane.{CANARY}{n}@example.com")
# st.text() never yields a lone surrogate (those have their own properties at the end)
strings = st.one_of(st.text(max_size=24), canaries)
# Keys that may be personal data (an e-mail) must not be echoed either; a key that looks like a
# plain field name (``zzcanary1zz``) may be, by design (errors.SAFE_KEY), so it is no canary here.
keys = st.one_of(st.text(max_size=24), email_canaries)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(),  # NaN and +-Infinity included: json.dumps writes them, json.loads reads them back
    strings,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)

any_datetimes = st.datetimes(timezones=st.sampled_from([UTC, None]))  # years 1 to 9999
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
offset_datetimes = st.datetimes(timezones=offsets)


def iso_text(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z") if dt.tzinfo is not None else dt.isoformat()


iso_timestamps = (any_datetimes | offset_datetimes).map(iso_text)
plausible_timestamps = st.one_of(  # naive (read as UTC), UTC, or with an offset; 1971 to 2199
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2199, 1, 1)),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2199, 1, 1), timezones=st.just(UTC) | offsets),
).map(iso_text)
timestamp_values = st.one_of(
    iso_timestamps,
    strings,
    st.none(),
    st.booleans(),
    st.integers(),  # unix seconds, or milliseconds past 2e10
    st.floats(),
    st.lists(json_scalars, max_size=2),
)
year_1 = st.datetimes(max_value=datetime(1, 12, 31), timezones=st.just(UTC))
year_9999 = st.datetimes(min_value=datetime(9999, 1, 1), timezones=st.just(UTC))
visitor_ids = st.one_of(st.uuids().map(str), canaries, st.integers(1, 10**12))

# Per field of an event: plausible values, and what a "random type" means for it.
valid_context = st.fixed_dictionaries(
    {},
    optional={
        "page": st.fixed_dictionaries(
            {}, optional={k: strings for k in ("url", "path", "search", "referrer", "title")}
        ),
        "library": st.fixed_dictionaries({"name": strings, "version": strings}),
        "campaign": st.dictionaries(st.sampled_from(["name", "source", "medium", "term", "x"]), strings),
        "consent": st.fixed_dictionaries(
            {},
            optional={
                "categoryPreferences": st.dictionaries(
                    st.sampled_from(["analytics", "Analytics", "advertising", "marketing", "x"]), json_scalars
                )
            },
        ),
        "consentManagement": st.dictionaries(keys, json_values, max_size=3),
        "session": st.fixed_dictionaries(
            {}, optional={"id": strings, "number": st.integers(0, 10**6), "engaged": st.booleans()}
        ),
        "userAgent": strings,
        "userAgentData": st.dictionaries(keys, json_values, max_size=3),
        "locale": strings,
        "timezone": strings,
        "ip": st.sampled_from(["203.0.113.9", "2001:db8::1", "not an ip"]),
        "screen": st.fixed_dictionaries({"width": st.integers(), "height": st.integers()}),
        "traits": st.dictionaries(keys, json_values, max_size=3),
        "extra": json_values,
    },
)
VALID_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(EVENT_TYPES),
    "event": st.one_of(st.sampled_from(["Order Completed", "Signed Up"]), strings),
    "name": strings,
    "userId": visitor_ids,
    "anonymousId": visitor_ids,
    "groupId": visitor_ids,
    "previousId": visitor_ids,
    "messageId": st.one_of(st.uuids().map(str), strings),
    "timestamp": plausible_timestamps,
    "originalTimestamp": plausible_timestamps,
    "sentAt": plausible_timestamps,
    "context": valid_context,
    "properties": st.dictionaries(keys, json_values, max_size=6),
    "traits": st.dictionaries(keys, json_values, max_size=6),
    "integrations": st.dictionaries(keys, st.booleans(), max_size=3),
}
RANDOM_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    **{k: json_values for k in VALID_FIELDS},
    **{k: timestamp_values for k in ("timestamp", "originalTimestamp", "sentAt")},
    # one known context field at a time with a random type
    "context": st.builds(
        lambda ctx, k, v: {**ctx, k: v},
        valid_context,
        st.sampled_from(["page", "library", "campaign", "consent", "session", "userAgent", "locale", "screen", "ip"]),
        json_values,
    ),
}
FIELD_NAMES = sorted(VALID_FIELDS)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """An event-shaped dict: plausible fields, a few of them (or all) with a random type, some absent."""
    present = draw(st.lists(st.sampled_from(FIELD_NAMES), unique=True, min_size=0, max_size=len(FIELD_NAMES)))
    base = {"type": "track", "event": "Order Completed", "anonymousId": "a-1", "groupId": "g-1", "previousId": "p-1"}
    event: dict[str, Any] = dict(base) if draw(st.booleans()) else {}
    randomised = set(draw(st.lists(st.sampled_from(FIELD_NAMES), unique=True, max_size=4)))
    for name in present:
        event[name] = draw(RANDOM_FIELDS[name] if name in randomised else VALID_FIELDS[name])
    for name in draw(st.lists(st.sampled_from(FIELD_NAMES), unique=True, max_size=2)):
        event.pop(name, None)  # required fields go missing too
    return event


# valid events (by construction), so that batches mix accepted and rejected ones
good_events = st.builds(
    lambda kind, anon, extra: {
        "type": kind,
        "event": "Order Completed",
        "groupId": "g-1",
        "previousId": "p-1",
        "anonymousId": anon,
        "context": {"consent": {"categoryPreferences": {"analytics": True}}},
        **extra,
    },
    st.sampled_from(EVENT_TYPES),
    visitor_ids,
    st.fixed_dictionaries({}, optional={"properties": st.dictionaries(keys, json_values, max_size=4)}),
)
batch_members = st.one_of(good_events, events(), json_values)
batches = st.fixed_dictionaries(
    {"batch": st.lists(batch_members, min_size=1, max_size=12)},
    optional={
        "context": st.one_of(valid_context, json_values),
        "sentAt": st.one_of(plausible_timestamps, iso_timestamps, strings, json_scalars),
        "writeKey": json_values,
    },
)
routes: st.SearchStrategy[str | None] = st.one_of(st.none(), st.sampled_from(EVENT_TYPES))
content_types = st.one_of(
    st.sampled_from(
        ["application/json", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"]
    ),
    st.text(max_size=30),
)
content_encodings = st.one_of(
    st.sampled_from(["", "gzip", "GZIP", " gzip ", "identity"]),  # accepted spellings: most examples
    st.sampled_from(["", "gzip", "deflate", "br", "gzip, br", "x-gzip"]),
    st.text(max_size=12),
)
origins = st.one_of(st.none(), st.just(ORIGIN), st.sampled_from(["null", "https://evil.example"]), strings)


@st.composite
def write_key_placement(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, str], Any]:
    """(headers, query, body writeKey or None): mostly the right key in one of the three places it
    may be, sometimes a wrong key, junk ``Authorization``, or nothing; sometimes an ``Origin``."""
    key = draw(st.one_of(st.just(WRITE_KEY), st.just(WRITE_KEY), st.just(WRITE_KEY), strings))
    where = draw(st.sampled_from(["basic", "basic", "body", "query", "all", "basic-junk", "none"]))
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    body_key: Any = None
    if where in ("basic", "all"):
        headers = basic(key, draw(strings))
    if where == "basic-junk":
        headers = {"authorization": draw(st.sampled_from(["Basic ", "Basic !!", "Bearer x", "basic"])) + draw(strings)}
    if where in ("body", "all"):
        body_key = key
    if where in ("query", "all"):
        query = {"writeKey": key}
    origin = draw(origins)
    if origin is not None:
        headers["origin"] = origin
    return headers, query, body_key


def with_write_key(body: Any, key: Any) -> Any:
    if key is not None and isinstance(body, dict):
        return {**body, "writeKey": key}
    return body


# -- any input: an accepted result or a 4xx -------------------------------------------------------


@PROPERTY
@given(value=json_values, route=routes, placement=write_key_placement(), ascii_only=st.booleans())
def test_any_json_value_is_accepted_or_a_4xx(
    value: Any, route: str | None, placement: tuple[dict[str, str], dict[str, str], Any], ascii_only: bool
) -> None:
    """Given any JSON value as the body, on any route, then the answer is a result or a 4xx."""
    headers, query, key = placement
    body = json.dumps(with_write_key(value, key), ensure_ascii=ascii_only)
    outcome = run(make_request(body, headers=headers, query=query), route)
    if isinstance(outcome, ClientError):
        assert_no_canary(outcome)


@PROPERTY
@given(
    data=st.binary(max_size=2048),
    route=routes,
    is_base64=st.booleans(),
    gzipped=st.booleans(),
    content_type=content_types,
    content_encoding=content_encodings,
    placement=write_key_placement(),
)
def test_any_bytes_are_accepted_or_a_4xx(
    data: bytes,
    route: str | None,
    is_base64: bool,
    gzipped: bool,
    content_type: str,
    content_encoding: str,
    placement: tuple[dict[str, str], dict[str, str], Any],
) -> None:
    """Given arbitrary bytes (invalid UTF-8 included), gzipped or not, base64 or not, with any
    Content-Type and Content-Encoding, then the answer is a result or a 4xx."""
    headers, query, _ = placement
    raw = gzip.compress(data) if gzipped else data
    # Without the base64 flag the body is text: invalid UTF-8 arrives as lone surrogate escapes.
    body = base64.b64encode(raw).decode() if is_base64 else raw.decode("utf-8", "surrogateescape")
    headers = {**headers, "content-type": content_type, "content-encoding": content_encoding}
    run(make_request(body, is_base64=is_base64, headers=headers, query=query), route)


@PROPERTY
@given(text=st.text(max_size=200), route=routes, is_base64=st.booleans())
def test_any_text_as_base64_or_plain_is_accepted_or_a_4xx(text: str, route: str | None, is_base64: bool) -> None:
    """Given any text where base64 is expected (and the reverse), then the answer is a result or a 4xx."""
    run(make_request(text, is_base64=is_base64, headers=basic(WRITE_KEY)), route)


@PROPERTY
@given(event=events(), route=routes, placement=write_key_placement())
@example(event={"type": "track", "event": "x", "anonymousId": "a", "userId": float("nan")}, route="track",
         placement=(basic(WRITE_KEY), {}, None))  # fmt: skip
def test_event_shaped_dicts_are_accepted_or_a_4xx_without_echo(
    event: dict[str, Any], route: str | None, placement: tuple[dict[str, str], dict[str, str], Any]
) -> None:
    """Given an event-shaped dict with a random type in any field, as one event or a one-event
    batch, then the answer is a result or a 4xx, and a rejection echoes no submitted value."""
    headers, query, key = placement
    body = with_write_key(event if route is not None else {"batch": [event]}, key)
    outcome = run(make_request(json.dumps(body), headers=headers, query=query), route)
    assert_no_canary(outcome)
    if isinstance(outcome, IngestResult):
        assert outcome.accepted == 1
        assert outcome.rejected == []


@PROPERTY
@given(body=batches, placement=write_key_placement())
def test_batch_counts_add_up_and_rejections_echo_nothing(
    body: dict[str, Any], placement: tuple[dict[str, str], dict[str, str], Any]
) -> None:
    """Given a batch mixing valid events, event-shaped dicts and other values, then accepted +
    rejected == the events in the batch, each rejected index once, and nothing submitted is echoed."""
    headers, query, key = placement
    outcome = run(make_request(json.dumps(with_write_key(body, key)), headers=headers, query=query), None)
    assert_no_canary(outcome)
    if isinstance(outcome, IngestResult):
        indices = [r["index"] for r in outcome.rejected]
        assert outcome.accepted + len(outcome.rejected) == len(body["batch"])
        assert indices == sorted(set(indices))
        assert all(0 <= i < len(body["batch"]) for i in indices)
        assert outcome.accepted >= 1


@PROPERTY
@given(events=st.lists(good_events, min_size=1, max_size=20))
def test_a_batch_of_valid_events_is_accepted_whole(events: list[dict[str, Any]]) -> None:
    """Given a batch of valid events, then all are accepted and the analytics destinations each get
    one message for the whole batch."""
    outcome = run(make_request(json.dumps({"batch": events}), headers=basic(WRITE_KEY)), None)
    assert isinstance(outcome, IngestResult), response_text(outcome)
    assert outcome.accepted == len(events)
    assert outcome.rejected == []
    assert sorted(outcome.queued) == ["ga4", "lake", "webhook"]  # analytics granted; Meta needs advertising
    assert SENDER.messages == 3


@FEW
@given(
    size=st.sampled_from([8 * 1024, 33 * 1024, 200 * 1024, 499 * 1024, 501 * 1024, 2 * 1024 * 1024]),
    where=st.sampled_from(["properties", "context.page.title", "userId", "event", "writeKey", "extra"]),
    route=routes,
    gzipped=st.booleans(),
)
def test_huge_strings_are_accepted_or_a_4xx_without_echo(
    size: int, where: str, route: str | None, gzipped: bool
) -> None:
    """Given a huge string (past the 32 KB event and 500 KB request limits) in any field, plain or
    gzipped (a gzip bomb of sorts), then the answer is a result or a 4xx and the string is not echoed."""
    huge = (CANARY * (size // len(CANARY) + 1))[:size]
    event = event_holding(huge, where, key="blob")
    raw = json.dumps(event if route is not None else {"batch": [event]}).encode()
    headers = basic(WRITE_KEY)
    if gzipped:
        request = make_request(
            base64.b64encode(gzip.compress(raw)).decode(),
            is_base64=True,
            headers={**headers, "content-encoding": "gzip"},
        )
    else:
        request = make_request(raw.decode(), headers=headers)
    assert_no_canary(run(request, route))


@PROPERTY
@given(
    depth=st.one_of(st.integers(0, 20), st.integers(900, 1100), st.integers(0, 5000)),
    kind=st.sampled_from(["list", "dict"]),
    where=st.sampled_from(["properties", "context", "context.page", "traits", "body", "batch"]),
    route=routes,
)
def test_deep_nesting_is_accepted_or_a_4xx(depth: int, kind: str, where: str, route: str | None) -> None:
    """Given values nested up to thousands of levels (past the interpreter's recursion limit), then
    the answer is a result or a 4xx."""
    inner = "[" * depth + "]" * depth if kind == "list" else '{"a":' * depth + "1" + "}" * depth
    event = '{"type":"track","event":"x","anonymousId":"a"%s}'
    body = {
        "properties": event % (',"properties":{"k":' + inner + "}"),
        "context": event % (',"context":{"k":' + inner + "}"),
        "context.page": event % (',"context":{"page":' + inner + "}"),
        "traits": event % (',"traits":' + inner),
        "body": inner,
        "batch": '{"batch":[' + inner + "]}",
    }[where]
    if route is None and where not in ("body", "batch"):
        body = '{"batch":[' + body + "]}"
    run(make_request(body, headers=basic(WRITE_KEY)), route)


# -- regressions: failures these properties found (500s, an echoed key), pinned by their examples --


@PROPERTY
@given(pair=st.tuples(year_1, year_9999) | st.tuples(year_9999, year_1), batch_sent_at=st.booleans(), route=routes)
@example(pair=(datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)), batch_sent_at=False, route="track")
@example(pair=(datetime(9999, 12, 31, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)), batch_sent_at=True, route=None)
def test_clock_correction_out_of_range_is_a_400(
    pair: tuple[datetime, datetime], batch_sent_at: bool, route: str | None
) -> None:
    """Given originalTimestamp and sentAt so far apart that receivedAt - (sentAt - originalTimestamp)
    leaves datetime's range, then the answer is a 400, not an OverflowError."""
    original, sent = pair
    event: dict[str, Any] = {"type": "track", "event": "x", "anonymousId": "a", "originalTimestamp": iso_text(original)}
    if batch_sent_at and route is None:
        body = json.dumps({"batch": [event], "sentAt": iso_text(sent)})
    else:
        body = one_event_body({**event, "sentAt": iso_text(sent)}, route)
    outcome = run(make_request(body, headers=basic(WRITE_KEY)), route)
    assert isinstance(outcome, ClientError)
    assert outcome.status == 400


@PROPERTY
@given(
    when=st.one_of(
        st.datetimes(max_value=datetime(1, 1, 1, 23, 59), timezones=st.just(timezone(timedelta(hours=2)))),
        st.datetimes(min_value=datetime(9999, 12, 31, 0, 1), timezones=st.just(timezone(timedelta(hours=-2)))),
    ),
    field=st.sampled_from(["timestamp", "originalTimestamp"]),
    route=routes,
)
@example(when=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), field="timestamp", route="track")
@example(when=datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), field="timestamp", route=None)
def test_timestamp_with_offset_near_the_range_ends_is_a_400(when: datetime, field: str, route: str | None) -> None:
    """Given a timestamp whose UTC conversion leaves datetime's range (0001-01-01T00:00:00+01:00),
    then the answer is a 400, not an OverflowError."""
    event = {"type": "track", "event": "x", "anonymousId": "a", field: when.isoformat()}
    outcome = run(make_request(one_event_body(event, route), headers=basic(WRITE_KEY)), route)
    assert isinstance(outcome, ClientError)
    assert outcome.status == 400


@PROPERTY
@given(
    key=email_canaries,
    where=st.sampled_from(["context.session", "context.page", "context", "properties", "traits", "batch context"]),
    route=routes,
)
@example(key=f"jane.{CANARY}@example.com", where="context.session", route="track")
def test_client_keys_that_may_be_personal_data_are_not_echoed(key: str, where: str, route: str | None) -> None:
    """Given a key that may be personal data (an e-mail) next to an invalid field, then the 4xx's
    field paths do not show it."""
    bad = {"number": "not a number"}  # an invalid known field beside the key: the event is rejected
    event: dict[str, Any] = {"type": "track", "event": "x", "anonymousId": "a"}
    if where == "context.session":
        event["context"] = {"session": {key: 1, **bad}}
    elif where == "context.page":
        event["context"] = {"page": {key: 1, "title": ["not", "text"]}}
    elif where == "context":
        event["context"] = {key: {"a": 1}, "library": "not an object"}
    elif where in ("properties", "traits"):
        event[where] = {key: 1}
        event.pop("anonymousId")
    if where == "batch context" and route is None:
        body = json.dumps({"batch": [{**event, "timestamp": "x"}], "context": {"session": {key: 1, **bad}}})
    else:
        body = one_event_body(event, route)
    outcome = run(make_request(body, headers=basic(WRITE_KEY)), route)
    assert_no_canary(outcome)


# -- regressions: bugs these properties found (lone surrogates gave a 500, then lost the batch) ------

lone_surrogates = st.characters(categories=["Cs"])  # U+D800..U+DFFF, written by json.dumps as \udXXX


@PROPERTY
@given(
    surrogate=lone_surrogates,
    where=st.sampled_from(["event", "anonymousId", "properties", "context.page.title"]),
    route=st.sampled_from(["track", None]),
)
@example(surrogate="\ud800", where="properties", route="track")
@example(surrogate="\udc00", where="event", route=None)
def test_lone_surrogate_in_an_event_is_read_as_a_replacement_character(
    surrogate: str, where: str, route: str | None
) -> None:
    """An unpaired surrogate escape (half an emoji a client cut) is valid JSON: the event is kept,
    the half character read as U+FFFD (it used to crash, then to lose the whole batch)."""
    event = event_holding(surrogate, where, field_prefix="a")
    outcome = run(make_request(one_event_body(event, route), headers=basic(WRITE_KEY)), route)
    assert isinstance(outcome, IngestResult)
    assert (outcome.accepted, outcome.rejected) == (1, [])


@PROPERTY
@given(surrogate=lone_surrogates, prefix=st.text(max_size=8), route=routes)
@example(surrogate="\udc00", prefix="", route="track")
@example(surrogate="\ud800", prefix="key", route=None)
def test_lone_surrogate_write_key_is_a_401(surrogate: str, prefix: str, route: str | None) -> None:
    """A write key holding an unpaired surrogate escape is read with U+FFFD in its place: no key
    is like that, so it is refused as unknown (it used to crash while hashing the key)."""
    event = {"type": "track", "event": "x", "anonymousId": "a"}
    body = one_event_body(event, route, writeKey=prefix + surrogate)
    outcome = run(make_request(body), route)
    assert isinstance(outcome, ClientError)
    assert (outcome.status, outcome.code) == (401, "invalid_write_key")
