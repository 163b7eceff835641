"""Real browser clients' requests, byte for byte in shape, through the ingest function.

Each fixture in ``events/clients/`` is one HTTP request as the client library sends it (method,
path, query, headers, body): ``@segment/analytics-next`` (``/v1/t``, ``/v1/p``, ``/v1/i`` with a
``text/plain`` body, and ``/v1/b`` batches) and the RudderStack JS SDK v3 (``/v1/batch`` over XHR,
``/beacon/v1/batch?writeKey=`` over ``navigator.sendBeacon``). Here each is turned into the API
Gateway HTTP API v2 event API Gateway would deliver (source IP 203.0.113.77, received at
2026-11-24T10:15:02Z) and handed to the real handler; the queues show what was let through.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from awshelpers import pseudonym_of, queue_messages
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairtrack.stores.policy_table import Source
from fairtrack_tools.local.localcloud import LocalCloud
from fairtrack_tools.ops import sources

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "events" / "clients"
# The website the fixtures come from, registered as its own source (write key and browser origin).
SHOP = Source(source_id="shop", name="Shop", origins=["https://shop.example"])
SHOP_WRITE_KEY = "shop-write-key"
RECEIVED_AT = "2026-11-24T10:15:02.000Z"  # requestContext.timeEpoch of events/ingest/track.json
RECEIVED = datetime(2026, 11, 24, 10, 15, 2, tzinfo=UTC)
SOURCE_IP = "203.0.113.77"
TRUNCATED_IP = "203.0.113.0"
# What may reach the lake at the top level of an event, written down apart from the policy under test
LAKE_TOP_LEVEL = {
    line.strip()
    for line in (Path(__file__).parent / "data" / "lake_top_level.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}


def client_request(name: str) -> dict[str, Any]:
    request: dict[str, Any] = json.loads((CLIENTS / f"{name}.json").read_text())
    return request


def api_event(request: dict[str, Any], source_ip: str = SOURCE_IP) -> dict[str, Any]:
    """The API Gateway HTTP API (payload 2.0) event for one client request."""
    event: dict[str, Any] = json.loads((ROOT / "events" / "ingest" / "track.json").read_text())
    path: str = request["path"]
    prefix, proxy = ("/beacon/v1/", path.removeprefix("/beacon/v1/")) if path.startswith("/beacon/") else ("/v1/", "")
    proxy = proxy or path.removeprefix("/v1/")
    route_key = f"ANY {prefix}{{proxy+}}"
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = {"proxy": proxy}
    event["requestContext"]["http"]["method"] = request["method"]
    event["requestContext"]["http"]["sourceIp"] = source_ip
    event["requestContext"]["http"]["userAgent"] = request["headers"].get("user-agent", "")
    event["headers"] = {"host": event["headers"]["host"], **{k.lower(): v for k, v in request["headers"].items()}}
    query = request.get("query") or {}
    event["rawQueryString"] = urlencode(query)
    if query:
        event["queryStringParameters"] = dict(query)
    # JSON.stringify: no spaces. text/plain and application/json bodies arrive as text, not base64.
    event["body"] = json.dumps(request["body"], separators=(",", ":"), ensure_ascii=False)
    event["isBase64Encoded"] = False
    return event


class Queues:
    """Every message of every queue, each queue received once (a second receive would find the
    messages invisible): ``events(queue)`` the queued events in order, ``raw(queue)`` the bodies."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.messages = {q: queue_messages(cloud, q) for q in cloud.queue_depths()}

    def routed(self, queue: str) -> list[dict[str, Any]]:
        return [e for m in self.messages[queue] for e in json.loads(m["Body"])["events"]]

    def events(self, queue: str) -> list[dict[str, Any]]:
        """The queued events that carry consented data (not the lake's necessary-only records)."""
        return [e["event"] for e in self.routed(queue) if e["purposes"] != ["necessary"]]

    def necessary_only(self, queue: str) -> list[dict[str, Any]]:
        """The lake's records of hits without analytics consent, checked to hold nothing else."""
        records = [e["event"] for e in self.routed(queue) if e["purposes"] == ["necessary"]]
        for record in records:
            assert set(record) <= {"type", "messageId", "timestamp", "receivedAt", "visitorId", "context"}, sorted(
                record
            )
            assert record["visitorId"].startswith("d-")
            assert set(record.get("context", {})) <= {"library"}, sorted(record["context"])
        return records

    def source_ids(self, queue: str) -> set[str]:
        return {json.loads(m["Body"])["source_id"] for m in self.messages[queue]}

    def raw(self, queue: str) -> str:
        return "\n".join(m["Body"] for m in self.messages[queue])


def depths(cloud: LocalCloud) -> dict[str, int]:
    return {q: v["visible"] for q, v in cloud.queue_depths().items()}


def only(cloud: LocalCloud, *receiving: str) -> dict[str, int]:
    """Expected depths: one message on each receiving queue, nothing anywhere else (DLQs included)."""
    return {q: int(q in receiving) for q in cloud.queue_depths()}


def ok(response: dict[str, Any]) -> None:
    # Both SDKs treat anything but 200 as a failure (rudder-sdk-python: only 200 is success).
    assert response["statusCode"] == 200, response.get("body")
    assert json.loads(response["body"]) == {"success": True}


@pytest.fixture
def ingest(load_handler: Any, context: Any, cloud: LocalCloud) -> Callable[[dict[str, Any]], dict[str, Any]]:
    sources.add_source(cloud.client("dynamodb"), cloud.physical_id("PolicyTable"), SHOP, SHOP_WRITE_KEY)
    module = load_handler("IngestFunction")

    def call(event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = module.handler(event, context)
        return response

    return call


# -- @segment/analytics-next ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "kind", "timestamp"),
    [
        # client clock 10 minutes fast; timestamp = receivedAt - (sentAt - timestamp)
        ("analytics-next-track", "track", "2026-11-24T10:15:01.750Z"),
        ("analytics-next-page", "page", "2026-11-24T10:15:01.700Z"),
        ("analytics-next-identify", "identify", "2026-11-24T10:15:01.900Z"),
    ],
)
def test_analytics_next_single_event_routes(
    ingest: Any, cloud: LocalCloud, fixture: str, kind: str, timestamp: str
) -> None:
    # Given analytics-next's request on its short route (text/plain body, Basic auth and writeKey,
    # _metadata, integrations, userId null, consent granting Analytics)
    request = client_request(fixture)
    sent = request["body"]
    # When the ingest function handles it
    response = ingest(api_event(request))
    # Then it answers 200 {"success": true} and queues the event for GA4, the webhook and the lake
    # (analytics consent; Meta needs advertising)
    ok(response)
    assert depths(cloud) == only(cloud, "Ga4Queue", "WebhookQueue", "LakeQueue")
    q = Queues(cloud)
    (event,) = q.events("LakeQueue")
    assert q.source_ids("LakeQueue") == q.source_ids("WebhookQueue") == {"shop"}
    assert event["type"] == kind
    assert event["messageId"] == sent["messageId"]
    # ids leave ingest only as keyed pseudonyms
    assert event["anonymousId"] == pseudonym_of(cloud, "anonymousId", sent["anonymousId"])
    assert sent["anonymousId"] not in Queues(cloud).raw("LakeQueue")
    if sent["userId"] is None:  # null in the body: absent in the lake
        assert "userId" not in event
    else:
        assert event["userId"] == pseudonym_of(cloud, "userId", sent["userId"])
    assert event.get("event") == sent.get("event")
    assert event.get("name") == sent.get("name")
    if kind != "identify":
        # all but the URL data a page call copies into its properties (held back by the policy)
        held = {"url", "search", "referrer"}
        assert event["properties"] == {k: v for k, v in sent["properties"].items() if k not in held}
    # the client clock is corrected from the event's own sentAt
    assert event["receivedAt"] == RECEIVED_AT
    assert event["timestamp"] == timestamp
    # the transport fields and unknown keys never travel, nor does the write key
    assert set(event) <= LAKE_TOP_LEVEL
    lake_body = q.raw("LakeQueue")
    for leaked in (SHOP_WRITE_KEY, "_metadata", "writeKey", "Segment.io", "integrations", sent["sentAt"]):
        assert leaked not in lake_body
    assert event["context"]["library"] == {"name": "analytics.js", "version": "npm:next-1.81.0"}
    # the page URL cleaned at ingest: utm_* kept, the e-mail parameter gone, the referrer an origin
    utm = "?utm_source=newsletter&utm_medium=email&utm_campaign=autumn"
    assert event["context"]["page"] == {
        "path": "/pricing",
        "title": "Pricing | Shop",
        "url": "https://shop.example/pricing" + utm,
        "search": utm,
        "referrer": "https://search.example",
    }
    assert "jane.doe" not in lake_body
    assert event["context"]["ip"] == TRUNCATED_IP
    assert SOURCE_IP not in lake_body


def test_analytics_next_identify_traits_reach_no_destination(ingest: Any, cloud: LocalCloud) -> None:
    # Given analytics.identify with an e-mail and a first name in its traits
    ok(ingest(api_event(client_request("analytics-next-identify"))))
    # Then the user id reaches the lake, and the traits reach no queue at all
    q = Queues(cloud)
    (lake,) = q.events("LakeQueue")
    assert lake["userId"] == pseudonym_of(cloud, "userId", "user-7781")
    assert "traits" not in lake
    for queue in q.messages:
        body = q.raw(queue)
        assert "jane.doe@example.com" not in body
        assert "Jane" not in body
    # and the webhook gets no user id (not in its allowlist)
    (webhook,) = q.events("WebhookQueue")
    assert "userId" not in webhook
    assert webhook["anonymousId"] == lake["anonymousId"]


def test_analytics_next_page_url_query_reaches_no_destination(ingest: Any, cloud: LocalCloud) -> None:
    # Given analytics.page on a URL whose query holds an e-mail address; analytics-next copies the
    # page context (url, search, referrer) into the page call's properties
    ok(ingest(api_event(client_request("analytics-next-page"))))
    # Then, as the policy promises for context.page.url/search ("sent nowhere until URL cleaning
    # lands"), the query reaches neither the webhook nor the lake
    q = Queues(cloud)
    for queue in ("WebhookQueue", "LakeQueue"):
        body = q.raw(queue)
        assert "jane.doe%40example.com" not in body, queue
        assert "https://search.example/?q=fairtrack" not in body, queue


def test_analytics_next_batch_routes_per_event_consent_with_batch_sent_at(ingest: Any, cloud: LocalCloud) -> None:
    # Given analytics-next's batching delivery: /v1/b, text/plain, writeKey in the body and in each
    # event, events without their own sentAt, the third tracked after analytics was withdrawn
    request = client_request("analytics-next-batch")
    sent = request["body"]["batch"]
    response = ingest(api_event(request))
    ok(response)
    # Then one message per receiving destination holds exactly the two consented events, in order
    assert depths(cloud) == only(cloud, "Ga4Queue", "WebhookQueue", "LakeQueue")
    q = Queues(cloud)
    for queue in ("WebhookQueue", "LakeQueue"):
        events = q.events(queue)
        assert [e["messageId"] for e in events] == [sent[0]["messageId"], sent[1]["messageId"]]
        assert "Banner Closed" not in q.raw(queue)
    lake = q.events("LakeQueue")
    assert [(e["type"], e.get("event"), e.get("name")) for e in lake] == [
        ("track", "Docs Searched", None),
        ("page", None, "Pricing"),
    ]
    assert lake[0]["properties"] == {"query_length": 9}
    # and each timestamp is corrected with the batch's sentAt (client 10 minutes fast)
    assert [e["timestamp"] for e in lake] == ["2026-11-24T10:14:58.000Z", "2026-11-24T10:14:59.000Z"]
    assert all(e["receivedAt"] == RECEIVED_AT and e["context"]["ip"] == TRUNCATED_IP for e in lake)


def test_analytics_next_without_authorization_header_uses_body_write_key(ingest: Any, cloud: LocalCloud) -> None:
    # Given an older analytics-next that sends no Authorization header (the key is only in the body)
    request = client_request("analytics-next-track")
    del request["headers"]["authorization"]
    ok(ingest(api_event(request)))
    assert depths(cloud)["LakeQueue"] == 1
    # and a body key that is unknown is refused even though the body says nothing else is wrong
    request["body"]["writeKey"] = "not-a-key"
    response = ingest(api_event(request))
    assert response["statusCode"] == 401
    assert depths(cloud)["LakeQueue"] == 1


@pytest.mark.parametrize(
    "fixture", ["analytics-next-track", "analytics-next-page", "analytics-next-identify", "analytics-next-batch"]
)
def test_analytics_next_without_consent_leaves_only_necessary_records(
    ingest: Any, cloud: LocalCloud, fixture: str
) -> None:
    # Given the same requests from a site without a consent manager (no context.consent)
    request = client_request(fixture)
    events = request["body"]["batch"] if "batch" in request["body"] else [request["body"]]
    for event in events:
        event["context"].pop("consent", None)
    # Then the gateway still answers success (so the client does not retry); the webhook gets
    # nothing and the lake only a necessary record per event (no id, address, URL or name)
    ok(ingest(api_event(request)))
    assert depths(cloud) == only(cloud, "LakeQueue")
    q = Queues(cloud)
    assert q.events("LakeQueue") == []
    assert [r["messageId"] for r in q.necessary_only("LakeQueue")] == [e["messageId"] for e in events]


# -- RudderStack JS SDK v3 -----------------------------------------------------------------------


def test_rudderstack_v3_batch_routes_with_clock_correction(ingest: Any, cloud: LocalCloud) -> None:
    # Given the v3 SDK's XHR batch (application/json;charset=UTF-8, Basic auth, AnonymousId header,
    # channel web, rudderId, originalTimestamp and sentAt per event, client clock 10 minutes slow)
    request = client_request("rudderstack-v3-batch")
    sent = request["body"]["batch"]
    ok(ingest(api_event(request)))
    # Then identify, page and track all reach the lake, in order, with their ids and names
    assert depths(cloud) == only(cloud, "Ga4Queue", "WebhookQueue", "LakeQueue")
    q = Queues(cloud)
    assert q.source_ids("LakeQueue") == {"shop"}
    lake = q.events("LakeQueue")
    assert [(e["type"], e["messageId"]) for e in lake] == [(e["type"], e["messageId"]) for e in sent]
    user, anon = (
        pseudonym_of(cloud, "userId", "rs-user-5150"),
        pseudonym_of(cloud, "anonymousId", sent[0]["anonymousId"]),
    )
    assert all(e["userId"] == user and e["anonymousId"] == anon for e in lake)
    identify, page, track = lake
    assert page["name"] == "Consent done right"
    held = {"url", "search", "referrer", "tab_url", "initial_referrer", "initial_referring_domain", "referring_domain"}
    assert page["properties"] == {k: v for k, v in sent[1]["properties"].items() if k not in held}
    assert "event" not in page  # JSON null in the body is absent
    assert track["event"] == "Newsletter Subscribed"
    assert track["properties"] == {"list": "product-updates", "position": 2}
    assert "properties" not in identify  # properties: null
    # timestamp = receivedAt - (sentAt - originalTimestamp)
    assert [e["timestamp"] for e in lake] == [
        "2026-11-24T10:15:00.000Z",
        "2026-11-24T10:15:00.500Z",
        "2026-11-24T10:15:01.500Z",
    ]
    assert all(e["receivedAt"] == RECEIVED_AT for e in lake)
    # the library is kept, the transport and SDK bookkeeping are not
    assert all(e["context"]["library"] == {"name": "RudderLabs JavaScript SDK", "version": "3.11.17"} for e in lake)
    assert all(set(e) <= LAKE_TOP_LEVEL for e in lake)
    body = q.raw("LakeQueue")
    for leaked in ("rudderId", "channel", "originalTimestamp", "sentAt", SHOP_WRITE_KEY, "max.mustermann@example.com"):
        assert leaked not in body
    page_seen = {
        "path": "/blog/consent",
        "title": "Consent done right",
        "url": "https://shop.example/blog/consent",
        "referrer": "https://search.example",
    }
    assert all(e["context"]["page"] == page_seen for e in lake)


def test_rudderstack_v3_beacon_uses_query_write_key_and_fails_closed_per_event(ingest: Any, cloud: LocalCloud) -> None:
    # Given a sendBeacon request: text/plain;charset=UTF-8, no Authorization header, the write key in
    # the query; a page with analytics consent and a track with no consent signal at all
    request = client_request("rudderstack-v3-beacon")
    assert "authorization" not in request["headers"]
    page, track = request["body"]["batch"]
    ok(ingest(api_event(request)))
    # Then only the consented page is queued with its data, once per receiving destination; the
    # unconsented track leaves a necessary-only record in the lake and nothing in the webhook
    assert depths(cloud) == only(cloud, "Ga4Queue", "WebhookQueue", "LakeQueue")
    q = Queues(cloud)
    for queue in ("WebhookQueue", "LakeQueue"):
        (event,) = q.events(queue)
        assert event["messageId"] == page["messageId"]
        assert event["type"] == "page" and event["name"] == "Consent done right"
        assert event["timestamp"] == "2026-11-24T10:15:01.750Z"
        assert event["context"]["ip"] == TRUNCATED_IP
        assert "Article Read" not in q.raw(queue)
    assert track["messageId"] not in q.raw("WebhookQueue")
    assert [r["messageId"] for r in q.necessary_only("LakeQueue")] == [track["messageId"]]


@pytest.mark.parametrize(("query", "status"), [({"writeKey": "wrong-key"}, 401), ({}, 401)])
def test_rudderstack_v3_beacon_needs_a_valid_query_write_key(
    ingest: Any, cloud: LocalCloud, query: dict[str, str], status: int
) -> None:
    request = client_request("rudderstack-v3-beacon")
    request["query"] = query
    response = ingest(api_event(request))
    assert response["statusCode"] == status
    assert json.loads(response["body"])["success"] is False
    assert sum(depths(cloud).values()) == 0


def test_rudderstack_v3_anonymous_visitor_with_empty_user_id_is_kept(ingest: Any, cloud: LocalCloud) -> None:
    # Given a page view from a visitor who never called identify: v3 sends "userId": ""
    request = client_request("rudderstack-v3-anonymous")
    (page,) = request["body"]["batch"]
    assert page["userId"] == ""
    response = ingest(api_event(request))
    # Then it is accepted like analytics-next's userId null: keyed by anonymousId, no userId
    ok(response)
    (event,) = Queues(cloud).events("LakeQueue")
    assert event["messageId"] == page["messageId"]
    assert event["anonymousId"] == pseudonym_of(cloud, "anonymousId", page["anonymousId"])
    assert "userId" not in event


# -- the connection's address, never the client's ------------------------------------------------


@pytest.mark.parametrize(
    "fixture", ["analytics-next-track", "analytics-next-batch", "rudderstack-v3-batch", "rudderstack-v3-beacon"]
)
@pytest.mark.parametrize(
    ("source_ip", "truncated"),
    [("203.0.113.77", "203.0.113.0"), ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::")],
)
def test_client_sent_ip_and_forwarded_for_are_never_trusted(
    ingest: Any, cloud: LocalCloud, fixture: str, source_ip: str, truncated: str
) -> None:
    # Given a client that claims another address in context.ip (and in X-Forwarded-For, which the
    # gateway must ignore unless TrustedProxy is set)
    request = client_request(fixture)
    events = request["body"]["batch"] if "batch" in request["body"] else [request["body"]]
    for event in events:
        event["context"]["ip"] = "198.51.100.99"
    request["headers"]["x-forwarded-for"] = "192.0.2.44"
    ok(ingest(api_event(request, source_ip=source_ip)))
    # Then every queued event holds the connection's address, truncated, and neither claim
    q = Queues(cloud)
    for queue in ("WebhookQueue", "LakeQueue"):
        got = q.events(queue)
        assert got
        assert {e["context"]["ip"] for e in got} == {truncated}
        body = q.raw(queue)
        for claim in ("198.51.100", "192.0.2.44", source_ip):
            assert claim not in body


# -- clock correction, for any skew and delay ----------------------------------------------------


def iso_ms(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    skew_ms=st.integers(min_value=-3 * 86_400_000, max_value=3 * 86_400_000),
    delay_ms=st.integers(min_value=0, max_value=600_000),
    batched=st.booleans(),
)
def test_clock_correction_for_any_client_skew(
    ingest: Any, cloud: LocalCloud, skew_ms: int, delay_ms: int, batched: bool
) -> None:
    # Given an analytics-next event stamped delay_ms before it was sent, by a clock skew_ms off
    client_sent = RECEIVED + timedelta(milliseconds=skew_ms)
    client_ts = client_sent - timedelta(milliseconds=delay_ms)
    if batched:
        request = client_request("analytics-next-batch")
        request["body"]["batch"] = [request["body"]["batch"][0]]
        request["body"]["batch"][0]["timestamp"] = iso_ms(client_ts)
        request["body"]["sentAt"] = iso_ms(client_sent)
    else:
        request = client_request("analytics-next-track")
        request["body"]["timestamp"] = iso_ms(client_ts)
        request["body"]["sentAt"] = iso_ms(client_sent)
    ok(ingest(api_event(request)))
    # Then its timestamp is the gateway's receive time minus the delay, whatever the skew
    url = cloud.physical_id("LakeQueue")
    messages = queue_messages(cloud, "LakeQueue")
    for m in messages:  # each example starts from an empty queue
        cloud.client("sqs").delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    (envelope,) = [json.loads(m["Body"]) for m in messages]
    (routed,) = envelope["events"]
    assert routed["event"]["timestamp"] == iso_ms(RECEIVED - timedelta(milliseconds=delay_ms))
    assert routed["event"]["receivedAt"] == RECEIVED_AT


def test_fixtures_are_the_shapes_the_clients_send() -> None:
    """Guard the fixtures themselves, so a later edit cannot quietly make them unrealistic."""
    for name in ("analytics-next-track", "analytics-next-page", "analytics-next-identify"):
        request = client_request(name)
        body = request["body"]
        assert request["path"] in ("/v1/t", "/v1/p", "/v1/i") and request["path"][-1] == body["type"][0]
        assert request["headers"]["content-type"] == "text/plain"
        assert request["headers"]["authorization"] == "Basic " + base64.b64encode(b"shop-write-key:").decode()
        assert body["writeKey"] == SHOP_WRITE_KEY and "_metadata" in body and "integrations" in body
        assert body["messageId"].startswith("ajs-next-") and "sentAt" in body
        assert body["context"]["library"]["name"] == "analytics.js"
        assert body["context"]["library"]["version"].startswith("npm:next-1.")
        assert set(body["context"]["page"]) == {"path", "referrer", "search", "title", "url"}
    batch = client_request("analytics-next-batch")
    assert batch["path"] == "/v1/b" and set(batch["body"]) == {"batch", "sentAt", "writeKey"}
    assert all("sentAt" not in e and e["writeKey"] == SHOP_WRITE_KEY for e in batch["body"]["batch"])
    for name in ("rudderstack-v3-batch", "rudderstack-v3-beacon", "rudderstack-v3-anonymous"):
        request = client_request(name)
        assert set(request["body"]) == {"batch", "sentAt"}
        for event in request["body"]["batch"]:
            assert event["channel"] == "web" and event["rudderId"] and event["originalTimestamp"]
            assert event["context"]["library"]["name"] == "RudderLabs JavaScript SDK"
            assert event["integrations"] == {"All": True}
    xhr = client_request("rudderstack-v3-batch")
    assert xhr["path"] == "/v1/batch" and xhr["headers"]["content-type"] == "application/json;charset=UTF-8"
    beacon = client_request("rudderstack-v3-beacon")
    assert beacon["path"] == "/beacon/v1/batch" and beacon["query"] == {"writeKey": SHOP_WRITE_KEY}
    assert beacon["headers"]["content-type"] == "text/plain;charset=UTF-8"
    assert "authorization" not in beacon["headers"]


def test_the_default_policys_lake_attributes_are_the_fixed_top_level_names() -> None:
    # the cookieless visitorId is the one more: only hits without analytics consent carry it
    policy = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    top_level = {a.split(".")[0] for a in policy["destinations"]["lake"]["attributes"]}
    assert len(LAKE_TOP_LEVEL) >= 10
    assert top_level == LAKE_TOP_LEVEL | {"visitorId"}
