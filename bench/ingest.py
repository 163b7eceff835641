"""Ingest figures: CPU per hit and per request, AWS calls per request, policy-store reads.

Every figure drives the real :class:`fairtrack.ingest.Ingestor` (adapter, validation, consent,
IP truncation, policy evaluation for all four destinations, envelope serialisation, its log line
and metrics) with the in-memory policy table and the discarding sender of :mod:`bench.fakes`, so
nothing is sent anywhere and AWS time is excluded by construction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic_core import from_json

from bench import events
from bench.core import Options, Row, compare, initialised, ratio, timed_row
from bench.fakes import DiscardingSender, MemoryPolicyStore, all_destinations_settings, memory_ingestor, quiet
from fairtrack.ingest import Ingestor, IngestResult
from fairtrack.policy import NECESSARY, Policy
from fairtrack.protocols.segment import SegmentEvent
from fairtrack.settings import DESTINATIONS, Destination, IngestSettings
from fairtrack.stores.queue import chunk_envelopes

BATCH_HITS = 50
BATCH_RATIO_TARGET = 4.0  # ingest CPU per hit, at most this many times the JSON floor
SINGLE_US_TARGET = 1000.0  # one single-hit request's CPU, AWS calls excluded
STORE_CALLS_PER_REQUEST = 2  # the write key's source and the active policy, whatever the batch size
TABLE_READS_PER_1000_TARGET = 3  # at most one refresh of each cached item in the window


def ingestor(settings: IngestSettings | None = None) -> tuple[Ingestor, MemoryPolicyStore, DiscardingSender]:
    store = MemoryPolicyStore(events.WRITE_KEY, events.SOURCE_ID)
    sender = DiscardingSender()
    ing = memory_ingestor(settings or all_destinations_settings(), store, sender)
    initialised()  # as ingest_handler does once its module is imported (gc.freeze())
    return ing, store, sender


def json_floor(body: str) -> None:
    """The least any JSON gateway does with a body: parse it and serialise it again."""
    json.dumps(json.loads(body.encode()))


def _granted(hit: dict[str, Any], policy: Policy) -> frozenset[str]:
    """Purposes a hit's Segment consent grants, read from the policy's signal table: a purpose is
    granted when one of its categories is ``true`` and none is explicitly anything else."""
    context = hit.get("context")
    signal = context.get("consent") if isinstance(context, dict) else None
    prefs = signal.get("categoryPreferences") if isinstance(signal, dict) else None
    granted: set[str] = {NECESSARY}
    denied: set[str] = set()
    for category, value in (prefs or {}).items():
        for purpose in policy.signals.segment_categories.get(str(category), ()):
            (granted if value is True else denied).add(purpose)
    return frozenset(granted - denied)


def destinations_receiving_data(settings: IngestSettings, policy: Policy, hits: list[dict[str, Any]]) -> set[str]:
    """Destinations that must get a message, worked out from the policy, not from ingest's answer:
    configured, named by the policy, and with their purposes granted by at least one hit."""
    grants = [_granted(hit, policy) for hit in hits]
    return {
        dest
        for dest in DESTINATIONS
        if settings.queue_url(dest)
        and (rule := policy.destinations.get(dest)) is not None
        and any(not rule.requires.missing(granted) for granted in grants)
    }


def batch_cpu(options: Options) -> list[Row]:
    ing, _, _ = ingestor()
    body = events.batch_body(BATCH_HITS)
    request = events.request(body)
    with quiet():
        ing.segment_batch(request)  # fails loudly here if the setup is wrong, not inside a timing
        c = compare(lambda: ing.segment_batch(request), lambda: json_floor(body), options)
    return [
        timed_row(
            "ingest.batch.cpu_per_hit",
            f"ingest CPU per hit, {BATCH_HITS}-hit batch",
            c,
            per=BATCH_HITS,
            baseline_label="(JSON floor)",
            max_ratio=BATCH_RATIO_TARGET,
            note=f"{len(body.encode()) // BATCH_HITS} bytes per hit; median of {c.rounds} rounds",
        )
    ]


def libraries_cpu(options: Options) -> list[Row]:
    """What the libraries alone do with the same 50-hit batch, for reading the per-hit ratio by:
    pydantic-core parses the body, the event model validates each event, and pydantic-core
    encodes one envelope per destination receiving data (holding every event whole). No consent,
    anonymisation, policy or id work: that is fairtrack's own share of the ingest figure."""
    settings = all_destinations_settings()
    _, store, _ = ingestor(settings)
    body = events.batch_body(BATCH_HITS)
    raw = body.encode()
    hits = [events.analytics_js_hit(i) for i in range(BATCH_HITS)]
    wanted = destinations_receiving_data(settings, store.active_policy(), hits)
    receiving: list[Destination] = [d for d in DESTINATIONS if d in wanted]

    def libraries() -> None:
        batch = from_json(raw)["batch"]
        for event in batch:
            SegmentEvent.model_validate(event)
        for dest in receiving:
            chunk_envelopes(dest, events.SOURCE_ID, 1, [(["analytics"], event) for event in batch])

    libraries()
    c = compare(libraries, lambda: json_floor(body), options)
    return [
        timed_row(
            "ingest.batch.libraries_per_hit",
            f"the libraries' part of it: parse, validate, {len(receiving)} envelopes",
            c,
            per=BATCH_HITS,
            baseline_label="(JSON floor)",
            note="pydantic-core parse, the Segment event model, one envelope per receiving destination "
            f"({', '.join(receiving)}); the rest of the ingest figure is fairtrack's own work",
        )
    ]


def single_cpu(options: Options) -> list[Row]:
    ing, _, _ = ingestor()
    body = events.single_track_body()
    request = events.request(body)
    with quiet():
        ing.segment(request, "track")
        c = compare(lambda: ing.segment(request, "track"), lambda: json_floor(body), options)
    return [
        timed_row(
            "ingest.single.cpu_per_request",
            "single-hit request CPU (/v1/track, no AWS)",
            c,
            baseline_label="(JSON floor)",
            target=f"<= {SINGLE_US_TARGET:g} µs",
            passed=c.subject_ns / 1000 <= SINGLE_US_TARGET,
            note=f"{len(body.encode())} bytes; median of {c.rounds} rounds",
        )
    ]


def _calls_row(key: str, figure: str, sent: list[str], expected: set[str], note: str = "") -> Row:
    """``sent``: the destination of each message the sender got for one request."""
    return Row(
        key=key,
        figure=figure,
        value=len(sent),
        unit="",
        baseline=len(expected),
        baseline_label="destinations receiving data",
        ratio=ratio(len(sent), len(expected)),
        target="== destinations receiving data",
        passed=len(sent) == len(expected) and set(sent) == expected,
        note=note or ("receiving: " + ", ".join(sorted(expected)) if expected else "receiving: none"),
    )


def _sent_to(settings: IngestSettings, sender: DiscardingSender, call: Callable[[], IngestResult]) -> list[str]:
    """Run one request; the destination of every message it queued (from the queue URLs)."""
    destination_of = {settings.queue_url(d): d for d in DESTINATIONS if settings.queue_url(d)}
    sender.reset_counts()
    call()
    return [destination_of[url] for url, _ in sender.last]


def aws_calls(options: Options) -> list[Row]:
    """SQS SendMessage calls per request: one per destination that receives data, none per hit."""
    settings = all_destinations_settings()
    ing, store, sender = ingestor(settings)
    policy = store.active_policy()
    batch = events.request(events.batch_body(BATCH_HITS))
    single = events.request(events.single_track_body())
    no_consent = events.request(events.batch_body(BATCH_HITS, consent=False))
    with quiet():
        batch_sent = _sent_to(settings, sender, lambda: ing.segment_batch(batch))
        single_sent = _sent_to(settings, sender, lambda: ing.segment(single, "track"))
        no_consent_sent = _sent_to(settings, sender, lambda: ing.segment_batch(no_consent))
    return [
        _calls_row(
            "aws.calls_per_request.batch",
            f"SQS calls per request, {BATCH_HITS}-hit batch",
            batch_sent,
            destinations_receiving_data(settings, policy, [events.analytics_js_hit(i) for i in range(BATCH_HITS)]),
        ),
        _calls_row(
            "aws.calls_per_request.single",
            "SQS calls per request, single hit",
            single_sent,
            destinations_receiving_data(settings, policy, [events.analytics_js_hit(0)]),
        ),
        _calls_row(
            "aws.calls_per_request.no_consent",
            f"SQS calls per request, {BATCH_HITS} hits without consent",
            no_consent_sent,
            destinations_receiving_data(
                settings, policy, [events.analytics_js_hit(i, consent=False) for i in range(BATCH_HITS)]
            ),
            note="fails closed: no consent signal, only the lake's necessary-only record",
        ),
    ]


def _store_rows(label: str, key: str, hits_per_request: int) -> list[Row]:
    ing, store, _ = ingestor()
    requests = 1000 // hits_per_request
    if hits_per_request == 1:
        single = events.request(events.single_track_body())

        def call() -> object:
            return ing.segment(single, "track")

    else:
        batch = events.request(events.batch_body(hits_per_request))

        def call() -> object:
            return ing.segment_batch(batch)

    with quiet():
        call()  # cold: the first request reads the source, the pointer and the policy document
        cold_reads = store.table.reads
        store.reset_counts()
        for _ in range(requests):
            call()
    calls, reads = store.total_calls, store.table.reads
    return [
        Row(
            key=f"store.calls_per_1000_hits.{key}",
            figure=f"policy-store calls per 1,000 hits, {label}",
            value=calls,
            unit="",
            baseline=requests,
            baseline_label="requests",
            ratio=ratio(calls, requests),
            target=f"<= {STORE_CALLS_PER_REQUEST} per request",
            passed=calls <= STORE_CALLS_PER_REQUEST * requests,
            note=f"{calls / requests:g} per request: constant, never per hit",
        ),
        Row(
            key=f"store.table_reads_per_1000_hits.{key}",
            figure=f"policy-table reads per 1,000 hits, {label} (warm)",
            value=reads,
            unit="",
            baseline=calls,
            baseline_label="store calls",
            ratio=ratio(reads, calls),
            target=f"<= {TABLE_READS_PER_1000_TARGET}",
            passed=reads <= TABLE_READS_PER_1000_TARGET,
            note=f"cold start: {cold_reads} reads; then the {store.cache_seconds} s cache answers",
        ),
    ]


def store_reads(options: Options) -> list[Row]:
    """Calls to the policy store and reads of its table while ingesting 1,000 hits, warm."""
    return [
        *_store_rows(f"{BATCH_HITS}-hit batches", "batch", BATCH_HITS),
        *_store_rows("single hits", "single", 1),
    ]


def anonymise_cpu(options: Options) -> list[Row]:
    """The anonymisation stage alone, per hit of the 50-hit batch: pseudonyms, the reduced user
    agent, URL cleaning and the PII scan, on payloads ingest has already built (so parsing,
    validation and routing are not in it), against the JSON floor of the same hits."""
    ing, _, _ = ingestor()
    body = events.batch_body(BATCH_HITS)
    doc = json.loads(body)
    from datetime import UTC, datetime

    from fairtrack.protocols.segment import batch_events, parse_event

    raw_events, _, sent_at = batch_events(doc)
    hits = [parse_event(raw, implied_type=None, ip="203.0.113.0") for _, raw in raw_events]
    received = datetime.now(UTC)
    canonical = [h.to_hit(received, sent_at) for h in hits if not isinstance(h, list)]
    policy = MemoryPolicyStore(events.WRITE_KEY, events.SOURCE_ID).active_policy()
    granted = frozenset({"necessary", "analytics"})
    result = IngestResult()

    def stage() -> None:
        ing.anonymiser.forget()  # every URL, agent, id and text of the batch computed afresh: the worst case
        for hit in canonical:
            ing.anonymiser.anonymise(
                hit, policy, granted=granted, visitor=None, source_id=events.SOURCE_ID, result=result
            )

    with quiet():
        stage()
        c = compare(stage, lambda: json_floor(body), options)
    return [
        timed_row(
            "ingest.anonymise.cpu_per_hit",
            "anonymisation stage CPU per hit (50-hit batch)",
            c,
            per=BATCH_HITS,
            baseline_label="(JSON floor)",
            note="the whole stage: pseudonyms, reduced user agent, URL cleaning, PII scan, echoed ids, "
            "conform to the catalogue's formats; per-container memos cleared each round",
        )
    ]
