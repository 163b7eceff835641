"""What ingest drops for its format before routing reaches the decision log and the audit report:
a ``format_mismatch`` row per field (destination ``ingest``) with the attribute's purpose, counted."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

from bench.fakes import DiscardingSender, MemoryPolicyStore, all_destinations_settings, memory_ingestor
from fairtrack.envelope import Envelope
from fairtrack.ingest import IngestRequest
from fairtrack_tools.ops import audit

KEY = "mismatch-key"


def test_a_value_its_format_refuses_is_logged_as_a_format_mismatch_and_shown_in_the_audit() -> None:
    events = [
        {
            "type": "track",
            "event": "Order Completed",
            "anonymousId": f"a-{i}",
            "context": {
                "consent": {"categoryPreferences": {"analytics": True}},
                "locale": "en-GB-x-jane-doe",  # a private-use subtag: refused by the locale format
                "timezone": "Jane/Doe",  # no such zone
            },
        }
        for i in range(3)
    ]
    request = IngestRequest(
        body=json.dumps({"batch": events}),
        is_base64=False,
        headers={"authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()},
        query={},
        source_ip="198.51.100.7",
        received_at=datetime.now(UTC),
        request_id="mismatch",
    )
    sender = DiscardingSender()
    ingestor = memory_ingestor(all_destinations_settings(), MemoryPolicyStore(KEY, "web"), sender)
    result = ingestor.segment_batch(request)

    assert result.format_mismatches == 6
    rows = [
        row
        for _, body in sender.last
        if (env := Envelope.model_validate_json(body)).destination == "lake"
        for row in env.decisions
    ]
    mismatches = {
        (r["destination"], r["field"], r["reason"], r["purpose"]): r["count"]
        for r in rows
        if r["reason"] == "format_mismatch"
    }
    assert mismatches == {
        ("ingest", "context.locale", "format_mismatch", "analytics"): 3,
        ("ingest", "context.timezone", "format_mismatch", "analytics"): 3,
    }
    assert "Jane/Doe" not in "".join(body for _, body in sender.last)
    report = audit.render(rows, "md")
    assert "Before routing: values dropped for their format" in report
    assert "context.timezone" in report and "Jane/Doe" not in report
