"""Delivery semantics against a real loopback HTTP server that misbehaves on purpose.

The webhook forwarder runs in-process (moto ``mock_aws`` for SQS, DynamoDB and S3) against a
server on 127.0.0.1 that answers what each test scripts: 500, 429, a read timeout, a connection
reset, or a 400. Retryable answers come back as batch item failures; permanent ones land in the
failed-events store with the answer; a redelivered record is not sent twice; replay from the
failed store delivers once the server recovers.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from loopback import Flaky
from moto import mock_aws

from fairtrack.failed_store import FailedStore
from fairtrack.ledger import Ledger
from fairtrack_tools import replay
from fairtrack_tools.localcloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    server = Flaky("/hook")
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def cloud(flaky: Flaky) -> Iterator[LocalCloud]:
    with mock_aws():
        c = LocalCloud(embedded=False, parameters={"WebhookUrl": flaky.url}).start()
        try:
            yield c
        finally:
            c.stop()
            parameters.clear_caches()


@pytest.fixture
def forward(load_handler: Any, context: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "0.5")
    handler = load_handler("WebhookForwarderFunction").handler

    def run(event: dict[str, Any]) -> list[str]:
        result = handler(event, context)
        return [f["itemIdentifier"] for f in result["batchItemFailures"]]

    return run


def sample() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "forwarder" / "webhook.json").read_text())
    return event


def event_ids(event: dict[str, Any]) -> list[str]:
    return [e["event"]["messageId"] for r in event["Records"] for e in json.loads(r["body"])["events"]]


def failed_docs(cloud: LocalCloud) -> list[dict[str, Any]]:
    store = FailedStore(cloud.physical_id("FailedEventsBucket"), "webhook", cloud.client("s3"))
    return [store.read(k) for k in store.list_keys()]


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
    # and a further redelivery (SQS is at-least-once) does not send it again
    assert forward(event) == []
    assert flaky.delivered_ids() == event_ids(event)


def test_permanent_error_is_kept_with_the_answer_and_not_retried(forward: Any, flaky: Flaky, cloud: LocalCloud) -> None:
    event = sample()
    flaky.script = [400]
    assert forward(event) == []  # not retried: a 400 cannot succeed by repetition
    (doc,) = failed_docs(cloud)
    assert (doc["destination"], doc["reason"], doc["status"]) == ("webhook", "http_400", 400)
    assert doc["answer"] == '{"error":"bad field: batch[0].event"}'
    # A duplicate delivery of the same message neither resends it nor stores it twice
    assert forward(event) == []
    assert flaky.delivered_ids() == []
    assert len(failed_docs(cloud)) == 1


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
    # and when SQS redelivers both (a duplicate of the second too), each event was sent once
    assert forward(event) == []
    assert sorted(flaky.delivered_ids()) == sorted(event_ids(event))


def test_replay_from_the_failed_store_delivers_once_fixed(forward: Any, flaky: Flaky, cloud: LocalCloud) -> None:
    # Given an event refused for good, then the cause fixed
    event = sample()
    flaky.script = [422]
    assert forward(event) == []
    assert len(failed_docs(cloud)) == 1
    sqs = cloud.client("sqs")
    where = replay.Resources(
        queue_url=cloud.physical_id("WebhookQueue"),
        dlq_url=cloud.physical_id("WebhookDeadLetterQueue"),
        delivery_table=cloud.physical_id("DeliveryTable"),
        failed_bucket=cloud.physical_id("FailedEventsBucket"),
    )
    store = FailedStore(where.failed_bucket, "webhook", cloud.client("s3"))
    ledger = Ledger(where.delivery_table, "webhook", cloud.client("dynamodb"))
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
    where = replay.Resources(
        queue_url=cloud.physical_id("WebhookQueue"),
        dlq_url=cloud.physical_id("WebhookDeadLetterQueue"),
        delivery_table=cloud.physical_id("DeliveryTable"),
        failed_bucket=cloud.physical_id("FailedEventsBucket"),
    )
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

    from fairtrack_tools import admin

    doc = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    doc["destinations"]["webhook"]["attributes"].remove("messageId")
    ddb, table = cloud.client("dynamodb"), cloud.physical_id("PolicyTable")
    admin.activate_policy(ddb, table, admin.push_policy(ddb, table, doc))
    event = sample()
    body = json.loads(event["Records"][0]["body"])
    second = copy.deepcopy(body["events"][0])
    second["event"]["messageId"] = "another-event"
    body["events"].append(second)
    event["Records"][0]["body"] = json.dumps(body)
    # Then both events go out: neither is taken for a copy of the other
    assert forward(event) == []
    assert [len(b["batch"]) for b in flaky.received] == [2]
