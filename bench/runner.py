"""The list of figures ``python -m bench`` prints, in table order. Add a benchmark here."""

from __future__ import annotations

from functools import wraps

from bench import coldstart, cost, forwarder, guards, ingest, useragent, walltime
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


# Regression guards (bench/guards.py): judged against bench/recorded.json, not a target.
GUARDED_INGEST = ("ingest.batch.cpu_per_hit",)
GUARDED_COLDSTART = tuple(
    f"coldstart.{s}.{m}" for s in ("ingest", "forwarder_ga4", "forwarder_lake") for m in ("bytecode", "source")
)


def _guarded(benchmark: Benchmark, keys: tuple[str, ...]) -> Benchmark:
    @wraps(benchmark)
    def run(options: Options) -> list[Row]:
        return guards.guarded(benchmark(options), keys)

    return run


BENCHMARKS: list[Benchmark] = [
    _kept(_guarded(ingest.batch_cpu, GUARDED_INGEST)),
    ingest.libraries_cpu,
    _kept(ingest.single_cpu),
    ingest.aws_calls,
    ingest.store_reads,
    ingest.anonymise_cpu,
    useragent.rows,
    _guarded(coldstart.rows, GUARDED_COLDSTART),
    forwarder.rows,  # also leaves its figures in bench.forwarder.LAST, for the cost model
    walltime.rows,  # also leaves its figures in bench.walltime.LAST, for the cost model
    _cost,
]
