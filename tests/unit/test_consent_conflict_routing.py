"""Consent conflicts through the whole ingest path (adapter, consent, routing), with the queues
faked: a consent key given twice with different values denies what it could grant, on the
one-event routes and per event in a batch.

Given an analytics.js event whose ``categoryPreferences`` says ``analytics`` twice (false, then
true: a parser that keeps the last key would grant it), when ingest routes it, then only the lake
gets it (the necessary-only record); the same event written once with ``true`` reaches GA4 and the
webhook, so the test would see the difference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `bench`

from bench import events
from bench.ingest import ingestor
from fairtrack.hit import EventType


def _event(i: int, analytics: str) -> str:
    hit = events.analytics_js_hit(i, consent=False)
    hit["type"] = "track"
    hit["event"] = "Order Completed"
    hit["context"]["consent"] = {"categoryPreferences": {"__PREFS__": True}}
    return json.dumps(hit).replace('{"__PREFS__": true}', analytics)


def _queued(body: str, implied: EventType | None = None) -> set[str]:
    ing, _, sender = ingestor()
    request = events.request(body)
    result = ing.segment(request, implied) if implied else ing.segment_batch(request)
    assert result.accepted >= 1
    return {url.rsplit("/", 1)[-1] for url, _ in sender.last}


def test_a_preference_given_twice_with_different_values_denies_it_on_the_one_event_route() -> None:
    once = _queued(_event(1, '{"analytics": true}'), "track")
    twice = _queued(_event(1, '{"analytics": false, "analytics": true}'), "track")

    assert any("ga4" in q.lower() for q in once), once
    assert not any("ga4" in q.lower() or "webhook" in q.lower() for q in twice), twice
    assert any("lake" in q.lower() for q in twice), twice


def test_in_a_batch_only_the_event_with_the_conflict_is_denied() -> None:
    ing, _, sender = ingestor()
    good = _event(1, '{"analytics": true}')
    bad = _event(2, '{"analytics": false, "analytics": true}')
    result = ing.segment_batch(events.request(f'{{"batch": [{good}, {bad}]}}'))

    assert result.accepted == 2
    per_queue = {url.rsplit("/", 1)[-1]: body for url, body in sender.last}
    ga4 = [body for name, body in per_queue.items() if "ga4" in name.lower()]
    assert ga4, per_queue.keys()
    sent = "".join(ga4)
    assert json.loads(good)["messageId"] in sent
    assert json.loads(bad)["messageId"] not in sent
