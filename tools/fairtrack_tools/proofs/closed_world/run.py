"""The closed-world run: send, drain, collect every surface, search it, and judge coverage and leaks."""

from __future__ import annotations

import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fairtrack_tools.proofs.canary_report import FILLED_SURFACES, collect_surfaces
from fairtrack_tools.proofs.closed_world.places import (
    BATCH,
    GTAG,
    HEADER,
    KEY,
    SEGMENT,
    Place,
)
from fairtrack_tools.proofs.closed_world.registry import Plant, search
from fairtrack_tools.proofs.closed_world.workload import Workload
from fairtrack_tools.proofs.evidence import Evidence, send_and_collect
from fairtrack_tools.proofs.faults import FaultPlan
from fairtrack_tools.proofs.report import Check, text_table
from fairtrack_tools.proofs.stack import open_stack
from fairtrack_tools.proofs.traffic import POLICY_FILE


@dataclass(frozen=True)
class Leak:
    kind: str
    place: str
    surface: str
    plant: Plant
    where: str  # the text around the find


def format_allowance() -> Callable[[Place | None, Plant], bool] | None:
    """``admits(place, plant)`` when the catalogue declares formats and the layer can check them."""
    try:
        from fairtrack.anonymise import formats  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return None
    admits = getattr(formats, "admits", None)
    from fairtrack_tools.ops import policy_ops

    attributes = policy_ops.load_policy_file(POLICY_FILE).get("attributes", {})
    declared = {path: a.get("format") for path, a in attributes.items() if isinstance(a, dict) and a.get("format")}
    if admits is None or not declared:
        return None

    def allowed(place: Place | None, plant: Plant) -> bool:
        if place is None:
            return False
        path = place.hit_path or (".".join(place.path) if place.protocol in (SEGMENT, BATCH) else None)
        if place.protocol == HEADER and place.path[0] == "user-agent":
            path = "context.userAgent"  # where ingest puts the request's user agent
        elif path is None and place.protocol == GTAG:  # a key of the client's choosing: its object
            head = place.path[0]
            if head.startswith(("ep.", "epn.")) or head.startswith("pr"):
                path = "properties"
            elif head.startswith(("up.", "upn.")):
                path = "context.traits"
        if path is None:
            return False
        as_key = KEY in path or any(KEY in part for part in place.path)
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            fmt = declared.get(".".join(parts[:end]))
            if not fmt:
                continue
            if fmt == "map":  # a free-form object: its keys are `key`s, its values `text` or numbers
                if as_key:
                    return bool(admits("key", plant.value))
                leaf = "text" if isinstance(plant.value, str) else "number"
                return bool(admits(leaf, plant.value))
            if "<" in path:  # an unknown key under a closed object: nothing admits it
                return False
            return bool(admits(fmt, plant.value))
        return False

    return allowed


def destination_of(surface: str) -> str:
    for name in ("ga4", "meta", "webhook"):
        if surface.startswith(name):
            return name
    if surface.startswith("lake"):
        return "lake"
    if surface.startswith(("queue", "DLQ")):
        return "queues"
    if "log" in surface or "metric" in surface or "stderr" in surface:
        return "logs"
    if "answers" in surface:
        return "answers"
    return "stores"


@dataclass
class Report:
    places: list[Place]
    planted_places: set[str]
    valid_places: set[str]
    plants_sent: Counter[str]  # kind -> values found in the requests that carried them
    states: dict[str, Counter[str]]  # state -> outcome -> hits
    hits: int
    requests: int
    timings: dict[str, float]
    surfaces: dict[str, tuple[int, int]]
    leaks: list[Leak]
    admitted: list[Leak]
    checks: list[Check]
    state_of_hit: dict[int, str] = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        return len(self.planted_places) / max(1, len(self.places))

    @property
    def ok(self) -> bool:
        return not self.leaks and self.coverage == 1.0 and all(c.ok for c in self.checks)

    def leak_rows(self, leaks: list[Leak] | None = None) -> list[tuple[str, str, str, int, Leak]]:
        by: dict[tuple[str, str, str], list[Leak]] = defaultdict(list)
        for leak in self.leaks if leaks is None else leaks:
            by[(leak.kind, leak.place, leak.surface)].append(leak)
        rows = [(k, p, s, len({id(x.plant) for x in found}), found[0]) for (k, p, s), found in by.items()]
        return sorted(rows, key=lambda r: (-r[3], r[1], r[0], r[2]))

    def render(self, max_rows: int | None = None) -> str:
        per = Counter(p.protocol for p in self.places)
        out = [
            f"closed-world canaries: {self.hits} hits in {self.requests} requests; "
            + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()),
            f"coverage: {len(self.planted_places)} places planted / {len(self.places)} places the models accept "
            f"({100 * self.coverage:.1f}%; "
            + ", ".join(f"{k} {v}" for k, v in sorted(per.items()))
            + f"); {len(self.valid_places)} of them in a hit the adapter accepts",
            f"kinds planted ({len(self.plants_sent)}): "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.plants_sent.items())),
            "",
        ]
        out += text_table(
            ("consent state", "hits", "refused"),
            [(s, str(c["hits"]), str(c["refused"])) for s, c in sorted(self.states.items())],
        )
        out.append("")
        per_surface = Counter(leak.surface for leak in self.leaks)
        out += text_table(
            ("surface searched", "items", "size", "leaks"),
            [(n, str(i), f"{b / 1e6:.1f} MB", str(per_surface[n])) for n, (i, b) in self.surfaces.items()],
        )
        out.append("")
        leaked_pairs = {(x.kind, x.place) for x in self.leaks}
        out.append(
            f"LEAKS: {len(self.leaks)} finds of {len({id(x.plant) for x in self.leaks})} planted values; "
            f"{len(leaked_pairs)} kind-by-place pairs, {len({x.place for x in self.leaks})} places"
        )
        if self.leaks:
            dests = ("ga4", "meta", "webhook", "lake", "queues", "stores", "logs", "answers")
            grid: dict[str, Counter[str]] = defaultdict(Counter)
            for leak in self.leaks:
                grid[self.state_of_hit.get(leak.plant.hit, "?")][destination_of(leak.surface)] += 1
            out.append("leaked values by consent state and where they were found:")
            out += text_table(
                ("consent state", *dests), [(s, *(str(c[d]) for d in dests)) for s, c in sorted(grid.items())]
            )
            out.append("")
            by_place: dict[str, list[Leak]] = defaultdict(list)
            for leak in self.leaks:
                by_place[leak.place].append(leak)
            out.append("leaks by place (kinds that leaked there, and where):")
            out += text_table(
                ("place", "kinds", "values", "reached"),
                [
                    (
                        place,
                        str(len({x.kind for x in found})),
                        str(len({id(x.plant) for x in found})),
                        ", ".join(sorted({destination_of(x.surface) for x in found})),
                    )
                    for place, found in sorted(by_place.items(), key=lambda kv: -len(kv[1]))
                ],
            )
            out.append("")
            rows = self.leak_rows()
            out.append(
                f"leaks by (kind, place, surface): {len(rows)} rows"
                + (f", first {max_rows}" if max_rows and len(rows) > max_rows else "")
            )
            out += text_table(
                ("kind", "planted in", "surface", "values", "first example"),
                [
                    (k, p, s.split(" (")[0], str(n), f"{x.plant.value[:40]!r} ...{x.where[:90]}...")
                    for k, p, s, n, x in rows[:max_rows]
                ],
            )
            out.append("")
        if self.admitted:
            out.append(f"admitted by format (not leaks): {len(self.admitted)} finds")
            out += text_table(
                ("kind", "planted in", "surface", "values", "first example"),
                [
                    (k, p, s.split(" (")[0], str(n), repr(x.plant.value[:40]))
                    for k, p, s, n, x in self.leak_rows(self.admitted)
                ],
            )
            out.append("")
        out.append("checks:")
        out += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}" + (f": {c.detail}" if c.detail else "") for c in self.checks]
        return "\n".join(out)


SHORT_FAULTS = FaultPlan(rate=0.15, mix=(("http_500", 0.35), ("http_429", 0.25), ("permanent", 0.40)), seed=5)


def run_closed_world(
    hits: int,
    *,
    seed: int = 17,
    faults: FaultPlan = SHORT_FAULTS,
    visibility_seconds: int = 2,
    drain_timeout: float = 600.0,
    concurrency: int = 4,
    log_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    say = progress or (lambda _: None)
    timings: dict[str, float] = {}
    started = time.monotonic()
    work = Workload(hits, seed)
    timings["workload"] = time.monotonic() - started
    say(
        f"workload: {len(work.hits)} hits, {len(work.reg.plants)} values in {len(work.places)} places, "
        f"{len(work.requests)} requests"
    )
    with contextlib.ExitStack() as exits:
        stack = open_stack(
            exits,
            log_dir,
            "closed-world",
            faults=faults,
            parameters={"TrustedProxy": "hops:1"},  # X-Forwarded-For's last entry is the visitor
            visibility_seconds=visibility_seconds,
            tap=True,
        )
        drained, evidence, mark = send_and_collect(
            stack, work.requests, concurrency=concurrency, drain_timeout=drain_timeout, timings=timings, say=say
        )
        surfaces = collect_surfaces(stack, evidence, work.requests)
        injected = dict(stack.proxy.stats)
    say("searching")
    return judge(
        work,
        surfaces=surfaces,
        evidence=evidence,
        drained=drained,
        injected=injected,
        timings=timings,
        mark=mark,
        started=started,
    )


def judge(
    work: Workload,
    *,
    surfaces: dict[str, list[str]],
    evidence: Evidence | None,
    drained: bool,
    injected: dict[str, Counter[str]],
    timings: dict[str, float],
    mark: float,
    started: float,
) -> Report:
    places = {p.name: p for p in work.places}
    allowance = format_allowance()
    leaks: list[Leak] = []
    admitted: list[Leak] = []
    for name, texts in surfaces.items():
        for text in texts:
            for find in search(work.reg, text):
                at = text.find(find.matched)
                leak = Leak(
                    find.plant.kind,
                    find.plant.place,
                    name,
                    find.plant,
                    text[max(0, at - 60) : at + 60].replace("\n", " "),
                )
                if allowance is not None and allowance(places.get(find.plant.place), find.plant):
                    admitted.append(leak)
                else:
                    leaks.append(leak)
    timings["search"] = time.monotonic() - mark
    refused_requests = {h.request for h in work.hits if h.refused}
    planted: set[str] = set()
    valid: set[str] = set()
    kinds: Counter[str] = Counter()
    for index, carried in enumerate(work.carried):
        for plant in carried:
            planted.add(plant.place)
            kinds[plant.kind] += 1
            if index not in refused_requests and 200 <= work.requests[index].status < 300:
                valid.add(plant.place)
    states: dict[str, Counter[str]] = defaultdict(Counter)
    for h in work.hits:
        states[h.state]["hits"] += 1
        states[h.state]["refused"] += 1 if h.refused else 0
    refused_by = {id(work.requests[h.request]): h.refused or "" for h in work.hits if h.refused}
    wrong = [r for r in work.requests if not (400 <= r.status < 500 if r.expect_status else 200 <= r.status < 300)]
    permanent = sum(c["permanent"] for c in injected.values())
    should_hold = [*FILLED_SURFACES, *(["failed-events store objects"] if permanent else [])]
    empty = [s for s in should_hold if not surfaces.get(s)]
    checks = [
        Check("drained within the time limit", drained),
        Check(
            f"every place derived is planted ({len(work.places)} places)",
            len(planted) == len(work.places),
            ", ".join(sorted(set(places) - planted))[:300],
        ),
        Check(
            "every consent state the policy distinguishes has hits",
            all(states[s.label]["hits"] for s in work.states),
            ", ".join(s.label for s in work.states if not states[s.label]["hits"]),
        ),
        Check(
            "valid hits answered 2xx (refused ones 4xx)",
            not wrong,
            str(Counter((r.expect_status, r.status, refused_by.get(id(r), "")) for r in wrong)),
        ),
        Check("every surface that must hold something does (the search is not vacuous)", not empty, ", ".join(empty)),
    ]
    timings["total"] = time.monotonic() - started
    return Report(
        places=work.places,
        planted_places=planted,
        valid_places=valid,
        plants_sent=kinds,
        states=dict(states),
        hits=len(work.hits),
        requests=len(work.requests),
        timings=timings,
        surfaces={k: (len(v), sum(len(t) for t in v)) for k, v in surfaces.items()},
        leaks=leaks,
        admitted=admitted,
        checks=checks,
        state_of_hit={h.index: h.state for h in work.hits},
    )
