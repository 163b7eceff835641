"""``python -m bench.scaling [--run]``: the tables of ``docs/scaling.md``, worked out from the bench.

The inputs are the cost model's figures per shape (single hits, 50-hit batches): the total and the
floor in dollars per million hits (rows ``cost.total``, ``cost.floor``) and the billed milliseconds
per invocation (notes of ``cost.ingest_duration`` and ``cost.forwarder_duration``, from the wall
times of ``walltime.*``). They are recorded in ``bench/recorded.json`` (``scaling``), so the doc
can be checked against them without a run; ``--run`` measures them afresh (the wall times and the
cost model, a few minutes) and prints the JSON to record with the tables.

Published quotas are constants here, each with the page that states it; nothing else is assumed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bench.forwarder import RECORDS_PER_BATCH
from bench.guards import RECORDED

RATE = 10_000  # hits per second, sustained
MONTHLY_RATES = (1_000, 10_000, 100_000)
SECONDS_PER_MONTH = 30 * 86_400  # a 30-day month
HITS_PER_BATCH_REQUEST = 50
DESTINATIONS = ("ga4", "meta", "webhook", "lake")
BEGIN, END = "<!-- bench.scaling:begin -->", "<!-- bench.scaling:end -->"

# Published defaults (AWS account and Region unless said otherwise), with the page stating each.
LAMBDA_CONCURRENCY = 1_000  # Lambda quotas: concurrent executions
HTTP_API_RPS = 10_000  # API Gateway quotas: HTTP API throttle, requests per second
DYNAMODB_TABLE_WRU = 40_000  # DynamoDB service quotas: on-demand table throughput, write units/s
DYNAMODB_NEW_TABLE_WRU = 4_000  # DynamoDB on-demand: initial throughput of a new table (warm throughput)
DYNAMODB_PARTITION_WRU = 1_000  # DynamoDB partitions: write units per second per partition
FIREHOSE_CALLS = 2_000  # Firehose API reference, PutRecordBatch: transactions/s per stream (region-dependent)
FIREHOSE_RECORDS = 5_000  # the same page: records/s per stream (higher in some regions)
SQS_BATCH = RECORDS_PER_BATCH  # template.yaml ForwarderBatchSize default
GA4_EVENTS_PER_REQUEST = 25  # Measurement Protocol: at most 25 events per request
META_EVENTS_PER_REQUEST = 1_000  # Conversions API: at most 1,000 events per request


@dataclass(frozen=True)
class Shape:
    """One way the hits arrive, as the cost model priced it."""

    name: str
    hits_per_request: int
    total: float  # $ per million hits (cost.total)
    floor: float  # $ per million hits (cost.floor)
    ingest_ms: int  # billed per request (cost.ingest_duration)
    forwarder_ms: Mapping[str, int]  # billed per batch, by destination (cost.forwarder_duration)


def shapes_from(doc: Mapping[str, Mapping[str, object]]) -> list[Shape]:
    out = []
    for name, hits in (("single", 1), ("batched", HITS_PER_BATCH_REQUEST)):
        s = doc[name]
        forwarder_ms = s["forwarder_ms"]
        assert isinstance(forwarder_ms, dict)
        out.append(
            Shape(
                name=name,
                hits_per_request=hits,
                total=float(str(s["total"])),
                floor=float(str(s["floor"])),
                ingest_ms=int(str(s["ingest_ms"])),
                forwarder_ms={d: int(forwarder_ms[d]) for d in DESTINATIONS},
            )
        )
    return out


def recorded() -> list[Shape]:
    return shapes_from(json.loads(RECORDED.read_text())["scaling"])


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or float(value).is_integer() else f"{value:,.1f}"


def load_table(shapes: Sequence[Shape], rate: int = RATE) -> str:
    """What each component sees at ``rate`` hits/s, for each shape, next to its default quota."""

    def requests(s: Shape) -> float:
        return rate / s.hits_per_request

    def batches(s: Shape) -> float:  # per destination
        return rate / (SQS_BATCH * s.hits_per_request)

    def ingest_concurrency(s: Shape) -> float:
        return requests(s) * s.ingest_ms / 1000

    def forwarder_concurrency(s: Shape) -> float:
        return batches(s) * sum(s.forwarder_ms.values()) / 1000

    def meta_requests(s: Shape) -> float:
        return batches(s) * math.ceil(SQS_BATCH * s.hits_per_request / META_EVENTS_PER_REQUEST)

    n = len(DESTINATIONS)
    rows: list[tuple[str, Callable[[Shape], float], str]] = [
        ("API Gateway requests/s = hits/s / hits per request", requests, f"{HTTP_API_RPS:,}/s"),
        ("ingest concurrency = requests/s x billed ms / 1,000", ingest_concurrency, "(in the sum below)"),
        (f"forwarder batches/s per destination = hits/s / ({SQS_BATCH} x hits per request)", batches, "-"),
        (
            f"forwarder concurrency, {n} destinations = batches/s x sum of billed ms / 1,000",
            forwarder_concurrency,
            "(in the sum below)",
        ),
        (
            "Lambda concurrency, all functions",
            lambda s: ingest_concurrency(s) + forwarder_concurrency(s),
            f"{LAMBDA_CONCURRENCY:,}",
        ),
        (f"SQS messages sent/s ({n} per request)", lambda s: n * requests(s), "standard queues: nearly unlimited"),
        (
            "GA4 claim writes, WRU/s (one per GA4 message)",
            requests,
            f"{DYNAMODB_TABLE_WRU:,}/table; new table {DYNAMODB_NEW_TABLE_WRU:,}; {DYNAMODB_PARTITION_WRU:,}/partition",
        ),
        (
            "Firehose records = PutRecordBatch calls/s, one stream",
            lambda s: n * batches(s),
            f"{FIREHOSE_CALLS:,} calls/s, {FIREHOSE_RECORDS:,} records/s per stream (region-dependent)",
        ),
        (
            f"GA4 requests/s, at least ({GA4_EVENTS_PER_REQUEST} events a request)",
            lambda s: rate / GA4_EVENTS_PER_REQUEST,
            "none published per property",
        ),
        (
            f"Meta requests/s (up to {META_EVENTS_PER_REQUEST:,} events a request, per batch)",
            meta_requests,
            "business-use-case limits, per app and ad account",
        ),
        ("webhook requests/s (one per message)", requests, "your endpoint's"),
    ]
    lines = [
        f"| at {rate:,} hits/s | single hits | {HITS_PER_BATCH_REQUEST}-hit batches | default quota |",
        "| --- | ---: | ---: | --- |",
        *(f"| {what} | {' | '.join(_n(f(s)) for s in shapes)} | {quota} |" for what, f, quota in rows),
    ]
    return "\n".join(lines)


def cost_table(shapes: Sequence[Shape]) -> str:
    lines = [
        "| hits/s | hits in a 30-day month | single hits | 50-hit batches |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for rate in MONTHLY_RATES:
        hits = rate * SECONDS_PER_MONTH
        cells = [f"{hits / 1e6:,.0f} M x ${s.total:.4f}/M = ${hits / 1e6 * s.total:,.0f}" for s in shapes]
        lines.append(f"| {rate:,} | {hits:,} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def inputs_table(shapes: Sequence[Shape]) -> str:
    lines = [
        "| input (bench row) | single hits | 50-hit batches |",
        "| --- | ---: | ---: |",
        "| $ per million hits (`cost.total`) | " + " | ".join(f"${s.total:.4f}" for s in shapes) + " |",
        "| floor, $ per million hits (`cost.floor`) | " + " | ".join(f"${s.floor:.4f}" for s in shapes) + " |",
        "| ingest billed ms per request (`cost.ingest_duration`) | "
        + " | ".join(str(s.ingest_ms) for s in shapes)
        + " |",
    ]
    for d in DESTINATIONS:
        lines.append(
            f"| {d} forwarder billed ms per batch (`cost.forwarder_duration`) | "
            + " | ".join(str(s.forwarder_ms[d]) for s in shapes)
            + " |"
        )
    return "\n".join(lines)


def tables(shapes: Sequence[Shape]) -> str:
    return "\n\n".join(
        [
            BEGIN,
            "Inputs, from `python -m bench` (recorded in `bench/recorded.json`):",
            inputs_table(shapes),
            "Load at 10,000 hits/s sustained, every hit to all four destinations:",
            load_table(shapes),
            "Cost per month (us-east-1 list prices, first tier, no free tier):",
            cost_table(shapes),
            END,
        ]
    )


def measured_doc() -> dict[str, dict[str, object]]:
    """Run the wall times and the cost model (bench.runner's order, the figures they need)."""
    from bench import cost
    from bench.core import Options

    cost.rows(Options())
    return {
        name: {"total": s.total, "floor": s.floor, "ingest_ms": s.ingest_ms, "forwarder_ms": s.forwarder_ms}
        for name, s in cost.LAST.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", action="store_true", help="measure the inputs afresh (minutes) instead of reading them"
    )
    args = parser.parse_args(argv)
    if args.run:
        doc = measured_doc()
        print(json.dumps({"scaling": doc}, indent=2), end="\n\n")
        print(tables(shapes_from(doc)))
    else:
        print(tables(recorded()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
