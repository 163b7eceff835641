"""Queue message bodies: chunking routed events into SQS-sized envelopes (queue.py, envelope.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from fairtrack.envelope import Envelope, RoutedEvent
from fairtrack.stores.queue import MAX_MESSAGE_BYTES, chunk_envelopes, envelope_from_body


def routed(i: int, filler: str = "") -> tuple[list[str], dict[str, Any]]:
    return (
        ["analytics", "necessary"],
        {"type": "track", "messageId": f"m-{i:05d}", "event": "Viewed", "properties": {"blob": filler}},
    )


def message_ids(bodies: list[str]) -> list[str]:
    return [e.event["messageId"] for body in bodies for e in envelope_from_body(body).events]


def test_small_batch_gives_exactly_one_body() -> None:
    """Given a few small events, when chunked, then one message carries them all."""
    events = [routed(i) for i in range(5)]

    bodies = chunk_envelopes("webhook", "src-1", 7, events)

    assert len(bodies) == 1
    envelope = Envelope.model_validate_json(bodies[0])
    assert envelope.v == 1
    assert envelope.destination == "webhook"
    assert envelope.source_id == "src-1"
    assert envelope.policy_version == 7
    assert [(e.purposes, e.event) for e in envelope.events] == events
    assert all(isinstance(e, RoutedEvent) for e in envelope.events)


def test_no_events_gives_no_body() -> None:
    """Given nothing to send, then there is no message at all (a destination that gets nothing gets no message)."""
    assert chunk_envelopes("lake", "src-1", 1, []) == []


def test_body_is_plain_json_with_the_envelope_fields() -> None:
    """Given one event, then the body is ordinary JSON a forwarder (or a person) can read."""
    body = json.loads(chunk_envelopes("lake", "src-2", 3, [routed(0)])[0])

    assert body["destination"] == "lake"
    assert body["events"][0]["event"]["messageId"] == "m-00000"
    assert body["events"][0]["purposes"] == ["analytics", "necessary"]


def test_many_large_events_are_split_under_the_limit_in_order() -> None:
    """Given 60 events of ~30 KB (about 1.8 MB), then every body fits SQS and all events survive in order."""
    events = [routed(i, "x" * 30_000) for i in range(60)]
    total = sum(len(json.dumps({"purposes": p, "event": e})) for p, e in events)

    bodies = chunk_envelopes("lake", "src-1", 2, events)

    assert len(bodies) >= -(-total // MAX_MESSAGE_BYTES)  # at least ceil(total / limit)
    assert len(bodies) > 1
    assert all(len(body.encode("utf-8")) <= MAX_MESSAGE_BYTES for body in bodies)
    assert message_ids(bodies) == [f"m-{i:05d}" for i in range(60)]
    for body in bodies:
        envelope = envelope_from_body(body)
        assert (envelope.destination, envelope.source_id, envelope.policy_version) == ("lake", "src-1", 2)


def test_chunks_are_filled_not_one_event_each() -> None:
    """Given events of ~50 KB, then each body takes as many as fit (4 of them), not one message per event."""
    events = [routed(i, "y" * 50_000) for i in range(8)]

    bodies = chunk_envelopes("webhook", "s", 1, events)

    assert len(bodies) == 2  # 4 x 50 KB fit in 240 KB, 5 do not
    assert [len(envelope_from_body(b).events) for b in bodies] == [4, 4]


def test_non_ascii_events_are_split_by_utf8_bytes() -> None:
    """Given events full of 3-byte characters (pydantic writes them unescaped), then bodies still fit in bytes."""
    events = [routed(i, "€" * 10_000) for i in range(40)]  # ~30 KB of UTF-8 each, ~10 K characters

    bodies = chunk_envelopes("lake", "src-1", 1, events)

    assert message_ids(bodies) == [f"m-{i:05d}" for i in range(40)]
    assert all(len(body.encode("utf-8")) <= MAX_MESSAGE_BYTES for body in bodies)


def test_envelope_rejects_unknown_destination_and_version() -> None:
    """Given a body for a destination fairtrack does not have, or a future version, then it does not parse."""
    good = json.loads(chunk_envelopes("lake", "s", 1, [routed(0)])[0])

    with pytest.raises(ValidationError):
        envelope_from_body(json.dumps({**good, "destination": "slack"}))
    with pytest.raises(ValidationError):
        envelope_from_body(json.dumps({**good, "v": 2}))
