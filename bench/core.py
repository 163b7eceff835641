"""The bench's frame: options, rows, CPU timing against a baseline, the table.

A benchmark is a function ``(Options) -> list[Row]``; :data:`bench.runner.BENCHMARKS` lists them
in the order the table shows them. To add a figure, write such a function and append it there.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    rounds: int = 7
    quick: bool = False

    @property
    def round_seconds(self) -> float:
        """CPU time each round of a timing should last at least (longer rounds, less noise)."""
        return 0.002 if self.quick else 0.1

    @property
    def warmup_seconds(self) -> float:
        return 0.002 if self.quick else 0.2


@dataclass(frozen=True)
class Row:
    """One figure: a measured value, the baseline it is compared with, and the verdict.

    ``ratio`` is ``value / baseline`` (None when the baseline is zero). ``passed`` is None for a
    figure that is informational only.
    """

    key: str  # stable identifier, for tests and scripts
    figure: str  # what a reader sees
    value: float
    unit: str
    baseline: float
    baseline_label: str
    ratio: float | None
    target: str
    passed: bool | None
    note: str = ""


Benchmark = Callable[[Options], list[Row]]


def ratio(value: float, baseline: float) -> float | None:
    return value / baseline if baseline else None


@dataclass(frozen=True)
class Comparison:
    """CPU per call of a subject and its baseline, medians over the rounds, in nanoseconds."""

    subject_ns: float
    baseline_ns: float
    ratio: float  # median of the per-round ratios: robust against a machine that drifts
    rounds: int


def timed_row(
    key: str,
    figure: str,
    c: Comparison,
    *,
    baseline_label: str,
    note: str,
    per: int = 1,
    max_ratio: float | None = None,
    target: str = "informational",
    passed: bool | None = None,
) -> Row:
    """The row of a CPU timing: subject and baseline in µs per call, or per item where each call
    handles ``per`` of them (the hits of a batch), and the timing's own ratio. With ``max_ratio``
    the target is that ratio; else ``target`` and ``passed`` as given (informational by default)."""
    if max_ratio is not None:
        target, passed = f"<= {max_ratio:g}x", c.ratio <= max_ratio
    return Row(
        key=key,
        figure=figure,
        value=c.subject_ns / per / 1000,
        unit="µs",
        baseline=c.baseline_ns / per / 1000,
        baseline_label=baseline_label,
        ratio=c.ratio,
        target=target,
        passed=passed,
        note=note,
    )


def initialised() -> None:
    """What each handler module does once its initialisation is over (``gc.freeze()`` as its last
    statement): move every object that exists now to the collector's permanent generation.

    The in-process figures build their subject from ``fairtrack`` directly, without importing the
    handler module, so they call this where the subject is built, as the function does at the end
    of its import. Like the function's, it is not undone: later subjects in the same process start
    from a frozen heap, as a warm container does.
    """
    gc.freeze()


def _cpu_ns_per_call(fn: Callable[[], object], calls: int) -> float:
    gc.collect()
    start = time.process_time_ns()
    for _ in range(calls):
        fn()
    return (time.process_time_ns() - start) / calls


def _calls_for(fn: Callable[[], object], seconds: float) -> int:
    """Warm ``fn`` up and return how many calls take at least ``seconds`` of CPU."""
    calls = 1
    while True:
        start = time.process_time()
        for _ in range(calls):
            fn()
        if time.process_time() - start >= seconds:
            return calls
        calls *= 2


def compare(subject: Callable[[], object], baseline: Callable[[], object], options: Options) -> Comparison:
    """Time ``subject`` and ``baseline`` in alternate rounds (baseline first) after a warm-up.

    CPU time of this process (``time.process_time_ns``), not wall time: what a request costs a
    Lambda core, without the scheduler's noise. Garbage collection stays on (a real request pays
    for it) but starts each round from a collected heap.
    """
    _calls_for(subject, options.warmup_seconds)
    _calls_for(baseline, options.warmup_seconds)
    subject_calls = _calls_for(subject, options.round_seconds)
    baseline_calls = _calls_for(baseline, options.round_seconds)
    subjects: list[float] = []
    baselines: list[float] = []
    ratios: list[float] = []
    for _ in range(max(1, options.rounds)):
        b = _cpu_ns_per_call(baseline, baseline_calls)
        s = _cpu_ns_per_call(subject, subject_calls)
        baselines.append(b)
        subjects.append(s)
        ratios.append(s / b if b else 0.0)
    return Comparison(statistics.median(subjects), statistics.median(baselines), statistics.median(ratios), len(ratios))


def run(benchmarks: Sequence[Benchmark], options: Options) -> list[Row]:
    rows: list[Row] = []
    for benchmark in benchmarks:
        rows.extend(benchmark(options))
    return rows


def _number(value: float, unit: str) -> str:
    if unit == "µs":
        text = f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    elif float(value).is_integer():
        text = f"{value:,.0f}"
    else:
        text = f"{value:,.2f}"
    return f"{text} {unit}".rstrip()


def format_table(rows: Sequence[Row]) -> str:
    header = ("figure", "measured", "baseline", "ratio", "target", "result")
    lines = [
        (
            row.figure,
            _number(row.value, row.unit),
            f"{_number(row.baseline, row.unit)} {row.baseline_label}".strip(),
            "-" if row.ratio is None else f"{row.ratio:.2f}x",
            row.target,
            "-" if row.passed is None else ("PASS" if row.passed else "FAIL"),
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < len(cells) - 1 else c for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [fmt(header), fmt(["-" * w for w in widths])]
    out += [fmt(cells) for cells in lines]
    notes = [f"  {row.figure}: {row.note}" for row in rows if row.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)
