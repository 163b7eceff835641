"""All four destinations through the whole local stack, then failure and replay through the CLI.

The local stack here is the one ``fairtrack dev`` runs (:class:`DevStack`), started in this process
rather than as a subprocess: a test must make a destination fail (``CaptureStore.fail``) and read
what the capture server made of each request (``valid``, ``problems``, path, headers), and neither
is reachable over HTTP. Everything else goes over HTTP exactly as against the subprocess: hits to
the ingest API, ``/_dev/captured``, ``/_dev/queues``, ``/_dev/aws``, and ``fairtrack replay``
run as a command with ``--local``.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from devstack_kit import eventually, running_dev_stack
from e2e_stack import Stack, fairtrack

from fairtrack_tools.local.stack import DevStack
from fairtrack_tools.local.validators import validate_ga4, validate_meta

AUTH = {"Authorization": "Basic ZGV2LXdyaXRlLWtleTo=", "Content-Type": "application/json"}
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
EMAIL = "  Jane.Doe@GMail.com "  # as typed: spaces, capitals, and a Gmail address with a dot
PHONE = "+49 170 1234567"
# normalised as each platform requires: GA4 drops the dots of a Gmail local part, Meta does not;
# GA4 takes E.164 with its "+", Meta the digits only
GA4_EMAIL, META_EMAIL = "janedoe@gmail.com", "jane.doe@gmail.com"
GA4_PHONE, META_PHONE = "+491701234567", "491701234567"
BOTH = {"analytics": True, "advertising": True}
ANALYTICS_ONLY = {"analytics": True, "advertising": False}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def signed(secret: str, request: dict[str, Any], body: Any) -> bool:
    """The webhook receiver's check, written out here rather than borrowed from the product:
    ``Fairtrack-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``, fresh."""
    parts = dict(p.split("=", 1) for p in request["headers"]["Fairtrack-Signature"].split(","))
    raw = json.dumps(body, separators=(",", ":")).encode()  # the body as the webhook serialised it
    mac = hmac.new(secret.encode(), parts["t"].encode() + b"." + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


class Local:
    """The in-process stack, and the same :class:`Stack` helpers the subprocess tests use."""

    def __init__(self, dev: DevStack) -> None:
        assert dev.api is not None
        self.dev = dev
        self.http = Stack(dev.api.base_url, None)  # type: ignore[arg-type]
        env = self.http.request("GET", "/_dev/aws")[1]
        self.outputs: dict[str, str] = env["outputs"]
        self.aws = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=env["region"])
        self.endpoint: str = env["endpoint_url"]

    def client(self, service: str) -> Any:
        return self.aws.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    def fail(self, name: str, status: int | None) -> None:
        self.dev.cloud.captures.fail(name, status)

    def pairs(self, name: str) -> list[tuple[Any, dict[str, Any]]]:
        """What ``name`` received, each body with the capture server's record of its request."""
        return list(zip(self.http.captured()[name], self.dev.cloud.captures.requests(name), strict=False))

    def queues(self) -> dict[str, dict[str, int]]:
        depths: dict[str, dict[str, int]] = self.http.request("GET", "/_dev/queues")[1]
        return depths

    def failed_keys(self, destination: str) -> list[str]:
        s3 = self.client("s3")
        got = s3.list_objects_v2(Bucket=self.outputs["FailedEventsBucketName"], Prefix=f"failed/{destination}/")
        return [o["Key"] for o in got.get("Contents", [])]

    def failed_doc(self, key: str) -> dict[str, Any]:
        body = self.client("s3").get_object(Bucket=self.outputs["FailedEventsBucketName"], Key=key)["Body"].read()
        doc: dict[str, Any] = json.loads(gzip.decompress(body))
        return doc

    def replay(self, destination: str, source: str) -> tuple[int, dict[str, Any]]:
        done = fairtrack(self.http, "replay", destination, "--from", source, "--wait", "20", "--quiet")
        try:
            report: dict[str, Any] = json.loads(done.stdout)
        except ValueError:
            pytest.fail(f"replay printed no JSON report:\nstdout: {done.stdout}\nstderr: {done.stderr}")
        return done.returncode, report


@pytest.fixture
def local() -> Iterator[Local]:
    with running_dev_stack() as dev:
        yield Local(dev)


def stays(predicate: Callable[[], bool], seconds: float) -> bool:
    """Whether ``predicate`` holds throughout ``seconds`` (long enough for a poller's batch window
    and long poll: anything queued would have been delivered)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(0.2)
    return predicate()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hits(anonymous_id: str, preferences: dict[str, bool]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Segment ``track`` "Order Completed" and a ``page`` call of the same visitor, carrying the
    visitor's e-mail and phone in ``context.traits`` as analytics.js does after an identify."""
    run = uuid.uuid4().hex[:10]
    context = {
        "consent": {"categoryPreferences": preferences},
        "userAgent": USER_AGENT,
        "page": {
            "url": "https://shop.example/checkout/thanks?utm_source=newsletter",
            "path": "/checkout/thanks",
            "title": "Thank you",
            "referrer": "https://www.example.org/some/where",
        },
        "traits": {"email": EMAIL, "phone": PHONE},
        "locale": "de-DE",
    }
    track = {
        "type": "track",
        "event": "Order Completed",
        "anonymousId": anonymous_id,
        "messageId": f"track-{run}",
        "timestamp": now_iso(),
        "properties": {
            "order_id": f"ord-{run}",
            "revenue": 49.9,
            "currency": "eur",
            "products": [{"product_id": "sku-1", "name": "Mug", "price": 24.95, "quantity": 2}],
        },
        "context": context,
    }
    page = {
        "type": "page",
        "name": "Thank you",
        "anonymousId": anonymous_id,
        "messageId": f"page-{run}",
        "timestamp": now_iso(),
        "properties": {},
        "context": context,
    }
    return track, page


def post(local: Local, kind: str, body: dict[str, Any]) -> None:
    status, answer = local.http.request("POST", f"/v1/{kind}", json.dumps(body).encode(), AUTH)
    assert status == 200, answer


def visit(local: Local, preferences: dict[str, bool]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A new visitor's :func:`hits`, posted: the visitor's raw id, the track and the page."""
    raw_id = f"anon-{uuid.uuid4()}"
    track, page = hits(raw_id, preferences)
    post(local, "track", track)
    post(local, "page", page)
    return raw_id, track, page


def events_in(destination: str, captured: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every event a destination received, over all its requests."""
    if destination == "ga4":
        return [e for body in captured["ga4"] for e in body["events"]]
    if destination == "meta":
        return [e for body in captured["meta"] for e in body["data"]]
    if destination == "webhook":
        return [e for body in captured["webhook"] for e in body["batch"]]
    return [r["event"] for r in captured["lake"]]


def ids_in(destination: str, captured: dict[str, list[Any]]) -> list[str]:
    """The message ids a destination received (Meta: ``event_id``; GA4 events carry none)."""
    key = "event_id" if destination == "meta" else "messageId"
    return [e[key] for e in events_in(destination, captured)]


def assert_no_personal_data(local: Local, raw_ids: list[str]) -> None:
    """No clear e-mail, phone or client id anywhere a destination got (bodies and URLs)."""
    captured = local.http.captured()
    texts = [json.dumps(captured, ensure_ascii=False)]
    texts += [r["query"] for name in ("ga4", "meta", "webhook") for r in local.dev.cloud.captures.requests(name)]
    blob = "\n".join(texts).lower()
    planted = [
        EMAIL.strip(),
        META_EMAIL,
        GA4_EMAIL,
        "jane.doe",
        "janedoe",
        "jane.doe%40",
        PHONE,
        META_PHONE,
        "1701234567",
    ]
    for value in [*planted, *raw_ids]:
        assert value.lower() not in blob, value


def test_all_four_destinations_get_a_valid_minimal_payload_under_full_consent(local: Local) -> None:
    raw_id, track, page = visit(local, BOTH)
    ids = {track["messageId"], page["messageId"]}

    got = local.http.wait_for(
        lambda c: (
            len(events_in("ga4", c)) >= 2
            and set(ids_in("meta", c)) >= ids
            and set(ids_in("webhook", c)) >= ids
            and set(ids_in("lake", c)) >= ids
        ),
        timeout=30,  # returns as soon as it holds; a loaded 2-core machine has taken over 10 s
    )
    pseudonym = local.http.pseudonym("anonymousId", raw_id)
    assert pseudonym != raw_id and pseudonym.startswith("p-")

    # GA4: debug endpoint, every request valid, the visitor's pseudonym as client_id, the hashed
    # e-mail and phone with ad_user_data granted
    ga4 = local.pairs("ga4")
    assert ga4, got
    for body, request in ga4:
        assert request["path"] == "/ga4/debug/mp/collect"
        assert "measurement_id=G-LOCAL" in request["query"]
        assert request["valid"] is True and request["problems"] == [], request["problems"]
        assert validate_ga4(body) == []
        assert body["client_id"] == pseudonym
        assert body["consent"] == {"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"}
        assert body["user_data"]["sha256_email_address"] == [sha256(GA4_EMAIL)]
        assert body["user_data"]["sha256_phone_number"] == [sha256(GA4_PHONE)]
    ga4_events = events_in("ga4", got)
    assert sorted(e["name"] for e in ga4_events) == ["page_view", "purchase"]
    [purchase] = [e for e in ga4_events if e["name"] == "purchase"]
    assert purchase["params"]["transaction_id"] == track["properties"]["order_id"]
    assert purchase["params"]["value"] == 49.9 and purchase["params"]["currency"] == "EUR"
    assert [i["item_id"] for i in purchase["params"]["items"]] == ["sku-1"]
    [page_view] = [e for e in ga4_events if e["name"] == "page_view"]
    assert page_view["params"]["page_location"] == "https://shop.example/checkout/thanks?utm_source=newsletter"
    assert page_view["params"]["page_referrer"] == "https://www.example.org"

    # Meta: every request valid, one event per hit with the hit's messageId as event_id
    meta = local.pairs("meta")
    assert meta
    for body, request in meta:
        assert request["path"] == "/meta/v21.0/1234567890/events"
        assert request["valid"] is True and request["problems"] == [], request["problems"]
        assert validate_meta(body) is None
    meta_events = {e["event_id"]: e for e in events_in("meta", got)}
    assert sorted(ids_in("meta", got)) == sorted(ids)
    assert meta_events[track["messageId"]]["event_name"] == "Purchase"
    assert meta_events[page["messageId"]]["event_name"] == "PageView"
    for event in meta_events.values():
        assert event["action_source"] == "website"
        assert event["event_source_url"] == "https://shop.example/checkout/thanks?utm_source=newsletter"
        user = event["user_data"]
        assert user["em"] == [sha256(META_EMAIL)]
        assert user["ph"] == [sha256(META_PHONE)]
        assert user["external_id"] == [sha256(pseudonym)]
        assert user["client_user_agent"] == USER_AGENT
        assert user["client_ip_address"] == "127.0.0.0"
    custom = meta_events[track["messageId"]]["custom_data"]
    assert (custom["value"], custom["currency"], custom["order_id"]) == (49.9, "EUR", track["properties"]["order_id"])
    assert custom["content_ids"] == ["sku-1"]

    # webhook: the signed batch, its allowlist only (no user agent, no user data)
    secret = local.client("secretsmanager").get_secret_value(SecretId="fairtrack-local-webhook")["SecretString"]
    webhook = local.pairs("webhook")
    assert webhook
    for body, request in webhook:
        assert signed(secret, request, body)
        assert not signed("not the secret", request, body)
        assert body["source"] == "dev"
    assert sorted(ids_in("webhook", got)) == sorted(ids)
    for event in events_in("webhook", got):
        assert event["anonymousId"] == pseudonym
        assert "userAgent" not in event["context"] and "userData" not in event
        assert event["context"]["agent"]["browser"] == "Chrome"
    [hook_track] = [e for e in events_in("webhook", got) if e["type"] == "track"]
    assert hook_track["event"] == "Order Completed"
    assert hook_track["properties"]["order_id"] == track["properties"]["order_id"]

    # lake: one record per hit, with the purposes granted
    assert sorted(ids_in("lake", got)) == sorted(ids)
    for record in got["lake"]:
        assert record["purposes"] == ["advertising", "analytics", "necessary"]
        assert record["event"]["anonymousId"] == pseudonym
        assert "userData" not in record["event"] and "userAgent" not in record["event"]["context"]

    assert_no_personal_data(local, [raw_id])


def test_analytics_only_sends_ga4_without_user_data_and_nothing_to_meta(local: Local) -> None:
    raw_id, track, page = visit(local, ANALYTICS_ONLY)
    ids = {track["messageId"], page["messageId"]}

    got = local.http.wait_for(
        lambda c: len(events_in("ga4", c)) >= 2 and set(ids_in("webhook", c)) >= ids and set(ids_in("lake", c)) >= ids,
        timeout=30,
    )
    pseudonym = local.http.pseudonym("anonymousId", raw_id)
    ga4 = local.pairs("ga4")
    assert ga4, got
    for body, request in ga4:
        assert request["valid"] is True, request["problems"]
        assert body["client_id"] == pseudonym
        assert body["consent"] == {"ad_user_data": "DENIED", "ad_personalization": "DENIED"}
        assert "user_data" not in body
    assert sorted(e["name"] for e in events_in("ga4", got)) == ["page_view", "purchase"]
    # Meta needs advertising: nothing was sent, and nothing waits on its queue either
    assert local.http.captured()["meta"] == []
    depths = local.queues()
    assert depths["MetaQueue"] == {"visible": 0, "in_flight": 0}
    assert depths["MetaDeadLetterQueue"]["visible"] == 0
    for record in got["lake"]:
        assert record["purposes"] == ["analytics", "necessary"]
    assert_no_personal_data(local, [raw_id])


def test_meta_refusal_goes_to_the_failed_store_and_replays_exactly_once(local: Local) -> None:
    # Given Meta refuses every request for good
    local.fail("meta", 400)
    track, _ = hits(f"anon-{uuid.uuid4()}", BOTH)
    mid = track["messageId"]
    post(local, "track", track)

    # Then the event lands in the failed-events store, with Meta's answer, and is not retried
    assert eventually(lambda: len(local.failed_keys("meta")) == 1, 10), local.queues()
    [key] = local.failed_keys("meta")
    doc = local.failed_doc(key)
    assert (doc["destination"], doc["status"], doc["reason"]) == ("meta", 400, "http_400")
    assert [e["event"]["messageId"] for env in doc["envelopes"] for e in env["envelope"]["events"]] == [mid]
    assert EMAIL.strip().lower() not in json.dumps(doc).lower()
    assert eventually(lambda: local.queues()["MetaQueue"] == {"visible": 0, "in_flight": 0}, 5)
    assert local.http.captured()["meta"] == []

    # When Meta recovers and the operator replays the failed events
    local.fail("meta", None)
    code, report = local.replay("meta", "failed")

    # Then one message went back, nothing failed again, and Meta got the event exactly once
    assert code == 0, report
    assert report["messages"] == 1 and report["events"] == 1, report
    assert report["failed_again"] == 0 and report["drained"] is True and report["back_in_dlq"] == 0, report
    assert local.failed_keys("meta") == []
    got = local.http.wait_for(lambda c: mid in ids_in("meta", c), timeout=5)
    assert ids_in("meta", got) == [mid]
    [(body, request)] = local.pairs("meta")
    assert request["valid"] is True, request["problems"]
    assert body["data"][0]["event_name"] == "Purchase"

    # And a second replay finds nothing, and sends nothing
    code, again = local.replay("meta", "failed")
    assert code == 0, again
    assert again["messages"] == 0 and again["events"] == 0, again
    assert stays(lambda: ids_in("meta", local.http.captured()) == [mid], 2.5)
    assert local.queues()["MetaQueue"] == {"visible": 0, "in_flight": 0}


def shorten_visibility(local: Local, logical: str) -> None:
    local.client("sqs").set_queue_attributes(
        QueueUrl=local.outputs[f"{logical}Url"], Attributes={"VisibilityTimeout": "1"}
    )
    time.sleep(1.2)  # a long poll already waiting took the old timeout with it: let it end


def test_webhook_outage_dead_letters_then_dlq_replay_delivers_exactly_once(local: Local) -> None:
    # Given the webhook is down (503, retryable) and its queue redelivers after 1 s
    shorten_visibility(local, "WebhookQueue")
    local.fail("webhook", 503)
    track, _ = hits(f"anon-{uuid.uuid4()}", ANALYTICS_ONLY)
    mid = track["messageId"]
    post(local, "track", track)

    # Then after maxReceiveCount failed deliveries the message sits in the webhook's DLQ
    assert eventually(lambda: local.queues()["WebhookDeadLetterQueue"]["visible"] == 1, 30), local.queues()
    assert local.queues()["WebhookQueue"] == {"visible": 0, "in_flight": 0}
    assert local.http.captured()["webhook"] == []
    assert local.failed_keys("webhook") == []  # retryable: never a permanent failure

    # When the webhook recovers and the operator replays the DLQ
    local.fail("webhook", None)
    code, report = local.replay("webhook", "dlq")

    # Then the message went back once, and the webhook got the event exactly once, signed
    assert code == 0, report
    assert report["messages"] == 1 and report["events"] == 1 and report["not_moved"] == 0, report
    assert report["drained"] is True and report["back_in_dlq"] == 0 and report["failed_again"] == 0, report
    got = local.http.wait_for(lambda c: mid in ids_in("webhook", c), timeout=5)
    assert ids_in("webhook", got) == [mid]
    assert stays(lambda: ids_in("webhook", local.http.captured()) == [mid], 2.5)
    secret = local.client("secretsmanager").get_secret_value(SecretId="fairtrack-local-webhook")["SecretString"]
    [(body, request)] = local.pairs("webhook")
    assert signed(secret, request, body)
    depths = local.queues()
    assert depths["WebhookDeadLetterQueue"] == {"visible": 0, "in_flight": 0}
    assert depths["WebhookQueue"] == {"visible": 0, "in_flight": 0}
    # the lake, unaffected by the webhook's outage, holds the hit once
    assert ids_in("lake", local.http.captured()) == [mid]
