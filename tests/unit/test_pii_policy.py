"""The policy's personal-data rule (``defaults.pii``) at ingest: redact (default), drop the field,
or quarantine the hit; and fields named as personal data in properties (``firstName``), not a
product's ``name``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from unit_ingest import basic_auth, ingest_request, memory_ingest, queued_events

from bench.fakes import load_policy_doc
from fairtrack.anonymise import pii
from fairtrack.ingest import IngestRequest

KEY = "pii-key"
RECEIVED_AT = datetime(2026, 11, 25, tzinfo=UTC)


def request(properties: dict[str, Any]) -> IngestRequest:
    body = {
        "type": "track",
        "event": "Signed Up",
        "anonymousId": "a-1",
        "properties": properties,
        "context": {"consent": {"categoryPreferences": {"analytics": True}}},
    }
    return ingest_request(json.dumps(body), headers=basic_auth(KEY), received_at=RECEIVED_AT, request_id="pii")


def ingest(rule: str | None, properties: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    doc = load_policy_doc()
    if rule is not None:
        doc["defaults"]["pii"] = rule
    ingestor, _, sender = memory_ingest(KEY, policy_doc=doc)
    result = ingestor.segment(request(properties), "track")
    return result, queued_events(sender, "lake")


PERSONAL = {"plan": "pro", "note": "call me on +49 170 1234567", "firstName": "Jane", "name": "Pro plan"}


def test_redact_is_the_default() -> None:
    result, (event,) = ingest(None, PERSONAL)
    assert event["properties"] == {
        "plan": "pro",
        "note": "call me on [phone]",
        "firstName": "[redacted]",
        "name": "Pro plan",  # a product's or plan's name is not a person's
    }
    assert result.pii_findings == 2 and result.quarantined == 0


def test_drop_removes_the_fields() -> None:
    result, (event,) = ingest("drop", PERSONAL)
    assert event["properties"] == {"plan": "pro", "name": "Pro plan"}
    assert result.pii_findings == 2


def test_quarantine_sends_the_hit_nowhere_with_a_reason() -> None:
    result, lake = ingest("quarantine", PERSONAL)
    assert result.accepted == 1 and result.quarantined == 1
    assert lake == []
    skipped = {(d.destination, d.reason) for d in result.decisions if d.action == "skipped"}
    assert {("lake", "pii_quarantined"), ("webhook", "pii_quarantined"), ("ga4", "pii_quarantined")} <= skipped


def test_quarantine_lets_clean_hits_through() -> None:
    result, (event,) = ingest("quarantine", {"plan": "pro", "name": "Pro plan", "count": 3})
    assert result.quarantined == 0
    assert event["properties"] == {"plan": "pro", "name": "Pro plan", "count": 3}


@pytest.mark.parametrize(
    ("key", "personal"),
    [
        ("firstName", True),
        ("e-mail", True),
        ("billingEmail", True),
        ("shipping_zip_code", True),
        ("Date-Of-Birth", True),
        ("name", False),
        ("mobile", False),
        ("gender", False),
        ("zip", False),
        ("plan", False),
    ],
)
def test_personal_property_names(key: str, personal: bool) -> None:
    assert pii.is_personal_property(key) is personal
    assert pii.is_known_pii_field(key) is (personal or key not in ("plan",))
