"""The engine against the default policy with GA4 and Meta added as the destinations issue will add
them: what each consent state lets each destination receive, and why."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fairtrack.hit import ConsentSignals
from fairtrack.policy import NECESSARY, Policy, evaluate

ROOT = Path(__file__).resolve().parents[2]
ADVERTISING_FIELDS = {"userId", "traits.email", "context.campaign", "userData.ga4"}
# ids as ingest leaves them: gateway pseudonyms (a raw client id fails the `pseudonym` format)
ANONYMOUS_ID = "p-" + hashlib.md5(b"anon-1").hexdigest()  # a made-up pseudonym
USER_ID = "p-" + hashlib.md5(b"user-9").hexdigest()
# the hashed e-mail as ingest makes it for GA4 (userData.ga4); the raw one never leaves ingest
EMAIL_SHA256 = hashlib.sha256(b"jane@example.com").hexdigest()


@pytest.fixture(scope="module")
def policy() -> Policy:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    doc["attributes"]["traits.email"] = {"purpose": "advertising", "format": "hash", "transform": "sha256_normalised"}
    doc["attributes"]["userId"]["purpose"] = "advertising"
    doc["attributes"]["context.campaign"]["purpose"] = "advertising"
    common = ["type", "messageId", "timestamp", "event", "name", "anonymousId", "properties", "context.page.path"]
    doc["destinations"]["ga4"] = {
        "requires": {"all": ["analytics"]},
        "attributes": [*common, "userId", "traits.email", "context.campaign", "userData.ga4"],
    }
    doc["destinations"]["meta"] = {
        "requires": {"all": ["advertising"]},
        "attributes": [*common, "userId", "traits.email"],
    }
    return Policy.model_validate({**doc, "version": 7})


def hit() -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": "m-1",
        "timestamp": "2026-11-24T10:00:00.000Z",
        "receivedAt": "2026-11-24T10:00:01.000Z",
        "event": "Order Completed",
        "anonymousId": ANONYMOUS_ID,
        "userId": USER_ID,
        "properties": {"revenue": 10},
        "traits": {"email": "jane@example.com"},
        "userData": {"ga4": {"sha256_email_address": [EMAIL_SHA256]}},
        "context": {"page": {"path": "/thanks"}, "campaign": {"name": "bf"}, "library": {"name": "x"}},
    }


def granted(*purposes: str) -> frozenset[str]:
    return frozenset({NECESSARY, *purposes})


def test_no_signal_ga4_and_meta_get_nothing_and_the_lake_only_necessary_fields(policy: Policy) -> None:
    from fairtrack.consent import signals as consent

    none = consent.resolve(ConsentSignals(), policy).granted

    for destination in ("ga4", "meta", "webhook"):
        payload, decisions = evaluate(hit(), none, destination, policy)
        assert payload is None
        assert decisions[-1].action == "skipped"
        assert decisions[-1].reason.startswith("purpose_not_granted:")
    lake, _ = evaluate(hit(), none, "lake", policy)
    assert lake == {
        "type": "track",
        "messageId": "m-1",
        "timestamp": "2026-11-24T10:00:00.000Z",
        "receivedAt": "2026-11-24T10:00:01.000Z",
        "context": {"library": {"name": "x"}},
    }


def test_analytics_alone_lets_ga4_through_without_advertising_fields(policy: Policy) -> None:
    payload, decisions = evaluate(hit(), granted("analytics"), "ga4", policy)
    meta, meta_decisions = evaluate(hit(), granted("analytics"), "meta", policy)

    assert payload is not None
    assert payload["event"] == "Order Completed"
    assert "userId" not in payload and "traits" not in payload and "campaign" not in payload["context"]
    held = {d.field: d for d in decisions if d.field in ADVERTISING_FIELDS}
    assert set(held) == ADVERTISING_FIELDS
    assert all(
        (d.action, d.reason, d.purpose) == ("dropped", "purpose_not_granted", "advertising") for d in held.values()
    )
    assert meta is None
    assert meta_decisions[-1].reason == "purpose_not_granted:advertising"


def test_advertising_adds_the_hashed_email_and_ids(policy: Policy) -> None:
    payload, decisions = evaluate(hit(), granted("analytics", "advertising"), "ga4", policy)

    assert payload is not None
    assert payload["userId"] == USER_ID
    assert payload["userData"] == {"ga4": {"sha256_email_address": [EMAIL_SHA256]}}
    user_data = next(d for d in decisions if d.field == "userData.ga4")
    assert (user_data.action, user_data.purpose, user_data.legal_basis) == ("sent", "advertising", "consent")
    # the raw e-mail never leaves: traits.email goes only in the form its format declares, a hash
    assert "jane@example.com" not in json.dumps(payload)
    email = next(d for d in decisions if d.field == "traits.email")
    assert (email.action, email.form) == ("sent", "sha256_normalised")
    assert len(payload["traits"]["email"]) == 64


def _listed(field: str, allowed: set[str], policy: Policy) -> bool:
    """``field`` is on the destination's list, or is a catalogued child of an object attribute on it
    (a destination listing ``context.campaign`` gets ``context.campaign.name``)."""
    if field in allowed:
        return True
    parent = field.rpartition(".")[0]
    attr = policy.attributes.get(parent)
    return (
        field in policy.attributes and attr is not None and attr.format == "object" and _listed(parent, allowed, policy)
    )


def test_an_attribute_outside_a_destinations_allowlist_never_reaches_it(policy: Policy) -> None:
    everything = granted("analytics", "advertising")
    for destination in ("ga4", "meta", "webhook", "lake"):
        payload, decisions = evaluate(hit(), everything, destination, policy)
        allowed = set(policy.destinations[destination].attributes)  # type: ignore[index]
        sent = {d.field for d in decisions if d.action in ("sent", "reduced")}
        assert all(_listed(field, allowed, policy) for field in sent), (destination, sent - allowed)
        assert all(d.reason for d in decisions)
        assert payload is not None
        assert "anonymousId" not in payload or "anonymousId" in allowed
