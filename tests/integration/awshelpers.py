"""Helpers for integration tests: a mocked cloud, read queues, build SQS events from received messages."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from fairtrack_tools.local.localcloud import LocalCloud


@contextlib.contextmanager
def mocked_cloud(**options: Any) -> Iterator[LocalCloud]:
    """A :class:`LocalCloud` without its moto server, inside ``mock_aws`` (which intercepts every
    client), stopped afterwards with Powertools' parameter caches cleared. ``options`` go to
    :class:`LocalCloud` (``parameters``, for one)."""
    with mock_aws():
        cloud = LocalCloud(embedded=False, **options).start()
        try:
            yield cloud
        finally:
            cloud.stop()
            parameters.clear_caches()


def error_of(response: dict[str, Any]) -> tuple[int, str]:
    """The status of an error answer and the ``code`` its JSON body names."""
    return response["statusCode"], json.loads(response["body"])["code"]


def deactivate_policy(cloud: LocalCloud) -> None:
    """Delete the active policy's item: ingest then has no policy to apply."""
    table = cloud.physical_id("PolicyTable")
    cloud.client("dynamodb").delete_item(TableName=table, Key={"id": {"S": "policy#active"}})


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
    from fairtrack_tools.local.poller import sqs_event

    return sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:q")


# What the default policy lets the lake keep of a hit without analytics consent: no identifier,
# address, URL, name or property.
NECESSARY_FIELDS = {"type", "messageId", "timestamp", "receivedAt", "visitorId", "context"}
NECESSARY_CONTEXT = {"library"}


def only_necessary(cloud: LocalCloud, queue: str = "LakeQueue") -> list[dict[str, Any]]:
    """The routed events of a queue, checked to hold necessary fields only (purposes: necessary)."""
    routed = [e for m in queue_messages(cloud, queue) for e in json.loads(m["Body"])["events"]]
    for item in routed:
        assert item["purposes"] == ["necessary"], item["purposes"]
        event = item["event"]
        assert set(event) <= NECESSARY_FIELDS, sorted(set(event) - NECESSARY_FIELDS)
        assert set(event.get("context", {})) <= NECESSARY_CONTEXT, sorted(event.get("context", {}))
    return routed


def pseudonym_of(cloud: LocalCloud, kind: str, raw: str) -> str:
    """What ingest makes of an identifier, with the local stack's pseudonym key."""
    from fairtrack.anonymise.pseudonym import Pseudonymiser, secret_key

    arn = cloud.physical_id("PseudonymSecret")
    key = cloud.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return Pseudonymiser(secret_key(key)).pseudonym(kind, raw)
