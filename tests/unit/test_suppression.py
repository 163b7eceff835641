"""Erased data subjects stay erased: ingest drops their later hits with a recorded reason."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

from bench.fakes import BENCH_KEY, DiscardingSender, MemoryPolicyStore, all_destinations_settings, memory_ingestor
from fairtrack.anonymise.pseudonym import Pseudonymiser
from fairtrack.envelope import Envelope
from fairtrack.ingest import IngestRequest
from fairtrack.stores.policy_table import SUPPRESSED_ID

KEY = "suppress-key"


def request(anonymous_id: str, user_id: str | None = None) -> IngestRequest:
    body: dict[str, Any] = {
        "type": "track",
        "event": "Viewed",
        "anonymousId": anonymous_id,
        "context": {"consent": {"categoryPreferences": {"analytics": True}}},
    }
    if user_id:
        body["userId"] = user_id
    return IngestRequest(
        body=json.dumps(body),
        is_base64=False,
        headers={"authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()},
        query={},
        source_ip="198.51.100.7",
        received_at=datetime(2026, 11, 25, tzinfo=UTC),
        request_id="suppress",
    )


def setup(*subjects: str) -> tuple[Any, MemoryPolicyStore, DiscardingSender]:
    store = MemoryPolicyStore(KEY, "web")
    if subjects:
        store.table.items[SUPPRESSED_ID] = json.dumps({"subjects": list(subjects)})
    sender = DiscardingSender()
    return memory_ingestor(all_destinations_settings(), store, sender), store, sender


def delivered(sender: DiscardingSender) -> list[dict[str, Any]]:
    return [e.event for _, body in sender.last for e in Envelope.model_validate_json(body).events]


def test_a_suppressed_visitor_is_dropped_with_a_reason_and_others_are_not() -> None:
    erased = Pseudonymiser(BENCH_KEY).pseudonym("anonymousId", "visitor-erased")
    ingestor, _, sender = setup(erased)

    result = ingestor.segment(request("visitor-erased"), "track")
    assert result.accepted == 1 and result.suppressed == 1
    assert delivered(sender) == []
    skipped = {(d.destination, d.reason) for d in result.decisions if d.action == "skipped"}
    # every destination that would have received it says why it did not (Meta: no advertising anyway)
    assert skipped == {
        ("ga4", "subject_suppressed"),
        ("webhook", "subject_suppressed"),
        ("lake", "subject_suppressed"),
        ("meta", "purpose_not_granted:advertising"),
    }

    result = ingestor.segment(request("visitor-kept"), "track")
    assert result.suppressed == 0 and delivered(sender)


def test_a_suppressed_user_is_dropped_whatever_device_it_uses() -> None:
    erased = Pseudonymiser(BENCH_KEY).pseudonym("userId", "user-42")
    ingestor, _, sender = setup(erased)
    result = ingestor.segment(request("a-new-device", user_id="user-42"), "track")
    assert result.suppressed == 1 and delivered(sender) == []


def test_the_list_is_read_through_the_cache_not_per_hit() -> None:
    ingestor, store, _ = setup("p-someone")
    for _ in range(5):
        ingestor.segment(request("visitor"), "track")
    reads_of_the_list = store.table.reads
    ingestor.segment(request("visitor"), "track")
    assert store.table.reads == reads_of_the_list  # warm: no table read at all
