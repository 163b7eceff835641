"""The list of figures ``python -m bench`` prints, in table order. Add a benchmark here."""

from __future__ import annotations

from functools import wraps

from bench import coldstart, cost, forwarder, ingest, useragent
from bench.core import Benchmark, Options, Row

# The rows of the current run so far, by key: the cost model reads the CPU figures measured above it.
MEASURED: dict[str, Row] = {}


def _kept(benchmark: Benchmark) -> Benchmark:
    @wraps(benchmark)
    def run(options: Options) -> list[Row]:
        rows = benchmark(options)
        MEASURED.update((row.key, row) for row in rows)
        return rows

    return run


def _cost(options: Options) -> list[Row]:
    return cost.rows(options, MEASURED)


BENCHMARKS: list[Benchmark] = [
    _kept(ingest.batch_cpu),
    ingest.libraries_cpu,
    _kept(ingest.single_cpu),
    ingest.aws_calls,
    ingest.store_reads,
    ingest.anonymise_cpu,
    useragent.rows,
    coldstart.rows,
    forwarder.rows,  # also leaves its figures in bench.forwarder.LAST, for the cost model
    _cost,
]
