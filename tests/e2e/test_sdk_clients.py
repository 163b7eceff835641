"""The real Python SDKs against ``fairtrack dev``: segment-analytics-python and rudder-sdk-python.

Each test points a real client at the local stack (``stack.base``, write key ``dev-write-key``),
sends track, page and identify calls, flushes and shuts the client down, then polls the lake
(``/_dev/captured``: the lake bucket's gzip NDJSON objects, decoded) until every consented event
is there. Every HTTP request the SDKs make goes through a guard that refuses anything but
127.0.0.1 and records what was sent and answered; environment proxies are ignored.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from rudderstack.analytics import request as rudder_request
from rudderstack.analytics.client import Client as RudderClient
from rudderstack.analytics.version import VERSION as RUDDER_VERSION
from segment.analytics import request as segment_request
from segment.analytics.client import Client as SegmentClient
from segment.analytics.version import VERSION as SEGMENT_VERSION

WRITE_KEY = "dev-write-key"
BASIC = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
LAKE_TIMEOUT = 20.0
DELIVERING = {"WebhookQueue", "LakeQueue"}  # the destinations of policies/default.yaml


def consent(analytics: bool | None, **context: Any) -> dict[str, Any]:
    """A fresh context dict (the SDKs write ``context.library`` into the one they are given).
    ``analytics=None`` sends no consent signal at all; policies/default.yaml maps the Segment
    category ``analytics`` to the purpose both destinations require."""
    out: dict[str, Any] = dict(context)
    if analytics is not None:
        out["consent"] = {"categoryPreferences": {"analytics": analytics, "advertising": False}}
    return out


# -- the wire: loopback only, every exchange recorded ---------------------------------------------


@dataclass
class Exchange:
    url: str
    headers: dict[str, str]
    body: bytes
    status: int
    answer: str


@dataclass
class Wire:
    exchanges: list[Exchange] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    """Both SDKs' module-level ``requests`` sessions may only reach 127.0.0.1 (redirects included,
    they go through ``send`` too) and ignore HTTP(S)_PROXY from the environment."""
    recorded = Wire()
    for session in (segment_request._session, rudder_request._session):
        original = session.send

        def send(prepared: requests.PreparedRequest, _original: Any = original, **kwargs: Any) -> requests.Response:
            url = prepared.url or ""
            if urlsplit(url).hostname != "127.0.0.1":
                recorded.refused.append(url)
                raise requests.ConnectionError(f"refused: the tests only reach 127.0.0.1, not {url}")
            response: requests.Response = _original(prepared, **kwargs)
            body = prepared.body if isinstance(prepared.body, bytes) else str(prepared.body or "").encode()
            recorded.exchanges.append(
                Exchange(
                    url,
                    {k: v if isinstance(v, str) else v.decode() for k, v in prepared.headers.items()},
                    body,
                    response.status_code,
                    response.text,
                )
            )
            return response

        monkeypatch.setattr(session, "send", send)
        monkeypatch.setattr(session, "trust_env", False)
    return recorded


@contextmanager
def sdk_client(make: Callable[[], Any]) -> Iterator[Any]:
    """A client that is flushed and shut down however the test ends, and leaves no thread behind."""
    before = set(threading.enumerate())
    client = make()
    try:
        yield client
    finally:
        if client.consumers:  # None in sync mode, where shutdown() would fail on it
            client.shutdown()  # flush (bounded: max_retries is small), then join the consumer
            assert not any(c.is_alive() for c in client.consumers)
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        assert leaked == [], leaked


# -- the lake --------------------------------------------------------------------------------------


def lake_records(stack: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = stack.captured()["lake"]
    return records


def wait_for_lake(stack: Any, message_ids: set[str], timeout: float = LAKE_TIMEOUT) -> dict[str, dict[str, Any]]:
    """Poll the lake until every message id is there; the records by message id."""
    deadline = time.monotonic() + timeout
    while True:
        by_id = {r["event"]["messageId"]: r for r in lake_records(stack)}
        if message_ids <= by_id.keys():
            return by_id
        if time.monotonic() > deadline:
            pytest.fail(f"not in the lake after {timeout} s: {sorted(message_ids - by_id.keys())}")
        time.sleep(0.2)


def wait_for_idle_queues(stack: Any, timeout: float = 10.0) -> None:
    """The webhook and lake queues empty with nothing in flight: whatever was queued for them has
    been delivered. (Other queues and DLQs may hold what other tests of the session left.)"""
    deadline = time.monotonic() + timeout
    while True:
        queues = {k: v for k, v in stack.request("GET", "/_dev/queues")[1].items() if k in DELIVERING}
        assert set(queues) == DELIVERING, queues
        if all(q["visible"] == 0 and q["in_flight"] == 0 for q in queues.values()):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"queues still busy after {timeout} s: {queues}")
        time.sleep(0.2)


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_server_fields(event: dict[str, Any]) -> None:
    # the loopback address truncated to /24, and a clock-corrected time just before receipt
    assert event["context"]["ip"] == "127.0.0.0"
    received, happened = parse_ts(event["receivedAt"]), parse_ts(event["timestamp"])
    assert timedelta(0) <= received - happened < timedelta(seconds=30)


def assert_consent_split(stack: Any, consented: list[dict[str, Any]], unconsented: list[dict[str, Any]]) -> None:
    """The consented events are the lake's only analytics records of those sent; the others left
    necessary-only records and nothing at the webhook."""
    assert_not_delivered(stack, {m["messageId"] for m in unconsented})
    sent_ids = {m["messageId"] for m in consented + unconsented}
    analytics = {r["event"]["messageId"] for r in lake_records(stack) if "analytics" in r["purposes"]}
    assert analytics & sent_ids == {m["messageId"] for m in consented}


def assert_not_delivered(stack: Any, message_ids: set[str]) -> None:
    """Events without analytics consent: nothing at the webhook, and in the lake only a
    necessary-only record (kind, id, times, library), none of the data the SDK sent."""
    wait_for_idle_queues(stack)
    captured = stack.captured()
    in_lake = [r for r in captured["lake"] if r["event"]["messageId"] in message_ids]
    at_webhook = message_ids & {e["messageId"] for post in captured["webhook"] for e in post["batch"]}
    assert at_webhook == set()
    assert {r["event"]["messageId"] for r in in_lake} == message_ids
    for record in in_lake:
        assert record["purposes"] == ["necessary"]
        assert set(record["event"]) <= {"type", "messageId", "timestamp", "receivedAt", "visitorId", "context"}
        assert set(record["event"].get("context", {})) <= {"library"}


# -- the clients ----------------------------------------------------------------------------------


def threaded_client(
    sdk: str,
    base: str,
    on_error: Callable[[Exception, list[Any]], None],
    *,
    write_key: str = WRITE_KEY,
    retries: int = 1,
    backoff: int = 5,
) -> Any:
    """A real ``segment`` or ``rudder`` client batching on its consumer thread (flushing every
    0.2 s), allowed ``retries`` retries (the Segment client's backoff bounded by ``backoff`` s)."""
    if sdk == "segment":
        return SegmentClient(
            write_key=write_key,
            host=base,
            max_retries=retries,
            max_total_backoff_duration=backoff,
            max_rate_limit_duration=5,
            timeout=5,
            upload_interval=0.2,
            on_error=on_error,
        )
    return RudderClient(
        write_key=write_key, host=base, max_retries=retries, timeout=5, upload_interval=0.2, on_error=on_error
    )


def error_log(errors: list[str]) -> Callable[[Exception, list[Any]], None]:
    """An SDK's ``on_error`` that writes each failure into ``errors``."""
    return lambda exc, batch: errors.append(f"{exc!r} ({len(batch)} events)")


def consented_records(stack: Any, sent: list[dict[str, Any]], library_version: str) -> tuple[dict[str, Any], ...]:
    """The lake records of the consented messages ``sent``, once all have arrived, each checked to
    come from the dev source with analytics granted, the SDK's library and the server's fields."""
    lake = wait_for_lake(stack, {m["messageId"] for m in sent})
    records = tuple(lake[m["messageId"]] for m in sent)
    for record in records:
        assert record["source"] == "dev"
        assert "analytics" in record["purposes"]
        assert record["event"]["context"]["library"] == {"name": "analytics-python", "version": library_version}
        assert_server_fields(record["event"])
    return records


def assert_batches_answered(stack: Any, wire: Wire) -> list[Exchange]:
    """The SDK posted only to the stack's /v1/batch with the write key, and every answer was 200
    success; the exchanges."""
    assert wire.refused == []
    assert wire.exchanges
    for exchange in wire.exchanges:
        assert exchange.url == stack.base + "/v1/batch"
        assert exchange.headers["Authorization"] == BASIC
        assert (exchange.status, exchange.answer) == (200, '{"success":true}')
    return wire.exchanges


# -- segment-analytics-python ----------------------------------------------------------------------


def test_segment_python_sdk_events_reach_the_lake(clean: Any, wire: Wire) -> None:
    run = uuid.uuid4().hex[:10]
    user, anon = f"seg-user-{run}", f"seg-anon-{run}"
    errors: list[str] = []
    # Given the real Segment client, batching on its consumer thread, retrying at most once
    with sdk_client(lambda: threaded_client("segment", clean.base, error_log(errors))) as client:
        # When it sends events without and against consent, then track, page and identify with it
        _, no_signal = client.track(user_id=f"seg-silent-{run}", event="Segment Silent", properties={"run": run})
        _, denied = client.track(
            user_id=f"seg-denied-{run}", event="Segment Denied", properties={"run": run}, context=consent(False)
        )
        _, track = client.track(
            user_id=user,
            event="Segment Plan Upgraded",
            properties={"plan": "pro", "seats": 5, "price": 49.5, "run": run},
            context=consent(True),
        )
        _, page = client.page(
            anonymous_id=anon,
            name="Segment Pricing",
            properties={"variant": "b", "run": run},
            context=consent(True, page={"path": "/pricing", "title": "Pricing"}, locale="de-DE"),
        )
        _, identify = client.identify(
            user_id=user,
            anonymous_id=anon,
            traits={"plan": "pro", "email": "jane.doe@example.com"},
            context=consent(True),
        )
        client.flush()
    assert errors == []
    # Then every consented event reaches the lake with its ids, names, type and properties
    t, p, i = consented_records(clean, [track, page, identify], SEGMENT_VERSION)
    user, anon = clean.pseudonym("userId", str(user)), clean.pseudonym("anonymousId", str(anon))  # never raw
    assert (t["event"]["type"], t["event"]["event"], t["event"]["userId"]) == ("track", "Segment Plan Upgraded", user)
    assert "anonymousId" not in t["event"]
    assert t["event"]["properties"] == {"plan": "pro", "seats": 5, "price": 49.5, "run": run}
    assert (p["event"]["type"], p["event"]["name"], p["event"]["anonymousId"]) == ("page", "Segment Pricing", anon)
    assert "userId" not in p["event"]
    assert p["event"]["properties"] == {"variant": "b", "run": run}
    assert p["event"]["context"]["page"] == {"path": "/pricing", "title": "Pricing"}
    assert p["event"]["context"]["locale"] == "de-DE"
    assert (i["event"]["type"], i["event"]["userId"], i["event"]["anonymousId"]) == ("identify", user, anon)
    assert "traits" not in i["event"]  # traits go nowhere until PII scanning lands
    # and the events without consent, sent first, leave only necessary-only records in the lake
    assert_consent_split(clean, consented=[track, page, identify], unconsented=[no_signal, denied])
    # On the wire: only /v1/batch on the stack, Basic auth, every answer exactly 200 success
    assert_batches_answered(clean, wire)


def test_segment_python_sdk_sync_mode_gzip(clean: Any, wire: Wire) -> None:
    # Given the Segment client in sync mode (no thread: each call posts and raises on failure),
    # with its optional gzip on and a numeric user id (the SDK turns it into a string)
    run = uuid.uuid4().hex[:10]
    with sdk_client(
        lambda: SegmentClient(write_key=WRITE_KEY, host=clean.base, sync_mode=True, gzip=True, max_retries=1, timeout=5)
    ) as client:
        _, sent = client.track(user_id=4242, event="Segment Sync Gzip", properties={"run": run}, context=consent(True))
    # Then the one request was gzipped and answered 200 success, and the event reaches the lake
    (exchange,) = wire.exchanges
    assert exchange.headers["Content-Encoding"] == "gzip" and exchange.body[:2] == b"\x1f\x8b"
    assert (exchange.status, exchange.answer) == (200, '{"success":true}')
    record = wait_for_lake(clean, {sent["messageId"]})[sent["messageId"]]
    assert (record["event"]["userId"], record["event"]["event"]) == (
        clean.pseudonym("userId", "4242"),
        "Segment Sync Gzip",
    )
    assert record["event"]["properties"] == {"run": run}


# -- rudder-sdk-python -----------------------------------------------------------------------------


def test_rudder_python_sdk_gzip_events_reach_the_lake(clean: Any, wire: Wire) -> None:
    run = uuid.uuid4().hex[:10]
    user, anon = f"rs-user-{run}", f"rs-anon-{run}"
    errors: list[str] = []
    # Given the real RudderStack client with its defaults (gzip on), retrying at most once
    with sdk_client(lambda: threaded_client("rudder", clean.base, error_log(errors))) as client:
        assert client.gzip is True
        # When it sends events without and against consent, then track, page and identify with it
        _, no_signal = client.track(anonymous_id=f"rs-silent-{run}", event="Rudder Silent", properties={"run": run})
        _, denied = client.page(
            anonymous_id=f"rs-denied-{run}", name="Rudder Denied", properties={"run": run}, context=consent(False)
        )
        _, track = client.track(
            user_id=user,
            anonymous_id=anon,
            event="Rudder Cart Viewed",
            properties={"cart_id": f"cart-{run}", "items": 3, "value": 120.25, "run": run},
            context=consent(True),
        )
        _, page = client.page(
            anonymous_id=anon,
            name="Rudder Checkout",
            properties={"step": 2, "run": run},
            context=consent(True, page={"path": "/checkout", "title": "Checkout"}, timezone="Europe/Berlin"),
        )
        _, identify = client.identify(
            user_id=user, traits={"plan": "team", "email": "max@example.com"}, context=consent(True)
        )
        client.flush()
    assert errors == []
    # Then every consented event reaches the lake with its ids, names, type and properties
    t, p, i = consented_records(clean, [track, page, identify], RUDDER_VERSION)
    user, anon = clean.pseudonym("userId", str(user)), clean.pseudonym("anonymousId", str(anon))  # never raw
    assert (t["event"]["type"], t["event"]["event"]) == ("track", "Rudder Cart Viewed")
    assert (t["event"]["userId"], t["event"]["anonymousId"]) == (user, anon)
    assert t["event"]["properties"] == {"cart_id": f"cart-{run}", "items": 3, "value": 120.25, "run": run}
    assert (p["event"]["type"], p["event"]["name"], p["event"]["anonymousId"]) == ("page", "Rudder Checkout", anon)
    assert "userId" not in p["event"]
    assert p["event"]["properties"] == {"step": 2, "run": run}
    assert p["event"]["context"]["page"] == {"path": "/checkout", "title": "Checkout"}
    assert p["event"]["context"]["timezone"] == "Europe/Berlin"
    assert (i["event"]["type"], i["event"]["userId"]) == ("identify", user)
    assert "anonymousId" not in i["event"]
    # rudder-sdk-python puts identify traits in context.traits: the lake gets them from neither place
    assert "traits" not in i["event"] and "traits" not in i["event"]["context"]
    assert "max@example.com" not in str(lake_records(clean))
    assert not any("channel" in record["event"] for record in (t, p, i))
    # and the events without consent, sent first, leave only necessary-only records in the lake
    assert_consent_split(clean, consented=[track, page, identify], unconsented=[no_signal, denied])
    # On the wire: gzip bodies (the SDK's default) to /v1/batch on the stack, each answered 200
    for exchange in assert_batches_answered(clean, wire):
        assert exchange.headers["Content-Encoding"] == "gzip"
        assert exchange.body[:2] == b"\x1f\x8b"


# -- the guard itself ------------------------------------------------------------------------------


def test_sdks_cannot_leave_loopback(wire: Wire) -> None:
    # Given both SDKs pointed at a host that is not 127.0.0.1 (never contacted: refused in send)
    errors: list[Any] = []
    for make in (
        lambda: SegmentClient(write_key=WRITE_KEY, host="http://192.0.2.1:9", sync_mode=True, max_retries=0),
        lambda: RudderClient(write_key=WRITE_KEY, host="http://192.0.2.1:9", sync_mode=True, max_retries=0),
    ):
        with sdk_client(make) as client:
            try:
                client.track(user_id="u", event="e")
            except requests.ConnectionError as exc:
                errors.append(exc)
    # Then both were refused before any connection was made
    assert len(errors) == 2
    assert wire.refused == ["http://192.0.2.1:9/v1/batch"] * 2
    assert wire.exchanges == []


# -- what the SDKs make of a refusal, a cut emoji and a large order --------------------------------

SDKS = ("segment", "rudder")
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


def retrying_client(sdk: str, base: str, write_key: str, errors: list[Any]) -> Any:
    """A real client on its consumer thread (where both SDKs' retry and backoff live), allowed
    three retries: a 4xx it cannot read as permanent shows up as more than one request."""

    def on_error(exc: Exception, batch: list[Any]) -> None:
        errors.append(exc)

    return threaded_client(sdk, base, on_error, write_key=write_key, retries=3, backoff=10)


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize(
    ("case", "status", "code"), [("wrong_key", 401, "invalid_write_key"), ("invalid_event", 400, "invalid_batch")]
)
def test_a_permanent_4xx_is_one_request(clean: Any, wire: Wire, sdk: str, case: str, status: int, code: str) -> None:
    # Given a real client allowed three retries, with a wrong write key, or sending the one event
    # of a batch with a name longer than 200 characters (nothing in the batch is valid)
    errors: list[Any] = []
    key = "not-a-write-key" if case == "wrong_key" else WRITE_KEY
    event = "E" if case == "wrong_key" else "x" * 300
    with sdk_client(lambda: retrying_client(sdk, clean.base, key, errors)) as client:
        client.track(user_id="u-4xx", anonymous_id="a-4xx", event=event, context=consent(True))
        client.flush()
    # Then the SDK made exactly one request, read the answer's code, and gave up at once
    assert [e.status for e in wire.exchanges] == [status]
    answer = json.loads(wire.exchanges[0].answer)
    assert (answer["success"], answer["code"]) == (False, code) and answer["message"]
    assert [(type(e).__name__, e.status, e.code) for e in errors] == [("APIError", status, code)]


@pytest.mark.parametrize("sdk", SDKS)
def test_a_lone_surrogate_in_a_batch_loses_nothing(clean: Any, wire: Wire, sdk: str) -> None:
    run = uuid.uuid4().hex[:10]
    errors: list[Any] = []
    # Given three events batched together, the middle one's title cut inside an emoji (the SDKs'
    # json.dumps writes the lone half as the escape "\ud83d")
    with sdk_client(lambda: retrying_client(sdk, clean.base, WRITE_KEY, errors)) as client:
        sent = [
            client.track(
                anonymous_id=f"sur-{run}", event="Article Read", properties={"title": title}, context=consent(True)
            )[1]
            for title in ("Fine", "Great \ud83d", "Also \U0001f600 fine")
        ]
        client.flush()
    assert errors == []
    assert any(b"\\ud83d" in (gzip.decompress(e.body) if sdk == "rudder" else e.body) for e in wire.exchanges)
    # Then all three reach the lake, the lone half read as U+FFFD
    lake = wait_for_lake(clean, {m["messageId"] for m in sent})
    titles = [lake[m["messageId"]]["event"]["properties"]["title"] for m in sent]
    assert titles == ["Fine", "Great \ufffd", "Also \U0001f600 fine"]
    assert all((e.status, e.answer) == (200, '{"success":true}') for e in wire.exchanges)


@pytest.mark.parametrize("sdk", SDKS)
def test_a_200_item_order_reaches_ga4_with_its_items(clean: Any, wire: Wire, sdk: str) -> None:
    run = uuid.uuid4().hex[:10]
    errors: list[Any] = []
    products = [
        {"product_id": f"p-{i}", "sku": f"S-{i}", "name": f"Item {i}", "price": 9.5, "quantity": 1} for i in range(200)
    ]
    context = consent(True, userAgent=CHROME_UA, page={"url": "https://shop.example/thanks", "path": "/thanks"})
    # Given an Order Completed with 200 products (under 32 KB, which both SDKs enforce themselves)
    with sdk_client(lambda: retrying_client(sdk, clean.base, WRITE_KEY, errors)) as client:
        client.track(
            anonymous_id=f"order-{run}",
            event="Order Completed",
            properties={"order_id": f"o-{run}", "revenue": 1900, "currency": "EUR", "products": products},
            context=context,
        )
        client.flush()
    assert errors == []
    assert [(e.status, e.answer) for e in wire.exchanges] == [(200, '{"success":true}')]

    # Then GA4 receives one purchase with all 200 items (MP's limit per event)
    def purchases(got: dict[str, list[Any]]) -> list[dict[str, Any]]:
        return [
            e
            for body in got["ga4"]
            for e in body["events"]
            if e["name"] == "purchase" and e["params"].get("transaction_id") == f"o-{run}"
        ]

    got = clean.wait_for(purchases, timeout=LAKE_TIMEOUT, what="the purchase at GA4")
    (purchase,) = purchases(got)
    assert [item["item_id"] for item in purchase["params"]["items"]] == [f"p-{i}" for i in range(200)]
