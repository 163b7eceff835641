"""Test helper: ingest in process, as the unit tests drive it. Requests as API Gateway hands them to
ingest, an Ingestor over bench/fakes.py's in-memory policy store and discarding sender (nothing
reaches AWS), and what that sender was given."""

from __future__ import annotations

import base64
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the repository root, for `bench`

from bench.fakes import DiscardingSender, MemoryPolicyStore, all_destinations_settings, memory_ingestor  # noqa: E402
from fairtrack.envelope import Envelope  # noqa: E402
from fairtrack.ingest import Ingestor, IngestRequest  # noqa: E402

SOURCE_IP = "198.51.100.7"  # a documentation address (RFC 5737)


def basic_auth(write_key: str) -> dict[str, str]:
    """The ``authorization`` header that carries a write key as analytics.js sends it."""
    return {"authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


def ingest_request(
    body: str | None = None,
    *,
    is_base64: bool = False,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    received_at: datetime | None = None,
    request_id: str = "req-1",
    source_ip: str = SOURCE_IP,
) -> IngestRequest:
    """A request as API Gateway's HTTP API hands it over: header names in lower case; received now
    unless ``received_at`` says when."""
    return IngestRequest(
        body=body,
        is_base64=is_base64,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query=query or {},
        source_ip=source_ip,
        received_at=received_at or datetime.now(UTC),
        request_id=request_id,
    )


class MemoryIngest(NamedTuple):
    ingestor: Ingestor
    store: MemoryPolicyStore
    sender: DiscardingSender


def memory_ingest(write_key: str, *, policy_doc: dict[str, Any] | None = None) -> MemoryIngest:
    """An Ingestor with a queue for every destination, whose one source (``web``) has this write
    key, under ``policy_doc`` (policies/default.yaml when not given)."""
    store = MemoryPolicyStore(write_key, "web", policy_doc=policy_doc)
    sender = DiscardingSender()
    return MemoryIngest(memory_ingestor(all_destinations_settings(), store, sender), store, sender)


def queued_envelopes(sender: DiscardingSender, destination: str | None = None) -> list[Envelope]:
    """The envelopes the sender was last given (only ``destination``'s when one is named)."""
    out = [Envelope.model_validate_json(body) for _, body in sender.last]
    return [env for env in out if destination is None or env.destination == destination]


def queued_events(sender: DiscardingSender, destination: str | None = None) -> list[dict[str, Any]]:
    """The events in those envelopes, in order."""
    return [e.event for env in queued_envelopes(sender, destination) for e in env.events]
