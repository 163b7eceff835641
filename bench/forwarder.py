"""Forwarder figures: CPU per SQS record and requests per batch, for each destination.

A batch is what the SQS event source hands one forwarder invocation: :data:`RECORDS_PER_BATCH`
records (the template's ``ForwarderBatchSize`` default), each an envelope of 2 to 4 events. The
envelopes are not written by hand: the real :class:`fairtrack.ingest.Ingestor` queues them from
analytics.js batches received *now* (with analytics and advertising consent, so that every
destination gets data, Meta included), exactly as the queues would hold them.

Each batch goes through the real :class:`fairtrack.forwarder.Forwarder` (envelope parsing, the
policy re-check with field decisions, the delivery ledger, the destination's mapping and its
HTTP transport, the decision log, the log line and metrics) with in-memory stand-ins for
everything that would leave the process:

- the policy store is :class:`bench.fakes.MemoryPolicyStore`;
- the ledger (GA4 only: the other destinations keep none) is the real
  :class:`fairtrack.stores.ledger.Ledger` over :class:`MemoryDynamoDB`, which grants every claim
  (``PutItem``), counts the calls and keeps nothing (so every round delivers every event again);
- HTTP destinations keep their real :class:`~fairtrack.destinations.transport.Transport` over
  :class:`MemoryPool`, a stand-in for ``urllib3.PoolManager`` that answers 204 (GA4, webhook) or
  Meta's 200 and counts requests; the lake writes to :class:`MemoryS3`, which counts ``PutObject``
  calls, and the decision log to :class:`bench.fakes.MemoryFirehose`, which counts
  ``PutRecordBatch`` calls and the size of each record.

CPU is compared with the JSON floor of the same record bodies (``json.loads`` + ``json.dumps``
of each). Request counts are checked against each destination's batching rule, worked out from
the events themselves: GA4 one request per 25 events of a client, Meta one per 1,000 events,
webhook one per record, lake one object per (date, source).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

from bench import events
from bench.core import Options, Row, compare, initialised, ratio
from bench.fakes import REPO, MemoryFirehose, MemoryPolicyStore, quiet
from bench.ingest import ingestor
from fairtrack.destinations import Delivery, DeliveryReport, DestinationClient, Stop
from fairtrack.destinations.ga4 import Ga4Destination
from fairtrack.destinations.lake import LakeDestination, partition_date
from fairtrack.destinations.meta import MetaDestination
from fairtrack.destinations.webhook import WebhookDestination
from fairtrack.forwarder import Forwarder
from fairtrack.hit import iso
from fairtrack.observability import CORRELATION_ATTRIBUTE
from fairtrack.settings import DESTINATIONS, Destination, ForwarderSettings
from fairtrack.stores.decision_log import DecisionLog
from fairtrack.stores.ledger import Ledger
from fairtrack.stores.queue import envelope_from_body
from fairtrack_tools.local.template import load as load_template

# what the SQS event source hands one invocation: the template's ForwarderBatchSize default
RECORDS_PER_BATCH = int(load_template(REPO / "template.yaml")["Parameters"]["ForwarderBatchSize"]["Default"])
EVENTS_PER_RECORD = (2, 3, 4)  # cycled
GA4_EVENTS_PER_REQUEST = 25
META_EVENTS_PER_REQUEST = 1000
DELIVERY_TABLE = "fairtrack-delivery"
DECISION_STREAM = "fairtrack-decisions"
FIREHOSE_RECORD_UNIT = 5 * 1024  # Firehose bills each record rounded up to the next 5 KB


class MemoryResponse:
    """The part of ``urllib3.BaseHTTPResponse`` the transport reads."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self._body = body

    def read(self, amt: int | None = None, decode_content: bool = True) -> bytes:
        return self._body

    def drain_conn(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class MemoryPool:
    """Stands in for ``urllib3.PoolManager``: answers every request at once and counts them."""

    def __init__(self, status: int = 204, body: bytes = b"") -> None:
        self.status = status
        self.body = body
        self.requests = 0
        self.sent_bytes = 0

    def request(self, method: str, url: str, body: bytes | None = None, **kwargs: Any) -> MemoryResponse:
        self.requests += 1
        self.sent_bytes += len(body or b"")
        return MemoryResponse(self.status, self.body)


class MemoryS3:
    """Stands in for a boto3 S3 client: ``put_object`` is counted, its body kept only as a size."""

    def __init__(self) -> None:
        self.puts = 0
        self.put_bytes = 0

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.puts += 1
        self.put_bytes += len(kwargs.get("Body") or b"")
        return {}


class MemoryDynamoDB:
    """Stands in for the ledger's boto3 DynamoDB client: every claim is granted with nothing settled
    before (nothing is kept), calls are counted."""

    def __init__(self) -> None:
        self.puts = 0
        self.updates = 0
        self.deletes = 0

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.puts += 1
        return {}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.updates += 1
        return {}

    def delete_item(self, **kwargs: Any) -> dict[str, Any]:
        self.deletes += 1
        return {}


@dataclass
class Rig:
    """One destination's forwarder over in-memory stand-ins, and what they counted."""

    destination: Destination
    forwarder: Forwarder
    pool: MemoryPool | None = None
    lake: MemoryS3 | None = None
    ledger: MemoryDynamoDB = field(default_factory=MemoryDynamoDB)
    decisions: MemoryFirehose = field(default_factory=MemoryFirehose)

    @property
    def requests(self) -> int:
        """HTTP requests (GA4, Meta, webhook) or lake objects put."""
        if self.pool is not None:
            return self.pool.requests
        return self.lake.puts if self.lake is not None else 0


def rig(destination: Destination) -> Rig:
    pool: MemoryPool | None = None
    lake: MemoryS3 | None = None
    client: DestinationClient
    if destination == "ga4":
        pool = MemoryPool(204)
        client = Ga4Destination(
            "https://www.google-analytics.com",
            "G-BENCH00001",
            lambda: b"bench-api-secret",
            timeout=5.0,
            pool=cast(Any, pool),
        )
    elif destination == "meta":
        pool = MemoryPool(200, b'{"events_received":1,"messages":[],"fbtrace_id":"bench"}')
        client = MetaDestination(
            "https://graph.facebook.com/v21.0", "1234567890", lambda: b"bench-token", timeout=5.0, pool=cast(Any, pool)
        )
    elif destination == "webhook":
        pool = MemoryPool(204)
        client = WebhookDestination(
            "https://hooks.example.com/fairtrack", lambda: b"bench-webhook-secret", 5.0, pool=cast(Any, pool)
        )
    else:
        lake = MemoryS3()
        client = LakeDestination("fairtrack-lake", "lake", s3=lake)
    settings = ForwarderSettings.model_validate({"destination": destination, "delivery_table": DELIVERY_TABLE})
    ledger_client = MemoryDynamoDB()
    decisions = MemoryFirehose()
    forwarder = Forwarder(
        settings,
        client,
        store=MemoryPolicyStore(events.WRITE_KEY, events.SOURCE_ID),
        ledger=Ledger(DELIVERY_TABLE, destination, client=ledger_client),
        decision_log=DecisionLog(DECISION_STREAM, destination, firehose=decisions),
    )
    initialised()  # as forwarder_handler does once its module is imported (gc.freeze())
    return Rig(destination, forwarder, pool, lake, ledger_client, decisions)


def consenting_hit(i: int) -> dict[str, Any]:
    """Hit ``i`` of the bench, with advertising granted too (so Meta receives it); an ``Order
    Completed`` carries its order id and total, as the Segment e-commerce spec has it (Meta's
    ``Purchase`` needs a value)."""
    hit = events.analytics_js_hit(i)
    hit["context"]["consent"]["categoryPreferences"]["advertising"] = True
    props = hit.get("properties") or {}
    if hit.get("event") == "Order Completed":
        props.update(order_id=f"ord-{i:05d}", total=round(props["price"] * props["quantity"], 2))
    return hit


def envelope_bodies(
    now: datetime | None = None, events_per_record: tuple[int, ...] = EVENTS_PER_RECORD
) -> dict[Destination, list[str]]:
    """:data:`RECORDS_PER_BATCH` queue message bodies per destination, as ingest writes them for
    analytics.js batches of 2 to 4 hits (``events_per_record``, cycled) received at ``now``. Hit
    numbers run on across records, so every event of a batch has its own ``messageId``."""
    received = now or datetime.now(UTC)
    ing, _, sender = ingestor()
    settings = ing.settings
    destination_of = {settings.queue_url(d): d for d in DESTINATIONS}
    bodies: dict[Destination, list[str]] = {d: [] for d in DESTINATIONS}
    first = 0
    with quiet():
        for record in range(RECORDS_PER_BATCH):
            n = events_per_record[record % len(events_per_record)]
            # the clients' clock said RECEIVED_AT; ingest corrects the hits' times to `received`
            body = json.dumps(
                {"batch": [consenting_hit(i) for i in range(first, first + n)], "sentAt": iso(events.RECEIVED_AT)}
            )
            first += n
            sender.reset_counts()
            ing.segment_batch(replace(events.request(body), received_at=received, request_id=f"bench-{record}"))
            for url, message in sender.last:
                bodies[destination_of[url]].append(message)
    for destination, found in bodies.items():
        if len(found) != RECORDS_PER_BATCH:
            raise RuntimeError(f"ingest queued {len(found)} messages for {destination}, not {RECORDS_PER_BATCH}")
    return bodies


def sqs_event(destination: Destination, bodies: list[str]) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it (like ``events/forwarder/*.json``)."""
    sent = int(datetime.now(UTC).timestamp() * 1000)
    return {
        "Records": [
            {
                "messageId": f"00000000-0000-4000-8000-{destination[:4]:0>4}{j:08d}",
                "receiptHandle": f"AQEB-bench-{j}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(sent),
                    "SenderId": "AROABENCH",
                    "ApproximateFirstReceiveTimestamp": str(sent + 100),
                },
                "messageAttributes": {
                    CORRELATION_ATTRIBUTE: {
                        "stringValue": f"bench-{j}",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "String",
                    }
                },
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:fairtrack-{destination}",
                "awsRegion": "us-east-1",
            }
            for j, body in enumerate(bodies)
        ]
    }


def expected_requests(destination: Destination, bodies: list[str]) -> int:
    """Requests (or lake objects) the destination's batching rule calls for, from the events."""
    envelopes = [envelope_from_body(b) for b in bodies]
    evs = [(env.source_id, routed.event) for env in envelopes for routed in env.events]
    if destination == "ga4":
        per_client = Counter(str(e.get("anonymousId")) for _, e in evs)
        return sum(math.ceil(n / GA4_EVENTS_PER_REQUEST) for n in per_client.values())
    if destination == "meta":
        return math.ceil(len(evs) / META_EVENTS_PER_REQUEST)
    if destination == "webhook":
        return len(bodies)
    return len({(partition_date(e), source) for source, e in evs})


def events_per_batch(bodies: list[str]) -> int:
    return sum(len(envelope_from_body(b).events) for b in bodies)


class Recorder:
    """A destination that hands on to another and keeps the last report (for the counts only)."""

    def __init__(self, inner: DestinationClient) -> None:
        self.inner = inner
        self.last = DeliveryReport()

    def deliver(self, items: list[Delivery], stop: Stop | None = None) -> DeliveryReport:
        self.last = self.inner.deliver(items, stop)
        return self.last


@dataclass(frozen=True)
class BatchFigures:
    destination: Destination
    records: int
    events: int
    record_bytes: int
    cpu_ns_per_record: float
    floor_ns_per_record: float
    ratio: float
    rounds: int
    requests: int
    expected_requests: int
    ledger_puts: int  # GA4's claims: one PutItem per record
    ledger_releases: int  # UpdateItem + DeleteItem (retried records only: 0 here)
    decision_puts: int  # PutRecordBatch calls
    decision_record_bytes: list[int]  # the size of each decision-log record (gzip NDJSON)
    failures: int
    sent: int
    dropped: Counter[str]


def measure(destination: Destination, bodies: list[str], options: Options) -> BatchFigures:
    event = sqs_event(destination, bodies)
    counting = rig(destination)
    recorder = Recorder(counting.forwarder.destination)
    counting.forwarder.destination = recorder
    with quiet():
        answer = counting.forwarder.handle(event)  # fails loudly here if the setup is wrong
    r = rig(destination)

    def floor() -> None:
        for body in bodies:
            json.dumps(json.loads(body.encode()))

    handle: Callable[[], dict[str, Any]] = lambda: r.forwarder.handle(event)  # noqa: E731
    with quiet():
        c = compare(handle, floor, options)
    n = len(bodies)
    return BatchFigures(
        destination=destination,
        records=n,
        events=events_per_batch(bodies),
        record_bytes=sum(len(b.encode()) for b in bodies),
        cpu_ns_per_record=c.subject_ns / n,
        floor_ns_per_record=c.baseline_ns / n,
        ratio=c.ratio,
        rounds=c.rounds,
        requests=counting.requests,
        expected_requests=expected_requests(destination, bodies),
        ledger_puts=counting.ledger.puts,
        ledger_releases=counting.ledger.updates + counting.ledger.deletes,
        decision_puts=counting.decisions.calls,
        decision_record_bytes=list(counting.decisions.record_sizes),
        failures=len(answer.get("batchItemFailures") or []),
        sent=len(recorder.last.sent),
        dropped=Counter(reason for _, reason in recorder.last.dropped),
    )


def _sizes(sizes: list[int]) -> str:
    return ", ".join(f"{n:,} B" for n in sizes) + " gzip" if sizes else "no record"


# Envelope shapes the decision-log record is measured for: a batch of single-hit envelopes (a
# site sending one hit per request) and one of 50-hit envelopes (a client batching)
DECISION_SHAPES = {"single": (1,), "batched": (50,)}


def decision_records(events_per_record: tuple[int, ...]) -> dict[Destination, list[int]]:
    """The decision-log records (their sizes) one forwarder batch of :data:`RECORDS_PER_BATCH`
    envelopes of ``events_per_record`` events writes, per destination: the real forwarder, the
    real log's encoding."""
    bodies = envelope_bodies(events_per_record=events_per_record)
    out: dict[Destination, list[int]] = {}
    for d in DESTINATIONS:
        r = rig(d)
        with quiet():
            r.forwarder.handle(sqs_event(d, bodies[d]))
        out[d] = list(r.decisions.record_sizes)
    return out


def decision_record_rows() -> list[Row]:
    """Bytes per decision-log record and the 5 KB units Firehose bills for it, per destination,
    for batches of single-hit and of 50-hit envelopes."""
    out: list[Row] = []
    for shape, per_record in DECISION_SHAPES.items():
        sizes = decision_records(per_record)
        for d, found in sizes.items():
            largest = max(found, default=0)
            units = sum(math.ceil(n / FIREHOSE_RECORD_UNIT) for n in found)
            out.append(
                Row(
                    key=f"forwarder.{d}.decision_record_bytes.{shape}",
                    figure=f"decision-log record per batch, {d}, {per_record[0]}-hit envelopes",
                    value=largest,
                    unit="B",
                    baseline=FIREHOSE_RECORD_UNIT,
                    baseline_label="(Firehose's billing unit)",
                    ratio=ratio(largest, FIREHOSE_RECORD_UNIT),
                    target="informational",
                    passed=None,
                    note=(
                        f"{RECORDS_PER_BATCH} envelopes of {per_record[0]} events: {len(found)} record(s), "
                        f"{_sizes(found)}, billed as {units} x 5 KB"
                    ),
                )
            )
    return out


# Filled by :func:`rows`; bench.cost reads it (and measures itself when it is empty).
LAST: dict[Destination, BatchFigures] = {}


def measure_all(options: Options) -> dict[Destination, BatchFigures]:
    bodies = envelope_bodies()
    return {d: measure(d, bodies[d], options) for d in DESTINATIONS}


def _dropped(reasons: Counter[str]) -> str:
    return "".join(f", {n} dropped: {reason}" for reason, n in sorted(reasons.items()))


_RULES = {
    "ga4": "ceil(events / 25) per client",
    "meta": "ceil(events / 1,000)",
    "webhook": "1 per record",
    "lake": "1 per (date, source)",
}


def rows(options: Options) -> list[Row]:
    LAST.clear()
    LAST.update(measure_all(options))
    out: list[Row] = []
    for d, f in LAST.items():
        out.append(
            Row(
                key=f"forwarder.{d}.cpu_per_record",
                figure=f"forwarder CPU per record, {d}",
                value=f.cpu_ns_per_record / 1000,
                unit="µs",
                baseline=f.floor_ns_per_record / 1000,
                baseline_label="(JSON floor of the record)",
                ratio=f.ratio,
                target="informational",
                passed=None,
                note=(
                    f"{f.records} records, {f.events} events ({f.sent} sent{_dropped(f.dropped)}, "
                    f"{f.failures} records failed), {f.record_bytes // f.records} bytes per record; "
                    f"{f.cpu_ns_per_record / 1000 * f.records / f.events:.0f} µs per event; policy re-check, ledger, "
                    f"mapping, transport and decision log in, network out; median of {f.rounds} rounds"
                ),
            )
        )
    for d, f in LAST.items():
        unit = "S3 puts" if d == "lake" else "HTTP requests"
        out.append(
            Row(
                key=f"forwarder.{d}.requests_per_batch",
                figure=f"forwarder {unit} per batch, {d}",
                value=f.requests,
                unit="",
                baseline=f.expected_requests,
                baseline_label=f"({_RULES[d]})",
                ratio=ratio(f.requests, f.expected_requests),
                target="== rule",
                passed=f.requests == f.expected_requests,
                note=(
                    f"{f.records} records, {f.events} events; ledger {f.ledger_puts} PutItem + "
                    f"{f.ledger_releases} UpdateItem/DeleteItem; decision log {f.decision_puts} PutRecordBatch "
                    f"({_sizes(f.decision_record_bytes)})"
                ),
            )
        )
    return out + decision_record_rows()
