"""The decision log end to end: the four forwarders run in-process (moto, the capture server) with
the template's ``DECISION_LOG_STREAM``, a Firehose stream (moto's) that writes to the lake bucket,
and ``fairtrack audit`` reads what they logged.

The audit's counts are checked against counts made here, independently of the policy engine and of
the log: from what each destination actually received (the capture server's decoded requests and
the lake's own records), field by field, and from how the traffic was built (which events are too
old or lack a client id)."""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from template_functions import FORWARDER_FUNCTIONS

from fairtrack_tools.local.localcloud import LocalCloud
from fairtrack_tools.ops import audit

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = sorted(yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())["attributes"])
NOW = datetime.now(UTC).replace(microsecond=0)
HEX = "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)

# consent states of the day's visitors: purposes granted
ANALYTICS = ["analytics", "necessary"]
ADVERTISING = ["advertising", "analytics", "necessary"]
NECESSARY = ["necessary"]


def iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pseudonym(name: str) -> str:
    """A gateway pseudonym (``p-`` and 32 hex digits) standing for ``name``: ingest queues no raw id."""
    return "p-" + hashlib.sha256(name.encode()).hexdigest()[:32]


def hit(n: int, shape: str, received: datetime, *, visitor: str, user: bool = False) -> dict[str, Any]:
    """A queued event as ingest leaves it (anonymised, pseudonymised), before the forwarder's policy."""
    event: dict[str, Any] = {
        "type": "page" if shape == "page" else "track",
        "messageId": f"msg-{n:03d}",
        "anonymousId": pseudonym(f"anonymous {visitor}"),
        "timestamp": iso(received - timedelta(seconds=2)),
        "receivedAt": iso(received),
        "context": {
            "page": {
                "url": "https://shop.example/pricing?utm_source=news",
                "path": "/pricing",
                "title": "Pricing",
                "referrer": "https://search.example",
            },
            "ip": "203.0.113.0",
            "userAgent": SAFARI,
            "locale": "de-DE",
            "location": {"country": "DE"},
            "session": {"id": "1795515290", "number": 3, "engagementTimeMs": 5200},
            "campaign": {"source": "news", "medium": "email"},
            "clickIds": {"fbclid": "IwAR2example"},
        },
    }
    if user:
        event["userId"] = pseudonym(f"user {visitor}")
        event["userData"] = {"ga4": {"sha256_email_address": [HEX]}, "meta": {"em": [HEX]}}
    if shape == "order":
        event["event"] = "Order Completed"
        event["properties"] = {
            "order_id": f"ord_{n}",
            "revenue": 49.9,
            "currency": "EUR",
            "products": [{"product_id": "sku-1", "name": "Mug", "price": 24.95, "quantity": 2}],
        }
    elif shape == "signup":
        event["event"] = "Signed Up"  # no properties at all
    else:
        event["name"] = "Pricing"
        # a page call's copy of the URL is catalogued apart and sent nowhere: withheld
        event["properties"] = {"section": "pricing", "url": "https://shop.example/pricing?utm_source=news"}
    return event


def day_of_traffic() -> list[list[tuple[list[str], dict[str, Any]]]]:
    """A day of traffic as queue messages (one per request): visitors with different consent, events
    with and without properties, signed-in buyers with hashed user data; plus an event without a
    client id and one received eight days ago."""
    messages: list[list[tuple[list[str], dict[str, Any]]]] = []
    n = 0
    visitors = [
        ("ana", ANALYTICS, False),
        ("ben", ADVERTISING, True),
        ("cho", NECESSARY, False),
        ("dev", ADVERTISING, False),
        ("eve", ANALYTICS, True),
        ("fay", NECESSARY, False),
    ]
    for v, (visitor, purposes, signed_in) in enumerate(visitors):
        for burst, shapes in enumerate((["page", "signup"], ["page", "order"], ["signup"])):
            received = NOW - timedelta(hours=20) + timedelta(minutes=37 * v + 150 * burst)
            message = []
            for k, shape in enumerate(shapes):
                n += 1
                user = signed_in and shape == "order"
                message.append((purposes, hit(n, shape, received + timedelta(seconds=k), visitor=visitor, user=user)))
            messages.append(message)
    no_client = hit(900, "signup", NOW - timedelta(hours=1), visitor="gus")
    del no_client["anonymousId"]
    old = hit(901, "order", NOW - timedelta(days=8), visitor="hal", user=True)
    messages.append([(ADVERTISING, no_client), (ADVERTISING, old)])
    return messages


def sqs_event(destination: str, messages: list[list[tuple[list[str], dict[str, Any]]]], first: int = 0) -> Any:
    return {
        "Records": [
            {
                "messageId": f"{destination}-record-{first + i}",
                "body": json.dumps(
                    {
                        "v": 1,
                        "destination": destination,
                        "source_id": "dev",
                        "policy_version": 1,
                        "events": [{"purposes": p, "event": copy.deepcopy(e)} for p, e in message],
                    }
                ),
                "messageAttributes": {},
            }
            for i, message in enumerate(messages)
        ]
    }


@pytest.fixture
def forward(
    cloud: LocalCloud, load_handler: Callable[[str], Any], context: Any, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, Any], list[str]]:
    handlers: dict[str, Any] = {}

    def run(destination: str, event: Any) -> list[str]:
        if destination not in handlers:
            handlers[destination] = load_handler(FORWARDER_FUNCTIONS[destination]).handler
        result = handlers[destination](event, context)
        return [f["itemIdentifier"] for f in result["batchItemFailures"]]

    return run


# -- what the destinations received, counted without the engine or the log -----------------------------


def objects(cloud: LocalCloud, prefix: str) -> list[tuple[str, bytes]]:
    s3, bucket = cloud.client("s3"), cloud.physical_id("LakeBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return [(k, gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"].read())) for k in keys]


def present(event: dict[str, Any], path: str) -> bool:
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def received(cloud: LocalCloud) -> dict[str, list[Any]]:
    """The events each destination received, one item per event (GA4: the request with one event)."""
    captured = cloud.captures.snapshot()
    lake = [json.loads(line)["event"] for _, body in objects(cloud, "lake/") for line in body.decode().splitlines()]
    return {
        "webhook": [e for body in captured["webhook"] for e in body["batch"]],
        "lake": lake,
        "ga4": [{**body, "event": e} for body in captured["ga4"] for e in body["events"]],
        "meta": [e for body in captured["meta"] for e in body["data"]],
    }


# the parameters the GA4 mapper sets of its own (fairtrack.destinations.ga4_params, steps 1-3), written
# out independently of it: an event carries ``properties`` when it holds any other parameter
MAPPER_PARAMS = set((Path(__file__).parent / "data" / "ga4_mapper_params.txt").read_text().split())
# canonical field -> does this received GA4 event carry it (the request holds client-level parts)
GA4_WIRE: dict[str, Callable[[dict[str, Any]], bool]] = {
    "anonymousId": lambda r: "client_id" in r,
    "userId": lambda r: "user_id" in r,
    "userData.ga4": lambda r: "user_data" in r,
    "context.page.url": lambda r: "page_location" in r["event"]["params"],
    "context.page.referrer": lambda r: "page_referrer" in r["event"]["params"],
    "context.session": lambda r: "session_id" in r["event"]["params"],
    "context.campaign": lambda r: "source" in r["event"]["params"],
    "properties": lambda r: bool(set(r["event"]["params"]) - MAPPER_PARAMS),
}
META_WIRE: dict[str, Callable[[dict[str, Any]], bool]] = {
    "context.ip": lambda e: "client_ip_address" in e["user_data"],
    "context.userAgent": lambda e: "client_user_agent" in e["user_data"],
    "context.clickIds": lambda e: "fbc" in e["user_data"],
    "context.page.url": lambda e: "event_source_url" in e,
    "userData.meta": lambda e: "em" in e["user_data"],
}


def field_counts(destination: str, events: list[Any]) -> Counter[str]:
    """Per catalogued field, how many received events carried it."""
    counts: Counter[str] = Counter()
    if destination in ("webhook", "lake"):  # the canonical event itself
        for event in events:
            counts.update(path for path in CATALOGUE if present(event, path))
    else:
        wire = GA4_WIRE if destination == "ga4" else META_WIRE
        for event in events:
            counts.update(name for name, carried in wire.items() if carried(event))
    return counts


# -- what the audit says ----------------------------------------------------------------------------


def audited(rows: list[dict[str, Any]], destination: str) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    events: Counter[tuple[str, str]] = Counter()
    fields: Counter[str] = Counter()
    for r in rows:
        if r["destination"] != destination:
            continue
        if r["field"] is None:
            events[(r["action"], r["reason"])] += r["count"]
        elif r["action"] in ("sent", "reduced"):
            fields[r["field"]] += r["count"]
    return events, fields


def test_the_audit_counts_what_each_destination_received(
    forward: Callable[[str, Any], list[str]], cloud: LocalCloud
) -> None:
    # Given a day of traffic queued for every destination, forwarded in two batches each
    messages = day_of_traffic()
    queued = sum(len(m) for m in messages)
    for destination in FORWARDER_FUNCTIONS:
        assert forward(destination, sqs_event(destination, messages[:9])) == []
        assert forward(destination, sqs_event(destination, messages[9:], first=9)) == []
    got = received(cloud)
    assert all(r["valid"] for d in ("ga4", "meta") for r in cloud.captures.requests(d)), "the stand-ins refused"

    # When the audit reads the log for the period the traffic covers
    days = sorted({e["receivedAt"][:10] for m in messages for _, e in m})
    s3, bucket = cloud.client("s3"), cloud.physical_id("LakeBucket")
    rows = audit.load_rows(s3, bucket, days[0], days[-1])

    # Then, per destination, the events it sent are the events that arrived there
    expected_drops = {
        "webhook": Counter(),
        "lake": Counter(),
        "ga4": Counter({"too_old": 1, "missing_client_id": 1}),
        "meta": Counter({"too_old": 1}),
    }
    for destination in FORWARDER_FUNCTIONS:
        events, fields = audited(rows, destination)
        assert events[("sent", "delivered")] == len(got[destination]) > 0, destination
        drops = Counter({reason: n for (action, reason), n in events.items() if action == "dropped"})
        assert drops == expected_drops[destination], destination
        skipped = sum(n for (action, _), n in events.items() if action == "skipped")
        # every queued event is accounted for: arrived, dropped by the destination, or skipped
        assert len(got[destination]) + drops.total() + skipped == queued, destination
        assert not any(action == "failed" for action, _ in events), destination
        # and for every field, the number of events that carried it
        carried = field_counts(destination, got[destination])
        if destination in ("webhook", "lake"):
            assert fields == carried, destination
        else:  # the fields the wire format shows one to one
            wire = GA4_WIRE if destination == "ga4" else META_WIRE
            assert {f: fields[f] for f in wire} == {f: carried[f] for f in wire}, destination

    # the skips say which purpose was missing: analytics for webhook and GA4, advertising for Meta
    skips = {(r["destination"], r["purpose"], r["legal_basis"]) for r in rows if r["action"] == "skipped"}
    assert skips == {
        ("webhook", "analytics", "consent"),
        ("ga4", "analytics", "consent"),
        ("meta", "advertising", "consent"),
    }
    necessary_only = sum(len([1 for p, _ in m if p == NECESSARY]) for m in messages)
    assert sum(r["count"] for r in rows if r["destination"] == "webhook" and r["action"] == "skipped") == necessary_only
    # the lake got necessary-only records of the visitors without analytics: their analytics fields
    # were withheld, with the reason and the purpose
    withheld = {
        (r["field"], r["reason"], r["purpose"]) for r in rows if r["destination"] == "lake" and r["action"] == "dropped"
    }
    assert ("properties", "purpose_not_granted", "analytics") in withheld
    assert ("context.page.path", "purpose_not_granted", "analytics") in withheld
    # and a page call's copy of its URL went nowhere
    for destination in ("webhook", "lake", "ga4", "meta"):
        assert any(
            r["field"] == "properties.url" and r["action"] == "dropped" for r in rows if r["destination"] == destination
        )
    # under the policy version active now, on the days the events were received
    assert {r["policy_version"] for r in rows} == {1}
    assert {r["day"] for r in rows} == set(days)
    assert {r["source"] for r in rows} == {"dev"}


def test_one_small_record_per_batch_beside_the_lake_never_in_it(
    forward: Callable[[str, Any], list[str]], cloud: LocalCloud
) -> None:
    messages = day_of_traffic()[:4]  # received within a few hours: one day, or two around midnight
    stream = cloud.physical_id("DecisionLogStream")
    assert forward("lake", sqs_event("lake", messages)) == []
    assert forward("webhook", sqs_event("webhook", messages)) == []
    # moto's Firehose writes each PutRecordBatch at once, as one object under the delivery hour
    logged = objects(cloud, "decisions/")
    days = {e["receivedAt"][:10] for m in messages for _, e in m}
    assert len(logged) == 2  # one record per batch, whatever days it covers
    destinations = set()
    for key, body in logged:
        match = re.fullmatch(rf"decisions/(\d{{4}})/(\d{{2}})/(\d{{2}})/\d{{2}}/{stream}-.+", key)
        assert match, key
        rows = [json.loads(line) for line in body.decode().splitlines()]
        (destination,) = {r["destination"] for r in rows}
        destinations.add(destination)
        assert {r["day"] for r in rows} == days
        assert max(days) <= "-".join(match.groups())  # a row's day is never after its delivery
        assert len(body) < 16_384
        # counts, paths and reasons only: nothing an event carried
        for value in ("msg-", pseudonym("anonymous ana"), "203.0.113", "shop.example", "Pricing", "ord_", SAFARI[:20]):
            assert value not in body.decode(), (key, value)
    assert destinations == {"lake", "webhook"}
    # the lake's own records are untouched by the log
    lake_keys = [k for k, _ in objects(cloud, "lake/")]
    assert lake_keys and all(k.startswith("lake/dt=") for k in lake_keys)


def test_retried_events_are_counted_once_when_they_settle(
    forward: Callable[[str, Any], list[str]], cloud: LocalCloud
) -> None:
    traffic = day_of_traffic()
    messages = traffic[0:3] + traffic[6:9]  # ana (analytics: sent) and cho (necessary only: skipped)
    event = sqs_event("webhook", messages)
    days = sorted({e["receivedAt"][:10] for m in messages for _, e in m})
    s3, bucket = cloud.client("s3"), cloud.physical_id("LakeBucket")

    def counts() -> Counter[tuple[str, str]]:
        return audited(audit.load_rows(s3, bucket, days[0], days[-1]), "webhook")[0]

    # Given the webhook answers 503: ana's records are retried and not counted yet; cho's, which
    # the policy sends nowhere, settle at once
    cloud.captures.fail("webhook", 503)
    failures = forward("webhook", event)
    assert failures == [f"webhook-record-{i}" for i in range(3)]
    assert counts() == Counter({("skipped", "purpose_not_granted"): 5})
    # When SQS redelivers them and the webhook has recovered, they are counted, once
    cloud.captures.fail("webhook", None)
    retried = {"Records": [r for r in event["Records"] if r["messageId"] in failures]}
    assert forward("webhook", retried) == []
    settled = counts()
    assert settled == Counter({("sent", "delivered"): 5, ("skipped", "purpose_not_granted"): 5})
    assert len(received(cloud)["webhook"]) == 5
    # and a duplicate delivery (SQS is at-least-once) is sent again, the webhook being at least once
    # with an idempotency key (GA4 alone keeps a ledger): the log counts every copy it sent
    assert forward("webhook", retried) == []
    assert counts() == settled + Counter({("sent", "delivered"): 5})
    assert len(received(cloud)["webhook"]) == 10


def test_a_decision_log_that_cannot_be_written_does_not_hold_back_delivery(
    forward: Callable[[str, Any], list[str]], cloud: LocalCloud, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the decision log's stream is gone (the webhook does not need it)
    cloud.client("firehose").delete_delivery_stream(DeliveryStreamName=cloud.physical_id("DecisionLogStream"))
    # Then the webhook still gets its events and SQS is asked to retry nothing
    assert forward("webhook", sqs_event("webhook", day_of_traffic()[:2])) == []
    assert len(cloud.captures.snapshot()["webhook"]) == 2
    batch = next(r for r in caplog.records if r.getMessage() == "batch forwarded")
    assert batch.decision_log == "write_failed"  # type: ignore[attr-defined]


def test_the_audit_command_renders_the_period(
    forward: Callable[[str, Any], list[str]], cloud: LocalCloud, tmp_path: Path
) -> None:
    messages = day_of_traffic()
    for destination in FORWARDER_FUNCTIONS:
        assert forward(destination, sqs_event(destination, messages)) == []
    got = received(cloud)
    days = sorted({e["receivedAt"][:10] for m in messages for _, e in m})
    parser = argparse.ArgumentParser(prog="fairtrack")
    audit.add_parser(parser.add_subparsers(dest="command"))
    bucket = cloud.physical_id("LakeBucket")
    for fmt in ("md", "html"):
        out = tmp_path / f"audit.{fmt}"
        args = parser.parse_args(
            ["audit", "--from", days[0], "--to", days[-1], "--bucket", bucket, "--format", fmt, "--out", str(out)]
        )
        assert args.func(args) == 0
        text = out.read_text()
        if fmt == "md":
            for destination in FORWARDER_FUNCTIONS:
                sent = len(got[destination])
                assert re.search(rf"^\| `{destination}` \| {sent} \|", text, re.M), destination
            assert text.count("```text") >= 4  # a chart per destination
        else:
            assert text.count("<svg ") >= 4
            assert "<script" not in text


def test_the_audit_refuses_an_unreadable_object(cloud: LocalCloud) -> None:
    s3, bucket = cloud.client("s3"), cloud.physical_id("LakeBucket")
    s3.put_object(Bucket=bucket, Key="decisions/dt=2026-11-24/destination=ga4/x.ndjson.gz", Body=b"plain text")
    with pytest.raises(audit.AuditError, match=r"x\.ndjson\.gz"):
        audit.load_rows(s3, bucket, "2026-11-24", "2026-11-24")
