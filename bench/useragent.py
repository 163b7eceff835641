"""User-agent figures: what :func:`fairtrack.anonymise.useragent.reduce` costs cold, cached and uncached.

- first parse: a fresh interpreter (a subprocess, as a Lambda cold start) imports
  ``fairtrack.anonymise.useragent``, then reduces one user agent; the figure is the first ``reduce`` alone
  (import + first parse, minus the import), which is where ua-parser is imported and its rules
  compiled. CPU time of that process; median of a few interpreters.
- cached: ``reduce`` on user agents already in the cache (the usual case: the same few strings
  repeat), against the JSON floor of one hit.
- uncached: ``reduce`` cycling through more distinct user agents than the cache holds, so every
  call parses (and evicts), against the same floor.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench import events
from bench.core import Comparison, Options, Row, compare, timed_row
from bench.ingest import json_floor
from fairtrack.anonymise import useragent

FIRST_PARSE_MS_TARGET = 500.0  # CPU of the first reduce in a fresh process (ua-parser import + rules)
CACHED_RATIO_TARGET = 0.25  # a cached reduce, at most this share of a hit's JSON floor
UNCACHED_RATIO_TARGET = 4.0  # a full parse; the pure-Python resolver (~750 µs) would miss this by far
DISTINCT_USER_AGENTS = 10_000  # more than the cache holds: cycling through them, every call misses

# A realistic mix: desktop and mobile browsers, a tablet, a crawler.
_TEMPLATES = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{build}.{patch} Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{build}.{patch} Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{build}.{patch} Safari/537.36 Edg/{major}.0.{build}.{patch}",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{major}.0) Gecko/20100101 Firefox/{major}.{patch}",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{major}.{patch} Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{patch} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{major}.{patch} Mobile/15E{build} Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{build}.{patch} Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS {major}_{patch} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{major}.{patch} Mobile/15E{build} Safari/604.1",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{build}.{patch} Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)

# Runs in a fresh interpreter: the import, then the first reduce, each timed (CPU and wall).
_PROBE = """
import json, sys, time
c0, w0 = time.process_time_ns(), time.perf_counter_ns()
import fairtrack.anonymise.useragent as useragent
c1, w1 = time.process_time_ns(), time.perf_counter_ns()
useragent.reduce(sys.argv[1])
c2, w2 = time.process_time_ns(), time.perf_counter_ns()
print(json.dumps({"import": c1 - c0, "first": c2 - c1, "import_wall": w1 - w0, "first_wall": w2 - w1,
                  "resolver": useragent.resolver_name()}))
"""


def user_agents(n: int) -> list[str]:
    """``n`` distinct user agents from the templates (versions and builds vary, as in real traffic)."""
    out: list[str] = []
    for i in range(n):
        template = _TEMPLATES[i % len(_TEMPLATES)]
        k = i // len(_TEMPLATES)
        out.append(template.format(major=100 + k % 40, build=4000 + k // 40, patch=k % 97))
    return out


def _probe(user_agent: str) -> dict[str, float | str]:
    """One fresh interpreter's import and first-parse times, in nanoseconds."""
    layer = str(Path(useragent.__file__).resolve().parents[1])  # layers/common, where fairtrack lives
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (layer, os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run(  # noqa: S603 (our own interpreter, our own code)
        [sys.executable, "-c", _PROBE, user_agent], capture_output=True, text=True, env=env, check=True, timeout=60
    )
    result: dict[str, float | str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def first_parse(options: Options) -> list[Row]:
    ua = user_agents(1)[0]
    probes = [_probe(ua) for _ in range(1 if options.quick else max(1, min(options.rounds, 5)))]

    def median_ms(key: str) -> float:
        return statistics.median(float(p[key]) for p in probes) / 1e6

    first, imported = median_ms("first"), median_ms("import")
    return [
        Row(
            key="useragent.first_parse",
            figure="user agent: first parse in a fresh process",
            value=first,
            unit="ms",
            baseline=imported,
            baseline_label="(import fairtrack.anonymise.useragent)",
            ratio=None,
            target=f"<= {FIRST_PARSE_MS_TARGET:g} ms",
            passed=first <= FIRST_PARSE_MS_TARGET,
            note=(
                f"ua-parser import + rules compiled + one parse, CPU ({median_ms('first_wall'):.0f} ms wall); "
                f"resolver {probes[0]['resolver']}; median of {len(probes)} interpreters"
            ),
        )
    ]


def per_call(options: Options) -> list[Row]:
    body = events.single_track_body()

    def floor() -> None:
        json_floor(body)

    cached_uas = user_agents(len(_TEMPLATES))
    for ua in cached_uas:
        useragent.reduce(ua)  # in the cache before the timing
    cached_next = itertools.cycle(cached_uas).__next__
    cached = compare(lambda: useragent.reduce(cached_next()), floor, options)

    distinct = user_agents(DISTINCT_USER_AGENTS)
    assert len(distinct) > useragent.CACHE_SIZE, "the uncached figure needs more user agents than the cache holds"
    distinct_next = itertools.cycle(distinct).__next__
    hits_before, misses_before = useragent.cache_counts()
    uncached = compare(lambda: useragent.reduce(distinct_next()), floor, options)
    hits_after, misses_after = useragent.cache_counts()
    calls = (hits_after - hits_before) + (misses_after - misses_before)
    hit_rate = (hits_after - hits_before) / calls if calls else 0.0

    def row(kind: str, figure: str, c: Comparison, max_ratio: float, note: str) -> Row:
        return timed_row(
            f"useragent.{kind}_per_call",
            f"user agent: {figure} per call",
            c,
            baseline_label="(JSON floor, 1 hit)",
            max_ratio=max_ratio,
            note=f"{note}; median of {c.rounds} rounds",
        )

    cached_note = f"{len(cached_uas)} user agents already parsed"
    uncached_note = (
        f"{DISTINCT_USER_AGENTS:,} distinct user agents cycled through a {useragent.CACHE_SIZE:,}-entry "
        f"cache (hit rate {hit_rate:.0%}); resolver {useragent.resolver_name()}"
    )
    return [
        row("cached", "cached reduce", cached, CACHED_RATIO_TARGET, cached_note),
        row("uncached", "uncached parse", uncached, UNCACHED_RATIO_TARGET, uncached_note),
    ]


def rows(options: Options) -> list[Row]:
    """Every user-agent figure, in table order."""
    return [*first_parse(options), *per_call(options)]
