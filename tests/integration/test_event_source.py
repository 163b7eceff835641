"""The local stack's SQS event source: partial failures stay on the queue, the DLQ takes the rest.

Runs the real pieces in-process (moto server, worker subprocesses, pollers, HTTP API); the webhook
queue's visibility timeout is shortened to 1 s so five receives take seconds, not 15 minutes.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack_kit import eventually, running_dev_stack

from fairtrack_tools.local.stack import DevStack

ROOT = Path(__file__).resolve().parents[2]
AUTH = "Basic " + base64.b64encode(b"dev-write-key:").decode()


@pytest.fixture
def stack() -> Iterator[DevStack]:
    with running_dev_stack() as s:
        yield s


def shorten_visibility(stack: DevStack) -> None:
    cloud = stack.cloud
    cloud.client("sqs").set_queue_attributes(
        QueueUrl=cloud.physical_id("WebhookQueue"), Attributes={"VisibilityTimeout": "1"}
    )
    time.sleep(1.2)  # a long poll already waiting took the old timeout with it: let it end


def post_example(stack: DevStack) -> None:
    req = urllib.request.Request(
        stack.api.base_url + "/v1/track",
        method="POST",  # type: ignore[union-attr]
        data=(ROOT / "events/examples/track.json").read_bytes(),
        headers={"Authorization": AUTH, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def test_failing_destination_is_retried_then_dead_lettered(stack: DevStack) -> None:
    # Given the webhook keeps failing, and its queue redelivers after 1 s
    cloud = stack.cloud
    shorten_visibility(stack)
    cloud.captures.fail("webhook", 503)
    # When a hit comes in
    post_example(stack)
    # Then the lake gets it at once, unaffected by the webhook's failure
    assert eventually(lambda: len(cloud.lake_records()) == 1, 5)
    # and after maxReceiveCount (5) failed deliveries the message sits in the webhook DLQ
    assert eventually(lambda: cloud.queue_depths()["WebhookDeadLetterQueue"]["visible"] == 1, 30), cloud.queue_depths()
    depths = cloud.queue_depths()
    assert depths["WebhookQueue"] == {"visible": 0, "in_flight": 0}
    dlq = cloud.client("sqs").receive_message(
        QueueUrl=cloud.physical_id("WebhookDeadLetterQueue"), AttributeNames=["All"]
    )["Messages"][0]
    assert int(dlq["Attributes"]["ApproximateReceiveCount"]) >= 5
    assert json.loads(dlq["Body"])["destination"] == "webhook"
    assert cloud.captures.snapshot()["webhook"] == []


def test_transient_failure_is_delivered_on_redelivery(stack: DevStack) -> None:
    # Given the webhook fails, then recovers
    cloud = stack.cloud
    shorten_visibility(stack)
    cloud.captures.fail("webhook", 500)
    post_example(stack)
    assert eventually(lambda: cloud.queue_depths()["WebhookQueue"]["in_flight"] == 1, 5)
    cloud.captures.fail("webhook", None)
    # Then the redelivered message reaches it exactly once and leaves the queue
    assert eventually(lambda: len(cloud.captures.snapshot()["webhook"]) == 1, 10)
    assert eventually(lambda: cloud.queue_depths()["WebhookQueue"] == {"visible": 0, "in_flight": 0}, 5)
    assert cloud.queue_depths()["WebhookDeadLetterQueue"]["visible"] == 0
