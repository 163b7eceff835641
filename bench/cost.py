"""What a million hits cost on AWS: a model fed with the figures measured in the same run.

Two ways the same million hits arrive, each delivered to all four destinations (every hit grants
analytics and advertising): (a) one hit per request (``POST /v1/track``), (b) 50 hits per request
(``POST /v1/batch``, as analytics.js batches). Each row is one billed component, its cost per
million hits for (a) as the measured value and for (b) as the baseline; the ratio says how many
times batching saves. The notes give each row's arithmetic. Then the floor (what the design cannot
do without: API Gateway, one SQS send per receiving destination, the forwarders' receives and
deletes), the single-hit total against it (target at most 1.5x) and the batched total (target at
most $1.00 per million hits).

Inputs measured in this run: the wall time and the CPU in it of each invocation on the local stack
(:mod:`bench.walltime`: ingest per request, each forwarder per batch), the in-process CPU figures
(:mod:`bench.ingest`, :mod:`bench.forwarder`; the CPU-only durations in the notes), the bytes of
the requests and of the queue messages ingest writes for them, and the size of a batch's
decision-log record (the real ingest and forwarder, here). Taken from ``template.yaml``: memory
size and architecture of the functions, the forwarders' SQS batch size. Prices: AWS list prices
for us-east-1 (``aws-python-notes.md`` gives none), first pricing tier, no free tier. Model
assumptions (also printed in the notes):

- Lambda duration per invocation is the wall time measured on the local stack with its CPU part
  stretched by the CPU share Lambda gives the memory size (one vCPU at 1,769 MB), rounded up to
  the millisecond: ``ceil(wall + CPU x (1,769 / MB - 1))``; a forwarder's is scaled from the
  measured batch's events to the modelled batch's. moto and capture servers on loopback answer
  unlike AWS in-region and GA4/Meta: the notes give what each 10 ms of waiting adds.
- Forwarder batches are full (the template's batch size, sustained traffic); SQS's receive
  returns at most 10 messages per call, each call and each send billed per 64 KB chunk; one
  ``DeleteMessageBatch`` per 10 messages; idle long polling is a per-queue cost, not per hit.
- GA4's forwarder claims each message with one conditional ``PutItem`` before sending (the item
  under 1 KB: one write unit); ``UpdateItem``/``DeleteItem`` run only on failure paths and are not
  modelled. Meta, the webhook and the lake keep no ledger.
- The lake writes one object per forwarder batch (one day, one source); the decision log one
  Firehose record per forwarder batch and destination (one ``PutRecordBatch``), billed per GB
  ingested with each record rounded up to 5 KB; Firehose's own S3 objects (one per buffer
  interval per stream) are a per-stream cost, not per hit, and left out.
- Not modelled: CloudWatch Logs and metrics, data transfer out to GA4/Meta/the webhook, S3 and
  DynamoDB storage, Secrets Manager, KMS, API Gateway access logs.
"""

from __future__ import annotations

import json
import math
import platform
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from bench import events, forwarder, ingest, walltime
from bench.core import Options, Row
from bench.fakes import REPO, quiet
from fairtrack.hit import iso
from fairtrack.ingest import Ingestor
from fairtrack.settings import DESTINATIONS, Destination
from fairtrack_tools.local.template import load as load_template

TEMPLATE = REPO / "template.yaml"
HITS = 1_000_000
BATCH_HITS = 50  # hits per request in the batched case, as bench.ingest measures it
SDK_CALL_CPU_US = 465.0  # one boto3 call's CPU (aws-python-notes.md: SQS send_message)
FULL_VCPU_MB = 1769  # Lambda memory size that gets one full vCPU; CPU share scales with memory
SQS_MESSAGES_PER_RECEIVE = 10
SQS_MESSAGES_PER_DELETE = 10
FIREHOSE_RECORD_UNIT_BYTES = 5 * 1024  # Firehose bills each record rounded up to the next 5 KB
TOTAL_VS_FLOOR_TARGET = 1.5  # single hits: the total at most this many times the floor
BATCHED_TOTAL_TARGET = 1.00  # 50-hit batches: the total at most this many dollars per million hits


@dataclass(frozen=True)
class Prices:
    """AWS list prices, us-east-1, first tier, without free tier (USD)."""

    api_http_per_million: float = 1.00  # HTTP API, first 300 M requests a month
    api_request_unit_bytes: int = 512 * 1024  # HTTP API meters requests in 512 KB increments
    lambda_requests_per_million: float = 0.20
    lambda_gb_second_arm64: float = 0.0000133334  # first 7.5 B GB-s a month
    lambda_gb_second_x86_64: float = 0.0000166667
    sqs_per_million: float = 0.40  # standard queue; every 64 KB chunk of a payload is one request
    sqs_chunk_bytes: int = 64 * 1024
    dynamodb_write_units_per_million: float = 0.625  # on-demand (since November 2024)
    dynamodb_read_units_per_million: float = 0.125
    s3_put_per_thousand: float = 0.005  # S3 Standard PUT, COPY, POST, LIST
    firehose_per_gb: float = 0.029  # Data Firehose direct PUT, first 500 TB a month, 5 KB records

    def lambda_gb_second(self, architecture: str) -> float:
        return self.lambda_gb_second_arm64 if architecture == "arm64" else self.lambda_gb_second_x86_64


PRICES = Prices()


@dataclass(frozen=True)
class Deployment:
    """What the template says about the functions that a hit passes through."""

    ingest_memory_mb: int
    forwarder_memory_mb: int
    architecture: str
    forwarder_batch_size: int


def deployment(path: Path = TEMPLATE) -> Deployment:
    doc = load_template(path)
    globals_ = (doc.get("Globals") or {}).get("Function") or {}
    resources = doc["Resources"]

    def prop(function: str, name: str, default: Any) -> Any:
        return (resources[function].get("Properties") or {}).get(name, globals_.get(name, default))

    forwarder_memory = {int(prop(f"{d.capitalize()}ForwarderFunction", "MemorySize", 128)) for d in DESTINATIONS}
    architectures = prop("IngestFunction", "Architectures", ["x86_64"])
    return Deployment(
        ingest_memory_mb=int(prop("IngestFunction", "MemorySize", 128)),
        forwarder_memory_mb=max(forwarder_memory),
        architecture=str(architectures[0]),
        forwarder_batch_size=int(doc["Parameters"]["ForwarderBatchSize"]["Default"]),
    )


@dataclass(frozen=True)
class Shape:
    """One way of sending the hits: request size and the queue messages ingest writes for it."""

    name: str
    hits_per_request: int
    request_bytes: int
    message_bytes: dict[Destination, int]  # each request's message to each destination
    ingest_cpu_us: float  # per request, measured, AWS calls excluded


def _messages(call: Callable[[Ingestor], object]) -> tuple[dict[Destination, int], int]:
    """Bytes of the message ingest queues for each destination in one request, and the count."""
    ing, _, sender = ingest.ingestor()
    destination_of = {ing.settings.queue_url(d): d for d in DESTINATIONS}
    with quiet():
        call(ing)
    sizes: dict[Destination, int] = {}
    for url, body in sender.last:
        sizes[destination_of[url]] = sizes.get(destination_of[url], 0) + len(body.encode())
    return sizes, len(sender.last)


def shapes(single_cpu_us: float, batch_cpu_us_per_hit: float) -> tuple[Shape, Shape]:
    now = datetime.now(UTC)
    single_body = json.dumps(forwarder.consenting_hit(0))
    batch_body = json.dumps(
        {"batch": [forwarder.consenting_hit(i) for i in range(BATCH_HITS)], "sentAt": iso(events.RECEIVED_AT)}
    )
    single_request = replace(events.request(single_body), received_at=now)
    batch_request = replace(events.request(batch_body), received_at=now)
    single_sizes, single_count = _messages(lambda ing: ing.segment(single_request, "track"))
    batch_sizes, batch_count = _messages(lambda ing: ing.segment_batch(batch_request))
    for sizes, count in ((single_sizes, single_count), (batch_sizes, batch_count)):
        if set(sizes) != set(DESTINATIONS) or count != len(DESTINATIONS):
            raise RuntimeError(f"expected one message per destination, ingest queued {count}: {sorted(sizes)}")
    return (
        Shape("single", 1, len(single_body.encode()), single_sizes, single_cpu_us),
        Shape("batched", BATCH_HITS, len(batch_body.encode()), batch_sizes, batch_cpu_us_per_hit * BATCH_HITS),
    )


@dataclass(frozen=True)
class Line:
    """One billed component for one shape: dollars per million hits and how they came about."""

    dollars: float
    how: str


@dataclass(frozen=True)
class Timing:
    """One invocation's measured duration (:mod:`bench.walltime`): its wall time and the CPU in
    it, in milliseconds; for a forwarder, the events of the batch it was measured on."""

    wall_ms: float
    cpu_ms: float
    events: int = 0


def _billed_ms(timing: Timing, memory_mb: int, scale: float = 1.0) -> int:
    """Billed milliseconds of one invocation on Lambda: the wall time measured here with its CPU
    part stretched by the CPU share the memory size gets (one vCPU at 1,769 MB; measured here on a
    full core), times ``scale`` (a batch of more events than measured), rounded up."""
    stretch = max(FULL_VCPU_MB / memory_mb, 1.0) - 1.0
    return max(1, math.ceil((timing.wall_ms + timing.cpu_ms * stretch) * scale))


def _cpu_only_ms(cpu_us: float, memory_mb: int) -> int:
    """What the CPU-only model billed: ``cpu_us`` of one core, stretched, rounded up."""
    return max(1, math.ceil(cpu_us / 1000 * FULL_VCPU_MB / memory_mb))


def _gb_s(ms: float, memory_mb: int) -> float:
    return ms / 1000 * memory_mb / 1024


def _chunks(size: int, chunk: int) -> int:
    return max(1, math.ceil(size / chunk))


@dataclass(frozen=True)
class Inputs:
    """What the model is fed for one shape, besides the shape itself."""

    ingest: Timing
    forwarders: Mapping[Destination, Timing]
    forwarder_cpu_us_per_event: Mapping[Destination, float]  # in-process CPU: the CPU-only note
    decision_record_bytes: int  # one forwarder batch's decision-log record (gzip NDJSON)


FLOOR = ("api", "sqs_send", "sqs_receive")  # the least this design can cost: no compute, no tables


@dataclass(frozen=True)
class Summary:
    """What :mod:`bench.scaling` needs of one shape's model: the total, the floor, and the billed
    milliseconds per invocation (ingest per request, each forwarder per batch)."""

    total: float
    floor: float
    ingest_ms: int
    forwarder_ms: dict[str, int]


# Filled by :func:`rows`, by shape: bench.scaling reads it.
LAST: dict[str, Summary] = {}


def model(shape: Shape, inputs: Inputs, dep: Deployment, prices: Prices = PRICES) -> dict[str, Line]:
    p, h = prices, HITS
    per_m = 1e-6
    gb_s_price = p.lambda_gb_second(dep.architecture)
    requests = h / shape.hits_per_request
    dests = len(DESTINATIONS)
    b = dep.forwarder_batch_size
    events_per_batch = b * shape.hits_per_request
    batches = h / events_per_batch  # per destination

    api_units = _chunks(shape.request_bytes, p.api_request_unit_bytes)
    send_chunks = sum(_chunks(shape.message_bytes[d], p.sqs_chunk_bytes) for d in DESTINATIONS)
    sends = dests  # one SendMessage per destination per request (each message under 256 KB)

    ingest_ms = _billed_ms(inputs.ingest, dep.ingest_memory_mb)
    ingest_cpu_only = _cpu_only_ms(shape.ingest_cpu_us + sends * SDK_CALL_CPU_US, dep.ingest_memory_mb)

    receive_calls = math.ceil(b / SQS_MESSAGES_PER_RECEIVE)
    delete_calls = math.ceil(b / SQS_MESSAGES_PER_DELETE)
    receive_billed = {
        d: max(receive_calls, _chunks(b * shape.message_bytes[d], p.sqs_chunk_bytes)) for d in DESTINATIONS
    }
    forwarder_ms: dict[Destination, int] = {}
    cpu_only_ms: dict[Destination, int] = {}
    for d in DESTINATIONS:
        t = inputs.forwarders[d]
        forwarder_ms[d] = _billed_ms(t, dep.forwarder_memory_mb, events_per_batch / t.events if t.events else 1.0)
        calls = (1 if d == "ga4" else 0) * b + 1 + (1 if d == "lake" else 0)  # claims, decision record, lake
        cpu = events_per_batch * inputs.forwarder_cpu_us_per_event[d] + calls * SDK_CALL_CPU_US
        cpu_only_ms[d] = _cpu_only_ms(cpu, dep.forwarder_memory_mb)
    forwarder_gb_s = sum(batches * _gb_s(forwarder_ms[d], dep.forwarder_memory_mb) for d in DESTINATIONS)
    stretch = f"x {FULL_VCPU_MB}/{dep.forwarder_memory_mb} MB"

    def ms_list(values: Mapping[Destination, float], fmt: str = "g") -> str:
        return "/".join(format(values[d], fmt) for d in DESTINATIONS)

    ga4_messages = requests  # one GA4 message per request
    records = batches * dests
    record_units = _chunks(inputs.decision_record_bytes, FIREHOSE_RECORD_UNIT_BYTES)
    firehose_gb = records * record_units * FIREHOSE_RECORD_UNIT_BYTES / 1024**3
    summary_ms = {"ingest": ingest_ms, **{f"forwarder_{d}": forwarder_ms[d] for d in DESTINATIONS}}
    lines = {
        "api": Line(
            requests * api_units * p.api_http_per_million * per_m,
            f"{requests:,.0f} requests of {shape.request_bytes:,} B x ${p.api_http_per_million:g}/M",
        ),
        "ingest_requests": Line(
            requests * p.lambda_requests_per_million * per_m,
            f"{requests:,.0f} invocations x ${p.lambda_requests_per_million:g}/M",
        ),
        "ingest_duration": Line(
            requests * _gb_s(ingest_ms, dep.ingest_memory_mb) * gb_s_price,
            f"wall {inputs.ingest.wall_ms:.1f} ms measured (median, {sends} SendMessage in parallel to moto), its "
            f"CPU {inputs.ingest.cpu_ms:.1f} ms x {FULL_VCPU_MB}/{dep.ingest_memory_mb} MB"
            f" = {ingest_ms} ms billed per invocation x {dep.ingest_memory_mb / 1024:g} GB x "
            f"${gb_s_price:g}/GB-s (CPU only: {shape.ingest_cpu_us:,.0f} µs + {sends} x {SDK_CALL_CPU_US:g} µs "
            f"SendMessage, stretched: {ingest_cpu_only} ms)",
        ),
        "sqs_send": Line(
            requests * send_chunks * p.sqs_per_million * per_m,
            f"{requests:,.0f} x {sends} SendMessage, {send_chunks} billed 64 KB chunks per request "
            f"(messages {'/'.join(f'{shape.message_bytes[d]:,}' for d in DESTINATIONS)} B) x ${p.sqs_per_million:g}/M",
        ),
        "sqs_receive": Line(
            batches * sum(receive_billed[d] + delete_calls for d in DESTINATIONS) * p.sqs_per_million * per_m,
            f"{batches:,.0f} batches of {b} messages per destination x ({ms_list(receive_billed)} billed receives"
            f" + {delete_calls} DeleteMessageBatch) x ${p.sqs_per_million:g}/M",
        ),
        "forwarder_requests": Line(
            batches * dests * p.lambda_requests_per_million * per_m,
            f"{batches:,.0f} invocations x {dests} destinations x ${p.lambda_requests_per_million:g}/M",
        ),
        "forwarder_duration": Line(
            forwarder_gb_s * gb_s_price,
            f"{batches:,.0f} batches of {events_per_batch:,} events per destination; wall "
            f"{ms_list({d: round(inputs.forwarders[d].wall_ms) for d in DESTINATIONS})} ms measured (median) on "
            f"batches of {ms_list({d: inputs.forwarders[d].events for d in DESTINATIONS})} events, CPU in it "
            f"{ms_list({d: round(inputs.forwarders[d].cpu_ms) for d in DESTINATIONS})} ms {stretch}, scaled to "
            f"{events_per_batch:,} events: {ms_list(forwarder_ms)} ms billed per batch (CPU only: "
            f"{ms_list(cpu_only_ms)} ms)",
        ),
        "ga4_claims": Line(
            ga4_messages * p.dynamodb_write_units_per_million * per_m,
            f"{ga4_messages:,.0f} GA4 messages x 1 conditional PutItem (item under 1 KB: 1 WRU) x "
            f"${p.dynamodb_write_units_per_million:g}/M; UpdateItem/DeleteItem only on failure paths, not modelled",
        ),
        "lake_puts": Line(
            batches * p.s3_put_per_thousand / 1000,
            f"{batches:,.0f} objects (one per batch) x ${p.s3_put_per_thousand:g}/1,000",
        ),
        "decision_log": Line(
            firehose_gb * p.firehose_per_gb,
            f"{records:,.0f} Firehose records (one PutRecordBatch per batch and destination, "
            f"{inputs.decision_record_bytes:,} B gzip, billed as {record_units} x 5 KB) = {firehose_gb:.4f} GB x "
            f"${p.firehose_per_gb:g}/GB; Firehose's own S3 objects (one per 60 s buffer per stream, a few "
            f"cents a month whatever the traffic) left out",
        ),
    }
    BILLED_MS[shape.name] = summary_ms
    return lines


BILLED_MS: dict[str, dict[str, int]] = {}  # by shape: the billed ms of the last model() call


COMPONENTS = {
    "api": "API Gateway HTTP API requests",
    "ingest_requests": "Lambda ingest requests",
    "ingest_duration": "Lambda ingest duration",
    "sqs_send": "SQS SendMessage",
    "sqs_receive": "SQS receive + delete (forwarders)",
    "forwarder_requests": "Lambda forwarder requests",
    "forwarder_duration": "Lambda forwarder duration",
    "ga4_claims": "DynamoDB GA4 delivery claims",
    "lake_puts": "S3 PUTs, lake",
    "decision_log": "Firehose, decision log",
}


def _measured(
    measured: Mapping[str, Row], key: str, benchmark: Callable[[Options], list[Row]], options: Options
) -> float:
    """A CPU figure from the rows of this run; measured here when the run did not have it."""
    if key not in measured:
        measured = {**measured, **{row.key: row for row in benchmark(options)}}
    return measured[key].value


class _Sizes:
    """Wraps a forwarder's decision log: the size of every record (Firehose) or object (bucket)
    one batch's write makes, taken from the log's own encoding."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sizes: list[int] = []

    def write(self, counts: Any) -> Any:
        if callable(encode := getattr(self.inner, "records", None)):  # Firehose: gzip NDJSON records
            self.sizes.extend(len(record) for record in encode(counts))
        written = self.inner.write(counts)
        s3 = getattr(self.inner, "_s3", None)
        if not self.sizes and isinstance(s3, forwarder.MemoryS3) and s3.puts:  # a bucket: the objects put
            self.sizes.append(math.ceil(s3.put_bytes / s3.puts))
        return written


def decision_record_bytes() -> int:
    """The largest decision-log record one forwarder batch writes (the bench's 25-record batch of
    74 events, each destination), as the log encodes it: rows are counted per day, source, field
    and reason, never per event, so a batch of more events writes about as many rows."""
    bodies = forwarder.envelope_bodies()
    sizes: list[int] = []
    for d in DESTINATIONS:
        r = forwarder.rig(d)
        log = _Sizes(r.forwarder.decision_log)
        r.forwarder.decision_log = cast(Any, log)
        with quiet():
            r.forwarder.handle(forwarder.sqs_event(d, bodies[d]))
        sizes.extend(log.sizes)
    if not sizes:
        raise RuntimeError("no forwarder wrote a decision-log record")
    return max(sizes)


def _timings(w: walltime.WallTimes, shape: str) -> tuple[Timing, dict[Destination, Timing]]:
    i = w.ingest[shape]
    return (
        Timing(i.median_wall, i.median_cpu),
        {d: Timing(f.median_wall, f.median_cpu, f.events) for d, f in w.forwarders[shape].items()},
    )


def _total(lines: Mapping[str, Line], keys: Iterable[str] | None = None) -> float:
    return sum(lines[k].dollars for k in (keys if keys is not None else lines))


def rows(options: Options, measured: Mapping[str, Row] | None = None) -> list[Row]:
    measured = measured or {}
    dep = deployment()
    single_us = _measured(measured, "ingest.single.cpu_per_request", ingest.single_cpu, options)
    batch_us = _measured(measured, "ingest.batch.cpu_per_hit", ingest.batch_cpu, options)
    figures = dict(forwarder.LAST) or forwarder.measure_all(options)
    per_event = {d: f.cpu_ns_per_record * f.records / f.events / 1000 for d, f in figures.items()}
    w = walltime.latest(options)
    record_bytes = decision_record_bytes()
    single, batched = shapes(single_us, batch_us)
    lines: dict[str, dict[str, Line]] = {}
    for shape in (single, batched):
        ingest_t, forwarder_t = _timings(w, shape.name)
        lines[shape.name] = model(shape, Inputs(ingest_t, forwarder_t, per_event, record_bytes), dep)
    a, b = lines["single"], lines["batched"]
    LAST.clear()
    for name, shape_lines in lines.items():
        ms = BILLED_MS[name]
        LAST[name] = Summary(
            total=_total(shape_lines),
            floor=_total(shape_lines, FLOOR),
            ingest_ms=ms["ingest"],
            forwarder_ms={d: ms[f"forwarder_{d}"] for d in DESTINATIONS},
        )

    out: list[Row] = []
    for key, label in COMPONENTS.items():
        out.append(_row(f"cost.{key}", label, a[key].dollars, b[key].dollars, f"(a) {a[key].how}; (b) {b[key].how}"))
    total_a, total_b = _total(a), _total(b)
    floor_a, floor_b = _total(a, FLOOR), _total(b, FLOOR)
    price = PRICES.lambda_gb_second(dep.architecture)
    ingest_10ms = {
        s.name: HITS / s.hits_per_request * _gb_s(10, dep.ingest_memory_mb) * price for s in (single, batched)
    }
    forwarder_10ms = {
        s.name: HITS
        / (dep.forwarder_batch_size * s.hits_per_request)
        * len(DESTINATIONS)
        * _gb_s(10, dep.forwarder_memory_mb)
        * price
        for s in (single, batched)
    }
    here = f"Python {sys.version_info[0]}.{sys.version_info[1]} on {platform.machine()}"
    out.append(
        _row(
            "cost.total",
            "total",
            total_a,
            total_b,
            (
                f"us-east-1 list prices, no free tier; {dep.architecture} Lambda at {dep.ingest_memory_mb} MB "
                f"(ingest) and {dep.forwarder_memory_mb} MB (forwarders), forwarder batches of "
                f"{dep.forwarder_batch_size} (template.yaml); durations are wall times measured on the local stack "
                f"({here}; {'--quick: small batches, not a measurement; ' if options.quick else ''}moto and capture "
                f"servers on loopback: a real SQS or DynamoDB call in-region can be faster or slower, GA4 and Meta "
                f"answer far slower than a capture server; moto alone takes {w.moto_sends_ms:.0f} ms to answer "
                f"ingest's {len(DESTINATIONS)} parallel sends from a bare client); each 10 ms more or less of waiting "
                f"per ingest invocation adds or saves "
                f"${ingest_10ms['single']:.3f} (a) / ${ingest_10ms['batched']:.5f} (b), per forwarder invocation "
                f"${forwarder_10ms['single']:.4f} (a) / ${forwarder_10ms['batched']:.5f} (b); Lambda runs Python "
                f"3.13 on {dep.architecture}; CloudWatch Logs, data transfer out, storage and Secrets Manager "
                f"not included"
            ),
        )
    )
    out.append(
        _row(
            "cost.floor",
            "floor (API Gateway, SQS sends, receives and deletes)",
            floor_a,
            floor_b,
            " + ".join(f"{COMPONENTS[k]} ${a[k].dollars:.4f} (a) / ${b[k].dollars:.4f} (b)" for k in FLOOR)
            + ": the least this design can cost, one send per receiving destination and its forwarder's receive "
            "and delete, no compute, no tables",
        )
    )
    out.append(
        _dollars_row(
            "cost.total_vs_floor",
            "single hits, total against the floor",
            total_a,
            floor_a,
            "(floor)",
            ceiling=TOTAL_VS_FLOOR_TARGET * floor_a,
            target=f"<= {TOTAL_VS_FLOOR_TARGET:g}x floor",
            note=(
                f"${total_a:.4f} / ${floor_a:.4f} = {total_a / floor_a:.2f}x; the target allows "
                f"{TOTAL_VS_FLOOR_TARGET:g} x ${floor_a:.4f} = ${TOTAL_VS_FLOOR_TARGET * floor_a:.4f}; "
                "above the floor: "
                + ", ".join(f"{COMPONENTS[k]} ${a[k].dollars:.4f}" for k in COMPONENTS if k not in FLOOR)
            ),
        )
    )
    out.append(
        _dollars_row(
            "cost.total_batched",
            f"{BATCH_HITS}-hit batches, total",
            total_b,
            floor_b,
            "(floor)",
            ceiling=BATCHED_TOTAL_TARGET,
            target=f"<= ${BATCHED_TOTAL_TARGET:.2f}",
            note=(
                " + ".join(f"${b[k].dollars:.4f}" for k in COMPONENTS)
                + f" = ${total_b:.4f} ({', '.join(COMPONENTS[k] for k in COMPONENTS)}); floor ${floor_b:.4f}"
            ),
        )
    )
    return out


def _dollars_row(
    key: str,
    label: str,
    value: float,
    baseline: float,
    baseline_label: str,
    *,
    note: str,
    ceiling: float | None = None,
    target: str = "informational",
) -> Row:
    """A figure in dollars per million hits against another, held to ``ceiling`` where one is given."""
    return Row(
        key=key,
        figure=f"AWS $ per 1M hits: {label}",
        value=value,
        unit="$",
        baseline=baseline,
        baseline_label=baseline_label,
        ratio=value / baseline if baseline else None,
        target=target,
        passed=None if ceiling is None else value <= ceiling,
        note=note,
    )


def _row(key: str, label: str, single: float, batched: float, note: str) -> Row:
    """Single hits (a) against 50-hit batches (b)."""
    return _dollars_row(
        key, label, single, batched, "(50-hit batches)", note=f"(a) ${single:.4f}, (b) ${batched:.4f}: {note}"
    )
