"""The policy's bot rule: crawler and headless hits marked (the default) or dropped, counted."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

from bench.fakes import DiscardingSender, MemoryPolicyStore, all_destinations_settings, load_policy_doc, memory_ingestor
from fairtrack.envelope import Envelope
from fairtrack.ingest import IngestRequest

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


def request(user_agent: str) -> IngestRequest:
    body = {
        "type": "track",
        "event": "Viewed",
        "anonymousId": "a-1",
        "context": {"userAgent": user_agent, "consent": {"categoryPreferences": {"analytics": True}}},
    }
    return IngestRequest(
        body=json.dumps(body),
        is_base64=False,
        headers={"authorization": "Basic " + base64.b64encode(b"bot-key:").decode()},
        query={},
        source_ip="198.51.100.7",
        received_at=datetime(2026, 11, 25, tzinfo=UTC),
        request_id="bots",
    )


def ingest(bots: str | None, user_agent: str) -> tuple[Any, DiscardingSender]:
    doc = load_policy_doc()
    if bots is not None:
        doc["defaults"]["bots"] = bots
    sender = DiscardingSender()
    ingestor = memory_ingestor(all_destinations_settings(), MemoryPolicyStore("bot-key", "web", policy_doc=doc), sender)
    return ingestor.segment(request(user_agent), "track"), sender


@pytest.mark.parametrize("bots", [None, "mark"])
def test_bots_are_marked_by_default(bots: str | None) -> None:
    result, sender = ingest(bots, GOOGLEBOT)

    assert result.bots_dropped == 0
    envelopes = [Envelope.model_validate_json(body) for _, body in sender.last]
    # every destination whose catalogue entry lists context.agent gets the mark
    events = [e.event for env in envelopes if env.destination in ("webhook", "lake") for e in env.events]
    assert len(events) == 2 and all(e["context"]["agent"]["bot"] is True for e in events)


def test_bots_can_be_dropped_with_a_reason() -> None:
    result, sender = ingest("drop", GOOGLEBOT)

    assert result.accepted == 1 and result.bots_dropped == 1
    # no event goes anywhere; the lake only gets the counts for the decision log
    (envelope,) = [Envelope.model_validate_json(body) for _, body in sender.last]
    assert envelope.destination == "lake" and envelope.events == []
    assert {(r["destination"], r["reason"], r["count"]) for r in envelope.decisions} >= {
        ("webhook", "bot_traffic", 1),
        ("lake", "bot_traffic", 1),
    }
    assert {d.reason for d in result.decisions if d.action == "skipped"} >= {"bot_traffic"}


def test_people_are_not_dropped() -> None:
    result, sender = ingest("drop", CHROME)

    assert result.bots_dropped == 0
    assert sender.last
