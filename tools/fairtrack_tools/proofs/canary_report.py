"""The privacy canary proof: every surface searched for a planted value (:func:`run_canaries`)."""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fairtrack_tools.proofs.canaries import CanaryWorkload, Planted
from fairtrack_tools.proofs.catalogue import ENVELOPE, META_FIELDS, Catalogue, Trace
from fairtrack_tools.proofs.evidence import Evidence, group_ids, send_and_collect
from fairtrack_tools.proofs.faults import FaultPlan
from fairtrack_tools.proofs.report import Check, text_table
from fairtrack_tools.proofs.stack import DESTINATIONS, ProofStack, open_stack
from fairtrack_tools.proofs.traffic import NECESSARY, Request


@dataclass
class Leak:
    surface: str
    value: str
    planted: Planted
    where: str  # e.g. the capture request or log line it was found in, cut short


@dataclass
class CanaryReport:
    hits: int
    requests: int
    timings: dict[str, float]
    surfaces: dict[str, tuple[int, int]]  # surface -> (items, bytes)
    leaks: list[Leak]
    planted: Counter[str]  # category -> values planted
    placements: Counter[str]  # placement -> values planted
    trace: Trace
    checks: list[Check]

    def leaks_outside(self, placements: Iterable[str] = ()) -> list[Leak]:
        skip = set(placements)
        return [leak for leak in self.leaks if leak.planted.placement not in skip]

    @property
    def ok(self) -> bool:
        return not self.leaks and all(c.ok for c in self.checks) and not self.trace.problems

    def render(self) -> str:
        out = [
            f"canaries: {self.hits} hits in {self.requests} requests; "
            + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()),
            "planted (distinct values): " + ", ".join(f"{k} {v}" for k, v in sorted(self.planted.items())),
            "",
        ]
        per_surface = Counter(leak.surface for leak in self.leaks)
        rows = [
            (name, str(items), f"{size / 1e6:.1f} MB", str(per_surface[name]))
            for name, (items, size) in self.surfaces.items()
        ]
        out += text_table(("surface searched", "items", "size", "canaries in clear"), rows)
        out += [""]
        if self.leaks:
            out.append("canaries found in clear, by where they were planted:")
            by: dict[tuple[str, str], list[Leak]] = defaultdict(list)
            for leak in self.leaks:
                by[(leak.planted.category, leak.planted.placement)].append(leak)
            leak_rows = [
                (
                    category,
                    placement,
                    f"{len({x.value for x in found})} of {self.placements[placement]}",
                    str(len(found)),
                    ", ".join(sorted({x.surface.split(" (")[0].split(":")[0] for x in found})),
                )
                for (category, placement), found in sorted(by.items(), key=lambda kv: -len(kv[1]))
            ]
            out += text_table(("category", "planted in", "values leaked", "found", "surfaces"), leak_rows)
            out.append("first occurrence of each:")
            for (category, placement), found in by.items():
                out.append(
                    f"  {category} / {placement}: {found[0].value!r} in {found[0].surface}: ...{found[0].where}..."
                )
            out.append("")
        out.append("every forwarded field, traced to the catalogue (policies/default.yaml):")
        out += self.trace.render()
        out.append("")
        if self.trace.problems:
            out.append("fields NOT traceable to an allowed attribute and a granted purpose:")
            for (d, wire, problem), n in self.trace.problems.most_common():
                out.append(f"  {d} {wire}: {problem} x{n} (e.g. {self.trace.examples[(d, wire, problem)]})")
            out.append("")
        out.append("checks:")
        out += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}" + (f": {c.detail}" if c.detail else "") for c in self.checks]
        return "\n".join(out)


# the surfaces of :func:`collect_surfaces` that every run fills; the others (the DLQs, what is left in
# the queues, the stack's stderr, the failed-events store) may rightly be empty
FILLED_SURFACES = (
    "queue messages (every one ingest sent)",
    "ga4: requests received (body, query, headers)",
    "meta: requests received (body, query, headers)",
    "webhook: requests received (body, query, headers)",
    "lake bucket objects (lake/, decisions/)",
    "DynamoDB items (policy, consent, ledger)",
    "worker log lines",
    "worker metric lines (EMF)",
    "ingest API answers",
)


def collect_surfaces(stack: ProofStack, evidence: Evidence, requests: list[Request]) -> dict[str, list[str]]:
    """Every surface a planted value could reach, by name: what ingest queued (through the tap),
    DLQs and leftovers, each destination request, lake and decision-log objects, failed events,
    every table item, log and metric line, and every HTTP answer. The stack must still be up."""
    surfaces: dict[str, list[str]] = {}
    assert stack.tap is not None
    surfaces["queue messages (every one ingest sent)"] = list(stack.tap.messages)
    ddb = stack.client("dynamodb")
    items: list[str] = []
    for output in ("PolicyTableName", "ConsentTableName", "DeliveryTableName"):
        for page in ddb.get_paginator("scan").paginate(TableName=stack.output(output)):
            items.extend(json.dumps(item) for item in page.get("Items", []))
    surfaces["DynamoDB items (policy, consent, ledger)"] = items
    surfaces["DLQ messages"] = [b for bodies in evidence.dlq.values() for b in bodies]
    surfaces["queue messages left at the end"] = [b for bodies in evidence.leftover.values() for b in bodies]
    for name in ("ga4", "meta", "webhook"):
        surfaces[f"{name}: requests received (body, query, headers)"] = [
            json.dumps(body)
            + "\n"
            + str(req.get("path"))
            + "?"
            + str(req.get("query"))
            + "\n"
            + json.dumps(req.get("headers"))
            for body, req in evidence.captured[name]
        ]
    surfaces["lake bucket objects (lake/, decisions/)"] = [b.decode(errors="replace") for _, b in evidence.lake_raw]
    surfaces["failed-events store objects"] = [b.decode(errors="replace") for _, b in evidence.failed_raw]
    surfaces["worker log lines"] = [line for line in evidence.logs if '"_aws"' not in line]
    surfaces["worker metric lines (EMF)"] = [line for line in evidence.logs if '"_aws"' in line]
    surfaces["stack stderr"] = evidence.stderr.splitlines()
    surfaces["ingest API answers"] = [f"{r.status} " + r.answer.decode(errors="replace") for r in requests]
    return surfaces


def run_canaries(
    hits: int,
    *,
    seed: int = 11,
    fault_rate: float = 0.10,
    visibility_seconds: int = 2,
    drain_timeout: float = 600.0,
    concurrency: int = 4,
    log_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> CanaryReport:
    say = progress or (lambda _: None)
    timings: dict[str, float] = {}
    started = time.monotonic()
    workload = CanaryWorkload(hits, seed)
    say(
        f"workload: {len(workload.hits)} hits, {len(workload.planted) + len(workload.phones)} canaries, "
        f"{len(workload.requests)} requests"
    )
    with contextlib.ExitStack() as exits:
        stack = open_stack(
            exits,
            log_dir,
            "canaries",
            faults=FaultPlan(rate=fault_rate, seed=seed),
            parameters={"TrustedProxy": "hops:1"},  # X-Forwarded-For's last entry is the client address
            visibility_seconds=visibility_seconds,
            tap=True,
        )
        timings["start"] = time.monotonic() - started
        drained, evidence, mark = send_and_collect(
            stack, workload.requests, concurrency=concurrency, drain_timeout=drain_timeout, timings=timings, say=say
        )
        surfaces = collect_surfaces(stack, evidence, workload.requests)
    leaks: list[Leak] = []
    for name, texts in surfaces.items():
        for text in texts:
            for value, planted in workload.find(text):
                at = text.find(value)
                leaks.append(
                    Leak(name, value, planted, text[max(0, at - 80) : at + len(value) + 40].replace("\n", " "))
                )
    timings["search"] = time.monotonic() - mark
    trace, checks = trace_canaries(workload, evidence)
    checks.insert(0, Check("drained within the time limit", drained))
    bad = [r for r in workload.requests if r.status != (r.expect_status or (204 if "/g/" in r.path else 200))]
    checks.insert(
        1,
        Check(
            "every request answered as expected (200, gtag 204, 400 for the refused ones)",
            not bad,
            str(Counter(r.status for r in bad)),
        ),
    )
    timings["total"] = time.monotonic() - started
    counts = Counter(p.category for p in workload.planted.values()) + Counter(
        p.category for p in workload.phones.values()
    )
    return CanaryReport(
        hits=len(workload.hits),
        requests=len(workload.requests),
        timings=timings,
        surfaces={k: (len(v), sum(len(t) for t in v)) for k, v in surfaces.items()},
        leaks=leaks,
        planted=counts,
        placements=Counter(p.placement for p in workload.planted.values())
        + Counter(p.placement for p in workload.phones.values()),
        trace=trace,
        checks=checks,
    )


def trace_canaries(workload: CanaryWorkload, evidence: Evidence) -> tuple[Trace, list[Check]]:
    trace = Trace(Catalogue())
    by_pid = {h.proof_id: h for h in workload.hits}
    by_mid = {h.message_id: h for h in workload.hits}
    mismatched: list[str] = []
    for record in evidence.lake:  # the id and the proof_id property name the same hit
        event = record["event"]
        hit = by_pid.get(str((event.get("properties") or {}).get("proof_id")))
        if hit is not None and by_mid.get(str(event.get("messageId"))) is not hit:
            mismatched.append(f"{hit.proof_id}: recorded under another messageId")
    necessary = frozenset({NECESSARY})
    for record in evidence.lake:
        event = record["event"]
        hit = by_mid.get(str(event.get("messageId")))
        granted = hit.granted if hit else necessary  # unknown hit (a check below fails): judged strictest
        if hit is not None and sorted(record.get("purposes") or []) != sorted(hit.granted):
            mismatched.append(
                f"{hit.proof_id}: lake says {record.get('purposes')}, consent model {sorted(hit.granted)}"
            )
        for key in record:
            if key != "event":
                trace.field("lake", f"(envelope) {key}", [ENVELOPE], granted, str(event.get("messageId")))
        trace.canonical("lake", event, granted, str(event.get("messageId")))
    for body, _ in evidence.captured["webhook"]:
        for key in body:
            if key != "batch":
                trace.field("webhook", f"(envelope) {key}", [ENVELOPE], necessary, "webhook body")
        for event in body.get("batch") or []:
            hit = by_mid.get(str(event.get("messageId"))) or by_pid.get(
                str((event.get("properties") or {}).get("proof_id"))
            )
            if hit is None:
                trace.problem("webhook", "(event)", "not traceable to a hit", str(event.get("messageId")))
                continue
            trace.canonical("webhook", event, hit.granted, hit.proof_id)
    # a join_group event carries no properties: its group_id names the group call
    by_group = {group: by_mid[mid] for group, mid in group_ids(evidence.lake).items() if mid in by_mid}
    for body, request in evidence.captured["ga4"]:
        if not request.get("valid"):
            continue
        hits: list[tuple[frozenset[str], str]] = []
        for event in body.get("events") or []:
            params = event.get("params") or {}
            hit = by_pid.get(str(params.get("proof_id"))) or by_group.get(str(params.get("group_id")))
            if hit is None:
                trace.problem("ga4", "(event)", "not traceable to a hit", json.dumps(event)[:80])
                hits.append((necessary, "?"))
            else:
                hits.append((hit.granted, hit.proof_id))
        trace.ga4(body, hits)
    for body, request in evidence.captured["meta"]:
        if not request.get("valid"):
            continue
        for key in body:
            if key != "data":
                trace.field("meta", key, META_FIELDS.get(key, ()), necessary, "meta body")
        for event in body.get("data") or []:
            hit = by_mid.get(str(event.get("event_id")))
            if hit is None:
                trace.problem("meta", "(event)", "not traceable to a hit", str(event.get("event_id")))
                continue
            trace.meta(event, hit.granted, hit.proof_id)
    lake_hits = Counter(
        hit.index for record in evidence.lake if (hit := by_mid.get(str(record["event"].get("messageId")))) is not None
    )
    unmapped = [r["event"] for r in evidence.lake if str(r["event"].get("messageId")) not in by_mid]
    twice = [i for i, n in lake_hits.items() if n > 1]
    checks = [
        Check(
            "the lake holds one record per hit (accepted hits = lake records)",
            len(lake_hits) == len(workload.hits) and not twice and not unmapped,
            f"{len(lake_hits)} of {len(workload.hits)} hits; {len(twice)} twice; {len(unmapped)} not traceable"
            + (f", e.g. {json.dumps(unmapped[0])[:300]}" if unmapped else ""),
        ),
        Check(
            "the lake's recorded purposes = the consent model's, for every hit",
            not mismatched,
            "; ".join(mismatched[:3]),
        ),
        Check(
            "every destination received something (the run proves nothing otherwise)",
            all(trace.events[d] for d in DESTINATIONS),
            str(dict(trace.events)),
        ),
    ]
    return trace, checks
