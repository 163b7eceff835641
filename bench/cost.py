"""What a million hits cost on AWS: a model fed with the CPU figures measured in the same run.

Two ways the same million hits arrive, each delivered to all four destinations (every hit grants
analytics and advertising): (a) one hit per request (``POST /v1/track``), (b) 50 hits per request
(``POST /v1/batch``, as analytics.js batches). Each row is one billed component, its cost per
million hits for (a) as the measured value and for (b) as the baseline; the ratio says how many
times batching saves. The notes give each row's arithmetic.

Inputs measured in this run: ingest CPU per single-hit request and per hit of a 50-hit batch
(:mod:`bench.ingest`), forwarder CPU per event for each destination (:mod:`bench.forwarder`),
and the bytes of the requests and of the queue messages ingest writes for them (the real ingest,
here). Taken from ``template.yaml``: memory size and architecture of the functions, the
forwarders' SQS batch size. Prices: AWS list prices for us-east-1 (``aws-python-notes.md`` gives
none), first pricing tier, no free tier. Model assumptions (also printed in the notes):

- Lambda duration is CPU time only: what was measured here, plus :data:`SDK_CALL_CPU_US` per
  boto3 call (``aws-python-notes.md`` measured it for an SQS ``SendMessage``; used for every AWS
  call), stretched by the CPU share Lambda gives the memory size (one vCPU at 1,769 MB), rounded
  up to the millisecond per invocation. Waiting on the network (SQS, DynamoDB, S3, GA4, Meta, the
  webhook) is *not* in it, nor the handler's own overhead (Powertools resolver, event parsing, EMF
  flush) or cold starts: a lower bound (the notes give what each 10 ms of waiting adds).
- Forwarder batches are full (the template's batch size, sustained traffic); SQS's receive
  returns at most 10 messages per call, each call and each send billed per 64 KB chunk; one
  ``DeleteMessageBatch`` per 10 messages; idle long polling is a per-queue cost, not per hit.
- The delivery ledger reads every event's key with a strongly consistent ``BatchGetItem`` (one
  read unit per key, found or not) and writes one item (under 1 KB: one write unit) per event.
- The lake writes one object per forwarder batch (one day, one source); the decision log one per
  forwarder batch and destination (when ``DECISION_LOG_BUCKET`` is set, as the audit expects).
- Not modelled: CloudWatch Logs and metrics, data transfer out to GA4/Meta/the webhook, S3 and
  DynamoDB storage, Secrets Manager, KMS, API Gateway access logs.
"""

from __future__ import annotations

import json
import math
import platform
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench import events, forwarder, ingest
from bench.core import Options, Row
from bench.fakes import REPO, quiet
from fairtrack.hit import iso
from fairtrack.ingest import Ingestor
from fairtrack.settings import DESTINATIONS, Destination

TEMPLATE = REPO / "template.yaml"
HITS = 1_000_000
BATCH_HITS = 50  # hits per request in the batched case, as bench.ingest measures it
SDK_CALL_CPU_US = 465.0  # one boto3 call's CPU (aws-python-notes.md: SQS send_message)
FULL_VCPU_MB = 1769  # Lambda memory size that gets one full vCPU; CPU share scales with memory
SQS_MESSAGES_PER_RECEIVE = 10
SQS_MESSAGES_PER_DELETE = 10
LEDGER_KEYS_PER_GET = 100  # fairtrack.ledger: BatchGetItem chunk
LEDGER_ITEMS_PER_WRITE = 25  # fairtrack.ledger: BatchWriteItem chunk


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

    def lambda_gb_second(self, architecture: str) -> float:
        return self.lambda_gb_second_arm64 if architecture == "arm64" else self.lambda_gb_second_x86_64


PRICES = Prices()


class _CfnLoader(yaml.SafeLoader):
    """Reads a CloudFormation template: intrinsic tags (``!Ref``...) become plain values."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    return None


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Deployment:
    """What the template says about the functions that a hit passes through."""

    ingest_memory_mb: int
    forwarder_memory_mb: int
    architecture: str
    forwarder_batch_size: int


def deployment(path: Path = TEMPLATE) -> Deployment:
    doc = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 (a SafeLoader subclass)
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


def _billed_ms(cpu_us: float, memory_mb: int) -> int:
    """Billed milliseconds of one invocation whose only duration is ``cpu_us`` of one core's CPU."""
    return max(1, math.ceil(cpu_us / 1000 * FULL_VCPU_MB / memory_mb))


def _gb_s(ms: float, memory_mb: int) -> float:
    return ms / 1000 * memory_mb / 1024


def _chunks(size: int, chunk: int) -> int:
    return max(1, math.ceil(size / chunk))


def model(
    shape: Shape, forwarder_us_per_event: Mapping[Destination, float], dep: Deployment, prices: Prices = PRICES
) -> dict[str, Line]:
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

    ingest_cpu = shape.ingest_cpu_us + sends * SDK_CALL_CPU_US
    ingest_ms = _billed_ms(ingest_cpu, dep.ingest_memory_mb)

    receive_calls = math.ceil(b / SQS_MESSAGES_PER_RECEIVE)
    delete_calls = math.ceil(b / SQS_MESSAGES_PER_DELETE)
    receive_billed = {
        d: max(receive_calls, _chunks(b * shape.message_bytes[d], p.sqs_chunk_bytes)) for d in DESTINATIONS
    }
    ledger_gets = math.ceil(events_per_batch / LEDGER_KEYS_PER_GET)
    ledger_writes = math.ceil(events_per_batch / LEDGER_ITEMS_PER_WRITE)
    forwarder_ms: dict[Destination, int] = {}
    for d in DESTINATIONS:
        calls = ledger_gets + ledger_writes + 1 + (1 if d == "lake" else 0)  # + decision log (+ lake object)
        cpu = events_per_batch * forwarder_us_per_event[d] + calls * SDK_CALL_CPU_US
        forwarder_ms[d] = _billed_ms(cpu, dep.forwarder_memory_mb)
    forwarder_gb_s = sum(batches * _gb_s(forwarder_ms[d], dep.forwarder_memory_mb) for d in DESTINATIONS)

    def ms_list(values: Mapping[Destination, int]) -> str:
        return "/".join(str(values[d]) for d in DESTINATIONS)

    return {
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
            f"({shape.ingest_cpu_us:,.0f} µs measured, bench hits without a Meta message, + {sends} x "
            f"{SDK_CALL_CPU_US:g} µs SendMessage) CPU"
            f" x {FULL_VCPU_MB}/{dep.ingest_memory_mb} MB = {ingest_ms} ms billed per invocation",
        ),
        "sqs_send": Line(
            requests * send_chunks * p.sqs_per_million * per_m,
            f"{requests:,.0f} x {sends} SendMessage, {send_chunks} billed 64 KB chunks per request "
            f"(messages {'/'.join(f'{shape.message_bytes[d]:,}' for d in DESTINATIONS)} B)",
        ),
        "sqs_receive": Line(
            batches * sum(receive_billed[d] + delete_calls for d in DESTINATIONS) * p.sqs_per_million * per_m,
            f"{batches:,.0f} batches of {b} messages per destination x ({ms_list(receive_billed)} billed receives"
            f" + {delete_calls} DeleteMessageBatch)",
        ),
        "forwarder_requests": Line(
            batches * dests * p.lambda_requests_per_million * per_m,
            f"{batches:,.0f} invocations x {dests} destinations x ${p.lambda_requests_per_million:g}/M",
        ),
        "forwarder_duration": Line(
            forwarder_gb_s * gb_s_price,
            f"{events_per_batch:,} events per batch x measured µs per event + {ledger_gets} BatchGetItem + "
            f"{ledger_writes} BatchWriteItem + puts x {SDK_CALL_CPU_US:g} µs, x {FULL_VCPU_MB}/"
            f"{dep.forwarder_memory_mb} MB: {ms_list(forwarder_ms)} ms billed per batch",
        ),
        "ledger_reads": Line(
            h * dests * p.dynamodb_read_units_per_million * per_m,
            f"{h * dests:,.0f} consistent reads (1 RRU each) x ${p.dynamodb_read_units_per_million:g}/M; "
            f"{ledger_gets} BatchGetItem per batch",
        ),
        "ledger_writes": Line(
            h * dests * p.dynamodb_write_units_per_million * per_m,
            f"{h * dests:,.0f} items (1 WRU each) x ${p.dynamodb_write_units_per_million:g}/M; "
            f"{ledger_writes} BatchWriteItem per batch",
        ),
        "lake_puts": Line(
            batches * p.s3_put_per_thousand / 1000,
            f"{batches:,.0f} objects (one per batch) x ${p.s3_put_per_thousand:g}/1,000",
        ),
        "decision_log_puts": Line(
            batches * dests * p.s3_put_per_thousand / 1000,
            f"{batches * dests:,.0f} objects (one per batch and destination) x ${p.s3_put_per_thousand:g}/1,000",
        ),
    }


COMPONENTS = {
    "api": "API Gateway HTTP API requests",
    "ingest_requests": "Lambda ingest requests",
    "ingest_duration": "Lambda ingest duration",
    "sqs_send": "SQS SendMessage",
    "sqs_receive": "SQS receive + delete (forwarders)",
    "forwarder_requests": "Lambda forwarder requests",
    "forwarder_duration": "Lambda forwarder duration",
    "ledger_reads": "DynamoDB ledger reads",
    "ledger_writes": "DynamoDB ledger writes",
    "lake_puts": "S3 PUTs, lake",
    "decision_log_puts": "S3 PUTs, decision log",
}


def _measured(
    measured: Mapping[str, Row], key: str, benchmark: Callable[[Options], list[Row]], options: Options
) -> float:
    """A CPU figure from the rows of this run; measured here when the run did not have it."""
    if key not in measured:
        measured = {**measured, **{row.key: row for row in benchmark(options)}}
    return measured[key].value


def rows(options: Options, measured: Mapping[str, Row] | None = None) -> list[Row]:
    measured = measured or {}
    dep = deployment()
    single_us = _measured(measured, "ingest.single.cpu_per_request", ingest.single_cpu, options)
    batch_us = _measured(measured, "ingest.batch.cpu_per_hit", ingest.batch_cpu, options)
    figures = dict(forwarder.LAST) or forwarder.measure_all(options)
    per_event = {d: f.cpu_ns_per_record * f.records / f.events / 1000 for d, f in figures.items()}
    single, batched = shapes(single_us, batch_us)
    a, b = model(single, per_event, dep), model(batched, per_event, dep)

    out: list[Row] = []
    for key, label in COMPONENTS.items():
        out.append(_row(f"cost.{key}", label, a[key].dollars, b[key].dollars, f"(a) {a[key].how}; (b) {b[key].how}"))
    total_a = sum(line.dollars for line in a.values())
    total_b = sum(line.dollars for line in b.values())
    wait_10ms = {
        s.name: HITS / s.hits_per_request * _gb_s(10, dep.ingest_memory_mb) * PRICES.lambda_gb_second(dep.architecture)
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
                f"{dep.forwarder_batch_size} (template.yaml); CPU measured here ({here}), Lambda runs Python 3.13 "
                f"on {dep.architecture}; duration counts CPU only: each 10 ms of waiting per ingest invocation "
                f"adds ${wait_10ms['single']:.3f} (a) / ${wait_10ms['batched']:.5f} (b); CloudWatch Logs, data "
                f"transfer out, storage and Secrets Manager not included"
            ),
        )
    )
    return out


def _row(key: str, label: str, single: float, batched: float, note: str) -> Row:
    return Row(
        key=key,
        figure=f"AWS $ per 1M hits: {label}",
        value=single,
        unit="$",
        baseline=batched,
        baseline_label="(50-hit batches)",
        ratio=single / batched if batched else None,
        target="informational",
        passed=None,
        note=f"(a) ${single:.4f}, (b) ${batched:.4f}: {note}",
    )
