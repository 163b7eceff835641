"""What ingest drops for its format before routing reaches the decision log and the audit report:
a ``format_mismatch`` row per field (destination ``ingest``) with the attribute's purpose, counted."""

from __future__ import annotations

import json

from unit_ingest import basic_auth, ingest_request, memory_ingest, queued_envelopes

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
    ingestor, _, sender = memory_ingest(KEY)
    result = ingestor.segment_batch(
        ingest_request(json.dumps({"batch": events}), headers=basic_auth(KEY), request_id="mismatch")
    )

    assert result.format_mismatches == 6
    rows = [row for env in queued_envelopes(sender, "lake") for row in env.decisions]
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
