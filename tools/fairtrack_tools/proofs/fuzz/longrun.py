"""The long run: Hypothesis or atheris for a number of seconds, the figures, failing events kept."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import seed as hypothesis_seed

from fairtrack_tools.proofs.fuzz.harness import Harness, Outcome, problems
from fairtrack_tools.proofs.fuzz.wire import FuzzRequest, requests

# -- the long run -----------------------------------------------------------------------------------------


@dataclass
class Figures:
    started: float = field(default_factory=time.monotonic)
    requests: int = 0
    statuses: Counter[int | None] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    chaos: Counter[int] = field(default_factory=Counter)
    max_depth: int = 0
    max_body: int = 0
    exceptions: int = 0
    server_errors: int = 0
    leaks: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # signature -> count
    known: dict[str, str] = field(default_factory=dict)  # signature -> known bug key

    def add(self, request: FuzzRequest, outcome: Outcome, found: list[str]) -> str | None:
        """Count one request; the failure's signature when it is a new one."""
        self.requests += 1
        self.statuses[outcome.status] += 1
        self.routes[request.route] += 1
        self.notes[request.note] += 1
        self.chaos[request.chaos] += 1
        self.max_depth = max(self.max_depth, request.depth)
        self.max_body = max(self.max_body, len(request.event.get("body") or ""))
        if outcome.raised or outcome.unexpected:
            self.exceptions += 1
        if outcome.status is not None and outcome.status >= 500:
            self.server_errors += 1
        if any("planted secret" in f for f in found):
            self.leaks += 1
        if not found:
            return None
        signature = failure_signature(found)
        new = signature not in self.failures
        self.failures[signature] += 1
        bug = known_bug(found)
        if bug is not None:
            self.known[signature] = bug.key
        return signature if new else None

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def report(self) -> str:
        elapsed = time.monotonic() - self.started
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items(), key=lambda kv: str(kv[0])))
        busiest = ", ".join(f"{r}: {c}" for r, c in self.routes.most_common(8))
        lines = [
            f"requests run:      {self.requests} in {elapsed:.1f} s ({self.requests / max(elapsed, 1e-9):.0f}/s)",
            f"distinct statuses: {len(self.statuses)} ({statuses})",
            f"routes:            {len(self.routes)} (busiest: {busiest})",
            f"body transports:   {dict(self.notes.most_common())}",
            f"chaos levels:      {dict(sorted(self.chaos.items()))} (0 clean, 1 one to three defects, 2 wild)",
            f"max depth reached: {self.max_depth}",
            f"largest body:      {self.max_body} characters",
            f"exceptions:        {self.exceptions}",
            f"5xx answers:       {self.server_errors}",
            f"secrets echoed:    {self.leaks}",
            f"distinct failures: {len(self.failures)}",
        ]
        for signature, count in self.failures.most_common():
            label = f" [known: {self.known[signature]}]" if signature in self.known else " [NEW]"
            lines.append(f"  {count:6d} x {signature}{label}")
        return "\n".join(lines)


def failure_signature(found: list[str]) -> str:
    """One line naming a failure: the exception and the innermost fairtrack frame (and the innermost
    frame, when it is elsewhere) of a traceback, or the problem's first line."""
    text = found[0]
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', text)
    if not frames:
        return text.splitlines()[0][:200]
    last = text.strip().splitlines()[-1][:120]
    ours = [f for f in frames if "/fairtrack/" in f[0] or "/functions/" in f[0]]
    where = [ours[-1]] if ours else []
    if frames[-1] not in where:
        where.append(frames[-1])
    return f"{last} at " + " via ".join(f"{Path(file).name}:{line} ({func})" for file, line, func in where)


@dataclass(frozen=True)
class KnownBug:
    """A failure already reported, with its xfail(strict) test in tests/fuzz: the short CI run lets
    it pass (and counts it), the long run still reports it as a failure."""

    key: str
    summary: str
    markers: tuple[str, ...]  # all of them appear in the failure's text

    def matches(self, problem: str) -> bool:
        return all(marker in problem for marker in self.markers)


# Bugs this fuzzer found are fixed and pinned by tests in tests/fuzz (RudderStack consent ids that
# are not lists, gtag page URLs urllib cannot split, U+FFFE/U+FFFF on the way to SQS, unencodable
# headers in consent receipts, direct invokes without the request context). A newly found, not yet
# fixed bug is listed here while its test is marked xfail(strict=True).
KNOWN_BUGS: tuple[KnownBug, ...] = ()


def known_bug(found: list[str]) -> KnownBug | None:
    """The known bug every problem in ``found`` is, if there is one (the 500 an unhandled exception
    was answered with goes with the exception)."""
    if any(p.startswith("unhandled exception") for p in found):
        found = [p for p in found if not p.startswith("status 500")]
    bugs = {next((b for b in KNOWN_BUGS if b.matches(p)), None) for p in found}
    return bugs.pop() if len(bugs) == 1 and None not in bugs else None


class LongRun:
    """The long form: requests from :func:`requests` until the time is up, figures counted, one
    event per distinct failure written to ``artifacts``."""

    def __init__(self, seconds: float, artifacts: Path) -> None:
        self.seconds = seconds
        self.artifacts = artifacts
        self.figures = Figures()
        self.harness = Harness()
        self.deadline = 0.0

    def begin(self) -> None:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.figures.started = time.monotonic()
        self.deadline = self.figures.started + self.seconds

    def one(self, request: FuzzRequest) -> None:
        outcome = self.harness.run(request)
        found = problems(outcome)
        figures = self.figures
        signature = figures.add(request, outcome, found)
        if signature is not None:
            name = self.artifacts / f"failure-{len(figures.failures):03d}.json"
            name.write_text(json.dumps({"problems": found, "route": request.route, "event": request.event}, indent=1))
            print(f"FAILURE {signature}\n  {request.route} ({request.note}), event saved as {name}", flush=True)
        if figures.requests % 1000 == 0:
            print(f"... {figures.requests} requests, {len(figures.failures)} distinct failures", flush=True)

    def finish(self) -> int:
        print(self.figures.report(), flush=True)
        if self.figures.failed:
            print(f"one failing event per distinct failure written to {self.artifacts}/", flush=True)
        return 1 if self.figures.failed else 0


def _per_round() -> Callable[[Callable[..., None]], Callable[..., None]]:
    from hypothesis import HealthCheck, Phase, settings

    # Hypothesis keeps what it learnt about a test's inputs in memory: rounds of a bounded size keep
    # a long run's memory flat
    made: Callable[[Callable[..., None]], Callable[..., None]] = settings(
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
        max_examples=1000,
    )
    return made


def run_hypothesis(run: LongRun, seed: int | None) -> int:
    """Rounds of 1000 random requests (each round its own seed) until the time is up."""
    from hypothesis import given
    from hypothesis.errors import HypothesisWarning

    warnings.filterwarnings("ignore", category=HypothesisWarning)  # "overly large repr": huge bodies are the point

    run.harness.start()
    run.begin()
    rounds = 0
    try:
        while time.monotonic() < run.deadline:

            @_per_round()
            @given(requests())
            def round_(request: FuzzRequest) -> None:
                run.one(request)
                if time.monotonic() > run.deadline:
                    raise _TimeUp

            if seed is not None:
                round_ = hypothesis_seed(seed + rounds)(round_)
            rounds += 1
            with contextlib.suppress(_TimeUp):
                round_()
    finally:
        run.harness.stop()
    return run.finish()


def run_atheris(run: LongRun, extra: list[str]) -> int:
    """libFuzzer (atheris) mutates the bytes Hypothesis draws its choices from, keeping the inputs
    that reach new code in fairtrack (instrumented as it is imported)."""
    from hypothesis import given

    atheris: Any = importlib.import_module("atheris")  # optional: pip install atheris

    @_per_round()
    @given(requests())
    def target(request: FuzzRequest) -> None:
        run.one(request)
        if time.monotonic() > run.deadline:
            code = run.finish()
            run.harness.stop()
            os._exit(code)  # libFuzzer never returns: leave with the figures printed

    with atheris.instrument_imports(include=["fairtrack"]):
        run.harness.start()
    run.begin()
    argv = [
        sys.argv[0],
        f"-max_total_time={int(run.seconds) + 120}",
        "-rss_limit_mb=6144",
        "-max_len=65536",
        "-len_control=0",
        *extra,
    ]
    atheris.Setup(argv, target.hypothesis.fuzz_one_input)  # type: ignore[attr-defined]
    atheris.Fuzz()
    return run.finish()  # not reached: libFuzzer exits the process


def long_run(seconds: float, *, use_atheris: bool, artifacts: Path, seed: int | None, extra: list[str]) -> int:
    """Fuzz for ``seconds``; print the figures; 1 on any failure (known bugs included), else 0."""
    run = LongRun(seconds, artifacts)
    return run_atheris(run, extra) if use_atheris else run_hypothesis(run, seed)


class _TimeUp(Exception):  # a signal, not an error
    pass
