"""Erased data subjects stay erased: ingest drops their later hits with a recorded reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from unit_ingest import MemoryIngest, basic_auth, ingest_request, memory_ingest, queued_events

from bench.fakes import BENCH_KEY
from fairtrack.anonymise.pseudonym import Pseudonymiser
from fairtrack.ingest import IngestRequest
from fairtrack.stores.policy_table import SUPPRESSED_ID

KEY = "suppress-key"
RECEIVED_AT = datetime(2026, 11, 25, tzinfo=UTC)


def request(anonymous_id: str, user_id: str | None = None) -> IngestRequest:
    body: dict[str, Any] = {
        "type": "track",
        "event": "Viewed",
        "anonymousId": anonymous_id,
        "context": {"consent": {"categoryPreferences": {"analytics": True}}},
    }
    if user_id:
        body["userId"] = user_id
    return ingest_request(json.dumps(body), headers=basic_auth(KEY), received_at=RECEIVED_AT, request_id="suppress")


def setup(*subjects: str) -> MemoryIngest:
    ingest = memory_ingest(KEY)
    if subjects:
        ingest.store.table.items[SUPPRESSED_ID] = json.dumps({"subjects": list(subjects)})
    return ingest


def test_a_suppressed_visitor_is_dropped_with_a_reason_and_others_are_not() -> None:
    erased = Pseudonymiser(BENCH_KEY).pseudonym("anonymousId", "visitor-erased")
    ingestor, _, sender = setup(erased)

    result = ingestor.segment(request("visitor-erased"), "track")
    assert result.accepted == 1 and result.suppressed == 1
    assert queued_events(sender) == []
    skipped = {(d.destination, d.reason) for d in result.decisions if d.action == "skipped"}
    # every destination that would have received it says why it did not (Meta: no advertising anyway)
    assert skipped == {
        ("ga4", "subject_suppressed"),
        ("webhook", "subject_suppressed"),
        ("lake", "subject_suppressed"),
        ("meta", "purpose_not_granted:advertising"),
    }

    result = ingestor.segment(request("visitor-kept"), "track")
    assert result.suppressed == 0 and queued_events(sender)


def test_a_suppressed_user_is_dropped_whatever_device_it_uses() -> None:
    erased = Pseudonymiser(BENCH_KEY).pseudonym("userId", "user-42")
    ingestor, _, sender = setup(erased)
    result = ingestor.segment(request("a-new-device", user_id="user-42"), "track")
    assert result.suppressed == 1 and queued_events(sender) == []


def test_the_list_is_read_through_the_cache_not_per_hit() -> None:
    ingestor, store, _ = setup("p-someone")
    for _ in range(5):
        ingestor.segment(request("visitor"), "track")
    reads_of_the_list = store.table.reads
    ingestor.segment(request("visitor"), "track")
    assert store.table.reads == reads_of_the_list  # warm: no table read at all
