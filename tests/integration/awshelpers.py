"""Helpers for integration tests: read queues, build SQS events from received messages."""

from __future__ import annotations

from typing import Any

from fairtrack_tools.localcloud import LocalCloud


def queue_messages(cloud: LocalCloud, logical_id: str) -> list[dict[str, Any]]:
    """Every message waiting in a queue (received once, then made visible again)."""
    sqs = cloud.client("sqs")
    url = cloud.physical_id(logical_id)
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", [])
        if not got:
            return out
        out.extend(got)


def sqs_event_from(messages: list[dict[str, Any]]) -> dict[str, Any]:
    from fairtrack_tools.poller import sqs_event

    return sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:q")
