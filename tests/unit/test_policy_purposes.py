"""An attribute that serves more than one purpose: ``purpose: [a, b]`` (any of them granted allows
it) and ``purpose_for: {destination: [...]}`` (one destination's own purposes), through the engine,
its decision records, the transparency table and the canary proof's tracer."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from fairtrack.policy import Policy, evaluate
from fairtrack_tools.ops.policy_explain import transparency
from fairtrack_tools.proofs.catalogue import Catalogue

ROOT = Path(__file__).resolve().parents[2]
DOC: dict[str, Any] = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
PSEUDONYM = "p-" + hashlib.md5(b"anon-1").hexdigest()


def policy(doc: dict[str, Any] | None = None) -> Policy:
    return Policy.model_validate({**(doc or DOC), "version": 3})


def hit() -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": "m-1",
        "timestamp": "2026-11-24T10:00:00.000Z",
        "event": "Order Completed",
        "anonymousId": PSEUDONYM,
        "properties": {"revenue": 10, "event_id": "evt-42"},
        "context": {
            "page": {"url": "https://shop.example/thanks", "path": "/thanks"},
            "ip": "203.0.113.0",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
            "fbp": "fb.1.1700000000000.1234567890",
            "fbc": "fb.1.1700000000000.IwAR2xyz",
        },
    }


def test_meta_gets_name_url_and_event_id_under_advertising_alone_and_nothing_of_analytics() -> None:
    """Given the default policy and advertising consent alone, then Meta receives the event's
    name, page URL, event id and the Pixel's cookies (what the Conversions API needs), each
    recorded as allowed by advertising; the analytics fields stay home."""
    sent, decisions = evaluate(hit(), frozenset({"necessary", "advertising"}), "meta", policy())
    assert sent is not None
    assert sent["event"] == "Order Completed"
    assert sent["properties"] == {"event_id": "evt-42"}
    assert sent["context"] == {
        "page": {"url": "https://shop.example/thanks"},
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        "fbp": "fb.1.1700000000000.1234567890",
        "fbc": "fb.1.1700000000000.IwAR2xyz",
    }
    assert "anonymousId" not in sent
    by_field = {d.field: d for d in decisions if d.field}
    for path in ("event", "context.page.url", "properties.event_id", "context.fbp"):
        assert (by_field[path].action, by_field[path].purpose) == ("sent", "advertising"), path
    assert (by_field["anonymousId"].reason, by_field["anonymousId"].purpose) == ("purpose_not_granted", "analytics")
    assert (by_field["context.ip"].reason, by_field["context.ip"].purpose) == ("purpose_not_granted", "analytics")


def test_with_both_purposes_the_first_granted_is_recorded() -> None:
    """Given analytics and advertising, then Meta's event is recorded under analytics (the first
    listed purpose granted), and the other destinations never see advertising-only reasons."""
    granted = frozenset({"necessary", "analytics", "advertising"})
    _, decisions = evaluate(hit(), granted, "meta", policy())
    event = next(d for d in decisions if d.field == "event")
    assert (event.action, event.purpose, event.legal_basis) == ("sent", "analytics", "consent")


def test_other_destinations_keep_the_single_purpose() -> None:
    """Given purpose_for names Meta only, then the webhook (whose requirement is analytics) and
    the lake (necessary) do not get the event's name under advertising alone."""
    granted = frozenset({"necessary", "advertising"})
    lake, decisions = evaluate(hit(), granted, "lake", policy())
    assert lake is not None and "event" not in lake and "page" not in lake.get("context", {})
    event = next(d for d in decisions if d.field == "event")
    assert (event.action, event.reason, event.purpose) == ("dropped", "purpose_not_granted", "analytics")
    assert evaluate(hit(), granted, "webhook", policy())[0] is None


def test_a_list_of_purposes_allows_under_any_of_them() -> None:
    """Given ``purpose: [analytics, advertising]`` for the lake's ``event``, then it goes under
    either, recorded under the one granted, and under neither it is withheld under the first."""
    doc = copy.deepcopy(DOC)
    doc["attributes"]["event"] = {"purpose": ["analytics", "advertising"], "format": "name"}
    p = policy(doc)
    for granted, purpose in (({"advertising"}, "advertising"), ({"analytics"}, "analytics")):
        sent, decisions = evaluate(hit(), frozenset({"necessary", *granted}), "lake", p)
        assert sent is not None and sent["event"] == "Order Completed"
        assert next(d for d in decisions if d.field == "event").purpose == purpose
    sent, decisions = evaluate(hit(), frozenset({"necessary"}), "lake", p)
    assert sent is not None and "event" not in sent
    withheld = next(d for d in decisions if d.field == "event")
    assert (withheld.reason, withheld.purpose) == ("purpose_not_granted", "analytics")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"purpose": ["analytics", "profiling"]}, "attributes.event.purpose: unknown purpose 'profiling'"),
        ({"purpose_for": {"meta": ["ads"]}}, "attributes.event.purpose_for.meta: unknown purpose 'ads'"),
        ({"purpose": []}, "a list of purposes must name at least one purpose"),
        ({"purpose": ["analytics", "analytics"]}, "each once"),
        ({"purpose_for": {"tiktok": "advertising"}}, "purpose_for.tiktok"),
    ],
)
def test_bad_purpose_lists_are_refused(change: dict[str, Any], message: str) -> None:
    doc = copy.deepcopy(DOC)
    doc["attributes"]["event"] = {**doc["attributes"]["event"], **change}
    with pytest.raises(ValidationError) as info:
        policy(doc)
    assert message in str(info.value)


def test_transparency_table_shows_every_purpose_and_the_destination_of_its_own() -> None:
    table = transparency(policy(), "v3")
    section = table.sections[0]
    columns = section.header
    row = next(r for r in section.rows if r[0] == "event")
    assert row[columns.index("Purpose")] == "analytics (meta: analytics or advertising)"
    assert "consent" in row[columns.index("Legal basis")].lower() and " or " not in row[columns.index("Legal basis")]
    assert row[columns.index("meta")] == "full (none) with analytics or advertising"
    assert row[columns.index("lake")] == "full (none)"
    fbp = next(r for r in section.rows if r[0] == "context.fbp")
    assert fbp[columns.index("Format")] == "meta_cookie"
    assert fbp[columns.index("meta")] == "full (none)" and fbp[columns.index("ga4")] == "not sent"


def test_canary_tracer_judges_by_the_destinations_purposes() -> None:
    catalogue = Catalogue()
    advertising = frozenset({"necessary", "advertising"})
    assert catalogue.judge("meta", ["event"], advertising) == ("event", None)
    assert catalogue.judge("meta", ["context.fbp"], advertising) == ("context.fbp", None)
    assert catalogue.judge("lake", ["event"], advertising) == ("event", "purpose_not_granted (analytics)")
    assert catalogue.purpose("event", "meta") == "analytics|advertising"
    assert catalogue.purpose("event", "lake") == "analytics"
    assert catalogue.legal_basis("event", "meta") == "consent"
