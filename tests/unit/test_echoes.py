"""Personal data that comes in through side doors: utm values copied into the campaign, page
titles, and a hit's own raw ids echoed in its URL or properties (found by the privacy canaries)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unit_ingest import basic_auth, ingest_request, memory_ingest, queued_events

KEY = "echo-key"
CONSENT = {"categoryPreferences": {"analytics": True}}


def send(body: Any, kind: str = "page") -> tuple[Any, dict[str, Any] | None]:
    ingestor, _, sender = memory_ingest(KEY)
    request = ingest_request(json.dumps(body), headers=basic_auth(KEY), request_id="echo")
    result = ingestor.segment_batch(request) if kind == "batch" else ingestor.segment(request, kind)
    lake = queued_events(sender, "lake")
    return result, (lake[0] if lake else None)


def test_utm_values_in_the_campaign_and_page_titles_are_redacted() -> None:
    _, event = send(
        {
            "anonymousId": "a-1",
            "context": {
                "consent": CONSENT,
                "page": {"url": "https://shop.example/orders", "title": "Orders of jane.doe@example.com"},
                "campaign": {"term": "jane.doe@example.com", "source": "newsletter", "medium": "+49 170 1234567"},
            },
        }
    )
    assert event is not None
    assert event["context"]["campaign"] == {"term": "[email]", "source": "newsletter", "medium": "[phone]"}
    assert event["context"]["page"]["title"] == "Orders of [email]"


def test_a_hits_own_raw_ids_become_placeholders_wherever_they_are_echoed() -> None:
    _, event = send(
        {
            "anonymousId": "visitor-4711",
            "userId": "customer-0042",
            "context": {"consent": CONSENT, "page": {"url": "https://shop.example/customers/customer-0042/orders"}},
            "properties": {"note": "seen as visitor-4711", "nested": {"ids": ["customer-0042"]}},
        }
    )
    assert event is not None
    raw = json.dumps(event)
    assert "visitor-4711" not in raw and "customer-0042" not in raw
    assert event["context"]["page"]["url"] == "https://shop.example/customers/:id/orders"
    assert event["properties"] == {"note": "seen as [id]", "nested": {"ids": ["[id]"]}}


def test_short_ids_are_not_hunted_in_ordinary_text() -> None:
    _, event = send({"anonymousId": "42", "context": {"consent": CONSENT}, "properties": {"count": "42 items"}})
    assert event is not None and event["properties"] == {"count": "42 items"}


def test_the_log_line_counts_rejected_events(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    batch = {"batch": [{"type": "track", "event": "x", "anonymousId": "a"}, {"type": "track", "anonymousId": "a"}]}
    result, _ = send(batch, "batch")
    assert [r["index"] for r in result.rejected] == [1]
    (line,) = [r for r in caplog.records if r.getMessage() == "hits routed"]
    assert line.__dict__["rejected"] == 1


_ID_PLACES = (
    ("properties", "note"),
    ("properties", "nested"),
    ("context", "page"),
    ("traits", "ref"),
    ("name", None),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    uid=st.from_regex(r"u[a-z]{3}[0-9]{3}[A-Za-z0-9]{0,10}", fullmatch=True),  # nothing else in a hit spells it
    batch=st.integers(min_value=1, max_value=12),
    echo_at=st.one_of(st.none(), st.tuples(st.integers(min_value=0, max_value=11), st.sampled_from(_ID_PLACES))),
)
def test_a_request_counted_echo_free_holds_no_echo_and_an_echo_is_always_searched(
    uid: str, batch: int, echo_at: tuple[int, tuple[str, str | None]] | None
) -> None:
    """Given a batch whose events carry one user id, and maybe that id echoed in one event's
    properties, traits, page or name, then ingest's one count of the body (``echo_free``) says
    "echo-free" only when there is no echo, and the echo never reaches the lake either way."""
    from fairtrack.anonymise.stage import echo_free
    from fairtrack.protocols.segment import batch_events, parse_event

    events = [
        {"type": "page", "userId": uid, "messageId": f"m-{i}", "context": {"consent": CONSENT}} for i in range(batch)
    ]
    echoed = echo_at is not None and echo_at[0] < batch
    if echoed:
        index, (part, key) = echo_at  # type: ignore[misc]
        event = events[index]
        if part == "name":
            event["name"] = f"Orders of {uid}"
        elif part == "context":
            event["context"]["page"] = {"url": f"https://shop.example/users/{uid}/orders"}
        elif key == "nested":
            event[part] = {"deep": {"list": [f"see {uid} here"]}}
        else:
            event[part] = {key: f"x {uid} y"}
    body = {"batch": events}
    raw = json.dumps(body).encode()
    parsed, _, sent_at = batch_events(json.loads(raw))
    hits = [parse_event(e, implied_type=None).to_hit(datetime.now(UTC), sent_at) for _, e in parsed]  # type: ignore[union-attr]
    assert echo_free(raw, hits) is not echoed
    ingestor, _, sender = memory_ingest(KEY)
    ingestor.segment_batch(ingest_request(raw.decode(), headers=basic_auth(KEY), request_id="echo"))
    queued = "".join(body for _, body in sender.last)
    assert queued, "nothing was queued: the check would hold vacuously"
    assert uid not in queued  # neither the id fields (pseudonymised) nor any echo (replaced by [id])
