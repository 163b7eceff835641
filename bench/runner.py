"""The list of figures ``python -m bench`` prints, in table order. Add a benchmark here."""

from __future__ import annotations

from bench import ingest, useragent
from bench.core import Benchmark

BENCHMARKS: list[Benchmark] = [
    ingest.batch_cpu,
    ingest.single_cpu,
    ingest.aws_calls,
    ingest.store_reads,
    ingest.anonymise_cpu,
    useragent.rows,
]
