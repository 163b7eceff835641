"""Delivery semantics against a real loopback HTTP server that misbehaves on purpose.

The webhook and GA4 forwarders run in-process (moto ``mock_aws`` for SQS, DynamoDB and S3) against
a server on 127.0.0.1 that answers what each test scripts: 500, 429, a read timeout, a connection
reset, or a 400. Retryable answers come back as batch item failures; permanent ones land in the
failed-events store with the answer; replay from the failed store delivers once the server
recovers. What a redelivery sends again is each destination's guarantee
(:mod:`fairtrack.destinations.guarantees`): the webhook at least once, every copy under the same
``Idempotency-Key``; GA4 once, through its one claim per message in the delivery ledger.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from awshelpers import mocked_cloud
from loopback import Flaky

from fairtrack.destinations.webhook import IDEMPOTENCY_HEADER
from fairtrack.stores.failed_events import FailedStore
from fairtrack.stores.ledger import Ledger
from fairtrack_tools.local.localcloud import LocalCloud
from fairtrack_tools.ops import replay

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    server = Flaky("/hook")
    yield server
    server.stop()


@pytest.fixture
def cloud(flaky: Flaky) -> Iterator[LocalCloud]:
    with mocked_cloud(parameters={"WebhookUrl": flaky.url, "Ga4Endpoint": flaky.base + "/ga4"}) as c:
        yield c


@pytest.fixture
def forward(load_handler: Any, context: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "0.5")
    handler = load_handler("WebhookForwarderFunction").handler

    def run(event: dict[str, Any]) -> list[str]:
        result = handler(event, context)
        return [f["itemIdentifier"] for f in result["batchItemFailures"]]

    return run


@pytest.fixture
def ga4(load_handler: Any, context: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The GA4 forwarder; ``run(event, context)`` answers the ids SQS is asked to redeliver."""
    monkeypatch.setenv("DESTINATION_TIMEOUT_SECONDS", "0.5")
    forwarder = load_handler("Ga4ForwarderFunction").forwarder

    def run(event: dict[str, Any], ctx: Any = context) -> list[str]:
        result = forwarder.handle(event, ctx)
        return [f["itemIdentifier"] for f in result["batchItemFailures"]]

    return run


def sample(destination: str = "webhook") -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "forwarder" / f"{destination}.json").read_text())
    return event


def ga4_message(*clients: str) -> dict[str, Any]:
    """One GA4 message with an event per client id given (GA4 sends one request per client)."""
    event = sample("ga4")
    body = json.loads(event["Records"][0]["body"])
    first = body["events"][0]
    body["events"] = []
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for n, client in enumerate(clients):
        routed = copy.deepcopy(first)
        routed["event"]["messageId"] = f"ga4-event-{n}"
        routed["event"]["anonymousId"] = client
        routed["event"]["timestamp"] = routed["event"]["receivedAt"] = now
        body["events"].append(routed)
    event["Records"][0]["body"] = json.dumps(body)
    return event


def ga4_sent(flaky: Flaky) -> list[str]:
    """The anonymous ids GA4 received an event of, one per event."""
    with flaky.lock:
        return [body["client_id"] for body in flaky.received for _ in body["events"]]


def claims(cloud: LocalCloud) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cloud.client("dynamodb").scan(TableName=cloud.physical_id("DeliveryTable"))["Items"]
    return items


def keys_sent(flaky: Flaky) -> list[str]:
    with flaky.lock:
        return [r["headers"][IDEMPOTENCY_HEADER] for r in flaky.requests if 200 <= r["status"] < 300]


def event_ids(event: dict[str, Any]) -> list[str]:
    return [e["event"]["messageId"] for r in event["Records"] for e in json.loads(r["body"])["events"]]


def failed_docs(cloud: LocalCloud) -> list[dict[str, Any]]:
    store = FailedStore(cloud.physical_id("FailedEventsBucket"), "webhook", cloud.client("s3"))
    return [store.read(k) for k in store.list_keys()]


def replay_from(cloud: LocalCloud, destination: str) -> tuple[replay.Resources, FailedStore, Ledger]:
    """Where ``fairtrack replay`` finds a destination's queues, ledger and failed store (the
    ``Webhook``/``Ga4`` resources of the template), with the failed store and the ledger it reads."""
    prefix = destination.capitalize()
    where = replay.Resources(
        queue_url=cloud.physical_id(f"{prefix}Queue"),
        dlq_url=cloud.physical_id(f"{prefix}DeadLetterQueue"),
        delivery_table=cloud.physical_id("DeliveryTable"),
        failed_bucket=cloud.physical_id("FailedEventsBucket"),
    )
    store = FailedStore(where.failed_bucket, destination, cloud.client("s3"))
    ledger = Ledger(where.delivery_table, destination, cloud.client("dynamodb"))
    return where, store, ledger


@pytest.mark.parametrize("fault", [500, 503, 429, "timeout", "reset"])
def test_retryable_faults_are_redelivered_and_then_sent_once(
    forward: Any, flaky: Flaky, cloud: LocalCloud, fault: int | str
) -> None:
    event = sample()
    message_id = event["Records"][0]["messageId"]
    # Given the destination fails once in a retryable way
    flaky.script = [fault]
    # Then the record comes back as a batch item failure, nothing is kept as failed
    assert forward(event) == [message_id]
    assert flaky.delivered_ids() == []
    assert failed_docs(cloud) == []
    # When SQS redelivers it and the destination has recovered, it is delivered
    assert forward(event) == []
    assert flaky.delivered_ids() == event_ids(event)
    # and a further redelivery (SQS is at-least-once) sends it again under the same idempotency key,
    # which is all a receiver needs to drop the copy; the webhook keeps no ledger
    assert forward(event) == []
    assert flaky.delivered_ids() == event_ids(event) * 2
    first, again = keys_sent(flaky)
    assert first == again and len(first) == 32
    assert claims(cloud) == []


def test_permanent_error_is_kept_with_the_answer_and_not_retried(forward: Any, flaky: Flaky, cloud: LocalCloud) -> None:
    event = sample()
    flaky.script = [400]
    assert forward(event) == []  # not retried: a 400 cannot succeed by repetition
    (doc,) = failed_docs(cloud)
    assert (doc["destination"], doc["reason"], doc["status"]) == ("webhook", "http_400", 400)
    assert doc["answer"] == '{"error":"bad field: batch[0].event"}'


def test_one_bad_message_does_not_hold_back_the_others(forward: Any, flaky: Flaky, cloud: LocalCloud) -> None:
    # Given two messages in one batch, and the destination fails only the first request
    event = sample()
    second = copy.deepcopy(event["Records"][0])
    second["messageId"] = "second-message"
    body = json.loads(second["body"])
    body["events"][0]["event"]["messageId"] = "second-event"
    second["body"] = json.dumps(body)
    event["Records"].append(second)
    flaky.script = [503]
    # Then only the first is retried; the second is delivered
    assert forward(event) == [event["Records"][0]["messageId"]]
    assert flaky.delivered_ids() == ["second-event"]
    # and when SQS redelivers both (a duplicate of the second too), the copy carries the same key:
    # deduplicated by it, each event was received once
    assert forward(event) == []
    with flaky.lock:
        by_key = {r["headers"][IDEMPOTENCY_HEADER] for r in flaky.requests if r["status"] == 200}
    assert len(keys_sent(flaky)) == 3 and len(by_key) == 2
    assert sorted(set(flaky.delivered_ids())) == sorted(event_ids(event))


def test_replay_from_the_failed_store_delivers_once_fixed(forward: Any, flaky: Flaky, cloud: LocalCloud) -> None:
    # Given an event refused for good, then the cause fixed
    event = sample()
    flaky.script = [422]
    assert forward(event) == []
    assert len(failed_docs(cloud)) == 1
    sqs = cloud.client("sqs")
    where, store, ledger = replay_from(cloud, "webhook")
    # When it is replayed
    result = replay.from_failed(sqs, store, ledger, where, destination="webhook")
    assert (result.messages, result.events, result.not_moved) == (1, len(event_ids(event)), 0)
    assert failed_docs(cloud) == []
    # Then the forwarder delivers what is on the queue now
    messages = sqs.receive_message(QueueUrl=where.queue_url, MaxNumberOfMessages=10)["Messages"]
    records = [{"messageId": m["MessageId"], "body": m["Body"], "messageAttributes": {}} for m in messages]
    assert forward({"Records": records}) == []
    assert flaky.delivered_ids() == event_ids(event)


def test_replay_from_the_dlq_moves_messages_back_with_their_attributes(cloud: LocalCloud) -> None:
    sqs = cloud.client("sqs")
    where, _, _ = replay_from(cloud, "webhook")
    bodies = [r["body"] for r in sample()["Records"]] * 3
    for body in bodies:
        sqs.send_message(
            QueueUrl=where.dlq_url,
            MessageBody=body,
            MessageAttributes={"correlation_id": {"DataType": "String", "StringValue": "req-1"}},
        )
    seen: list[Any] = []

    def progress(items: Any) -> Iterator[Any]:
        for item in items:
            seen.append(item)
            yield item

    result = replay.from_dlq(sqs, where, "webhook", progress)
    assert (result.messages, result.not_moved) == (3, 0)
    assert len(seen) == 3
    assert replay.depth(sqs, where.dlq_url) == 0
    moved = sqs.receive_message(QueueUrl=where.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert sorted(m["Body"] for m in moved) == sorted(bodies)
    assert {m["MessageAttributes"]["correlation_id"]["StringValue"] for m in moved} == {"req-1"}


def test_failed_object_is_gzip_json_under_the_destination_prefix(forward: Any, flaky: Flaky, cloud: LocalCloud) -> None:
    flaky.script = [400]
    forward(sample())
    s3, bucket = cloud.client("s3"), cloud.physical_id("FailedEventsBucket")
    (obj,) = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert obj["Key"].startswith("failed/webhook/dt=") and obj["Key"].endswith(".json.gz")
    raw = s3.get_object(Bucket=bucket, Key=obj["Key"])
    assert raw["ContentEncoding"] == "gzip"
    assert json.loads(gzip.decompress(raw["Body"].read()))["v"] == 1


def test_events_without_an_id_for_the_destination_are_all_delivered(
    forward: Any, flaky: Flaky, cloud: LocalCloud
) -> None:
    # Given a policy that keeps messageId from the webhook (the ledger then has no id to go by)
    import yaml

    from fairtrack_tools.ops import policy_ops

    doc = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    doc["destinations"]["webhook"]["attributes"].remove("messageId")
    ddb, table = cloud.client("dynamodb"), cloud.physical_id("PolicyTable")
    policy_ops.activate_policy(ddb, table, policy_ops.push_policy(ddb, table, doc))
    event = sample()
    body = json.loads(event["Records"][0]["body"])
    second = copy.deepcopy(body["events"][0])
    second["event"]["messageId"] = "another-event"
    body["events"].append(second)
    event["Records"][0]["body"] = json.dumps(body)
    # Then both events go out: neither is taken for a copy of the other
    assert forward(event) == []
    assert [len(b["batch"]) for b in flaky.received] == [2]


def test_the_idempotency_key_names_the_events_not_the_request(forward: Any, flaky: Flaky, cloud: LocalCloud) -> None:
    # Given the same message delivered twice with a new sentAt, and another message
    event = sample()
    forward(event)
    forward(event)
    other = copy.deepcopy(event)
    body = json.loads(other["Records"][0]["body"])
    body["events"][0]["event"]["messageId"] = "another-event"
    other["Records"][0]["body"] = json.dumps(body)
    forward(other)
    # Then the copies share a key and the other events have their own
    first, copy_, third = keys_sent(flaky)
    assert first == copy_ != third


@pytest.mark.parametrize("fault", [503, "timeout", "reset"])
def test_ga4_retries_a_message_and_never_sends_an_event_twice(
    ga4: Any, flaky: Flaky, cloud: LocalCloud, fault: int | str
) -> None:
    event = ga4_message("p-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    mid = event["Records"][0]["messageId"]
    # Given GA4 fails the message's request once
    flaky.script = [fault]
    # Then it is retried, and its claim deleted (nothing of it settled)
    assert ga4(event) == [mid]
    assert claims(cloud) == []
    # When SQS redelivers it, it is sent, for one claim
    assert ga4(event) == []
    assert ga4_sent(flaky) == ["p-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]
    [claim] = claims(cloud)
    assert claim["state"] == {"S": "claimed"} and claim["id"]["S"].startswith("ga4#")
    # and a copy of the message (another SQS message, the same body) is skipped as a duplicate
    copied = copy.deepcopy(event)
    copied["Records"][0]["messageId"] = "a-copy"
    assert ga4(copied) == []
    # while a second receive of the same SQS message within the lease is left for retry, unsent
    assert ga4(event) == [mid]
    assert ga4_sent(flaky) == ["p-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]


def test_ga4_sends_only_the_rest_of_a_partly_sent_message(ga4: Any, flaky: Flaky, cloud: LocalCloud) -> None:
    # Given a message whose events go out in two requests (two clients), the second failing
    clients = ["p-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "p-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"]
    event = ga4_message(*clients)
    flaky.script = [200, 503]  # by arrival: the two requests go out concurrently, in either order
    assert ga4(event) == [event["Records"][0]["messageId"]]
    [sent] = ga4_sent(flaky)
    # Then its claim records the sent event and ends the lease
    [claim] = claims(cloud)
    assert claim["settled"] == {"SS": [f"ga4-event-{clients.index(sent)}"]} and claim["lease_until"] == {"N": "0"}
    # and the redelivery sends only the other
    assert ga4(event) == []
    assert sorted(ga4_sent(flaky)) == clients


def test_ga4_sends_nothing_past_the_deadline_and_releases_the_claim(ga4: Any, flaky: Flaky, cloud: LocalCloud) -> None:
    class Late:
        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 2_000  # less than one request (0.5 s read, 2 s connect) and the settling

    event = ga4_message("p-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    assert ga4(event, Late()) == [event["Records"][0]["messageId"]]
    assert ga4_sent(flaky) == [] and flaky.requests == []
    assert claims(cloud) == []
    assert ga4(event) == []
    assert ga4_sent(flaky) == ["p-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]


def test_ga4_replay_from_the_failed_store_forgets_the_claim_of_what_it_queues(
    ga4: Any, flaky: Flaky, cloud: LocalCloud
) -> None:
    sqs = cloud.client("sqs")
    where, store, ledger = replay_from(cloud, "ga4")

    def replay_and_forward() -> None:
        assert replay.from_failed(sqs, store, ledger, where, destination="ga4").messages == 1
        [m] = sqs.receive_message(QueueUrl=where.queue_url, MaxNumberOfMessages=10)["Messages"]
        sqs.delete_message(QueueUrl=where.queue_url, ReceiptHandle=m["ReceiptHandle"])
        assert ga4({"Records": [{"messageId": m["MessageId"], "body": m["Body"], "messageAttributes": {}}]}) == []

    # Given an event GA4 refused for good, replayed, and refused again
    flaky.script = [403, 403]
    assert ga4(ga4_message("p-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")) == []
    replay_and_forward()
    assert ga4_sent(flaky) == [] and len([k for k in store.list_keys()]) == 1
    # When it is replayed once more (the same body), it is sent, not skipped as a copy
    replay_and_forward()
    assert ga4_sent(flaky) == ["p-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]
