"""The load and faults proof: conservation per destination (:func:`run_load`, :func:`judge_load`).

For each destination: accepted = delivered + dropped + failed + in DLQ (nothing lost), nothing
unexpected, and duplicates within the destination's delivery guarantee. See :mod:`fairtrack_tools.proofs`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fairtrack.destinations.guarantees import GUARANTEES
from fairtrack_tools.proofs.evidence import (
    INTERNAL_RETRY_REASONS,
    Evidence,
    LogSums,
    dedup_keys,
    delivered_ids,
    event_ids_in_envelope,
    send_and_collect,
)
from fairtrack_tools.proofs.faults import PERMANENT_ANSWERS, PERMANENT_FAULT, RETRYABLE_FAULTS, FaultPlan, injected
from fairtrack_tools.proofs.load import LoadWorkload
from fairtrack_tools.proofs.report import Check, text_table
from fairtrack_tools.proofs.stack import DESTINATIONS, open_stack


@dataclass
class Row:
    accepted: int = 0
    delivered: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    dlq: int = 0
    queued: int = 0  # still on the destination queue (the drain timed out)
    lost: list[str] = field(default_factory=list)
    duplicates: int = 0  # raw: copies beyond the first
    after_dedup: int = 0  # copies left after deduplicating by the destination's idempotency key
    unexpected: Counter[str] = field(default_factory=Counter)

    @property
    def settled(self) -> int:
        return self.delivered + sum(self.dropped.values()) + sum(self.failed.values()) + self.dlq + self.queued


@dataclass
class LoadReport:
    hits: int
    valid_hits: int
    requests: int
    timings: dict[str, float]
    rows: dict[str, Row]
    logs: LogSums
    faults: dict[str, Counter[str]]
    checks: list[Check]
    decision_log: bool

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def render(self) -> str:
        def reasons(c: Counter[str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "-"

        head = (
            "destination",
            "accepted",
            "= delivered",
            "+ dropped",
            "+ failed",
            "+ in DLQ",
            "lost",
            "dup raw",
            "dup after key",
            "unexpected",
        )
        rows = [
            (
                d,
                str(r.accepted),
                str(r.delivered),
                str(sum(r.dropped.values())),
                str(sum(r.failed.values())),
                str(r.dlq) + (f" (+{r.queued} still queued)" if r.queued else ""),
                str(len(r.lost)),
                str(r.duplicates),
                str(r.after_dedup),
                str(sum(r.unexpected.values())),
            )
            for d, r in self.rows.items()
        ]
        out = [
            f"load: {self.hits} hits ({self.valid_hits} valid) in {self.requests} requests; "
            + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()),
            "",
            "conservation per destination: accepted = delivered + dropped + failed + in DLQ, 0 lost",
            *text_table(head, rows),
            "reasons:",
            *(
                f"  {d}: dropped {reasons(r.dropped)}; failed {reasons(r.failed)}"
                for d, r in self.rows.items()
                if r.dropped or r.failed
            ),
            "",
            "duplicates against each destination's guarantee (docs/destinations.md):",
            *(
                f"  {d}: {GUARANTEES[d].delivery}, key {GUARANTEES[d].key}: "
                f"{r.duplicates} raw, {r.after_dedup} after dedup by the key"
                for d, r in self.rows.items()
            ),
            "",
            "cross-checks per destination (forwarder `batch forwarded` lines, proxy, failed store):",
        ]
        head2 = (
            "destination",
            "requests",
            "faults injected",
            "retried (log)",
            "ledger skips",
            "delivered (log)",
            "failed (log)",
        )
        rows2 = []
        for d in self.rows:
            f = self.faults.get(d, Counter())
            injected = ", ".join(f"{k} {f[k]}" for k in (*RETRYABLE_FAULTS, PERMANENT_FAULT) if f[k]) or "-"
            rows2.append(
                (
                    d,
                    str(f["requests"]) if d != "lake" else "(S3)",
                    injected if d != "lake" else "-",
                    str(sum(self.logs.retried[d].values())),
                    str(self.logs.duplicates[d]),
                    str(self.logs.delivered[d]),
                    str(sum(self.logs.failed[d].values())),
                )
            )
        out += text_table(head2, rows2)
        out += ["", "checks:"]
        out += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}" + (f": {c.detail}" if c.detail else "") for c in self.checks]
        return "\n".join(out)


def run_load(
    hits: int,
    *,
    seed: int = 7,
    fault_rate: float = FaultPlan.rate,
    visibility_seconds: int = 2,
    drain_timeout: float = 600.0,
    concurrency: int = 4,
    log_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    say = progress or (lambda _: None)
    timings: dict[str, float] = {}
    started = time.monotonic()
    workload = LoadWorkload(hits, seed)
    say(f"workload: {len(workload.expected)} valid hits, {workload.invalid} invalid, {len(workload.requests)} requests")
    with contextlib.ExitStack() as exits:
        stack = open_stack(
            exits, log_dir, "load", faults=FaultPlan(rate=fault_rate, seed=seed), visibility_seconds=visibility_seconds
        )
        timings["start"] = time.monotonic() - started
        _drained, evidence, mark = send_and_collect(
            stack, workload.requests, concurrency=concurrency, drain_timeout=drain_timeout, timings=timings, say=say
        )
        faults = {k: Counter(v) for k, v in stack.proxy.stats.items()}
        decision_log = stack.decision_log
        timings["collect"] = time.monotonic() - mark
    timings["total"] = time.monotonic() - started
    return judge_load(workload, evidence, faults, timings, decision_log)


INGEST_LOG_REJECTED = "ingest log: rejected = invalid events sent"


def judge_load(
    workload: LoadWorkload,
    evidence: Evidence,
    faults: dict[str, Counter[str]],
    timings: dict[str, float],
    decision_log: bool,
) -> LoadReport:
    logs = LogSums.read(evidence.logs)
    delivered = delivered_ids(evidence.captured, evidence.lake)
    failed = evidence.failed_events()
    rows = _classify(workload, evidence, delivered, failed)
    keys = dedup_keys(evidence.captured, evidence.lake)
    for d, row in rows.items():
        # no key (GA4): every copy stays a duplicate
        row.after_dedup = row.duplicates if GUARANTEES[d].ledger else sum(len(k) - 1 for k in keys[d].values() if k)
    checks = _request_checks(workload, evidence, logs, rows)
    for d, row in rows.items():
        checks += _destination_checks(
            d, row, evidence=evidence, logs=logs, delivered=delivered[d], failed=failed[d], faults=faults
        )
    if decision_log:
        checks += _decision_checks(evidence, rows, len(workload.expected))
    checks.append(Check("no ERROR log lines", logs.errors == 0, str(logs.errors)))
    return LoadReport(
        hits=len(workload.expected) + workload.invalid,
        valid_hits=len(workload.expected),
        requests=len(workload.requests),
        timings=timings,
        rows=rows,
        logs=logs,
        faults=faults,
        checks=checks,
        decision_log=decision_log,
    )


def _ids_in(queues: dict[str, list[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {d: set() for d in DESTINATIONS}
    for bodies in queues.values():
        for body in bodies:
            for dest, mid in event_ids_in_envelope(body):
                out[dest].add(mid)
    return out


def _classify(
    workload: LoadWorkload,
    evidence: Evidence,
    delivered: dict[str, Counter[str]],
    failed: dict[str, dict[str, str]],
) -> dict[str, Row]:
    """Each event a destination accepted, in exactly one column (the first that applies):
    delivered, failed, in the DLQ, dropped (as predicted), still queued, else lost."""
    in_dlq, left = _ids_in(evidence.dlq), _ids_in(evidence.leftover)
    rows = {d: Row() for d in DESTINATIONS}
    expected_by_dest: dict[str, dict[str, str | None]] = {d: {} for d in DESTINATIONS}
    for hit in workload.expected:
        for dest, outcome in hit.routes.items():
            expected_by_dest[dest][hit.message_id] = outcome
    for dest, expected in expected_by_dest.items():
        row = rows[dest]
        row.accepted = len(expected)
        got = delivered[dest]
        for mid, outcome in expected.items():
            count = got.get(mid, 0)
            if count:
                row.delivered += 1
                row.duplicates += count - 1
                if outcome is not None:
                    row.unexpected[f"delivered though {outcome}"] += 1
            elif mid in failed[dest]:
                row.failed[failed[dest][mid]] += 1
            elif mid in in_dlq[dest]:  # not settled: a replay decides again (a rule may drop it then)
                row.dlq += 1
            elif outcome is not None:
                row.dropped[outcome] += 1
            elif mid in left[dest]:
                row.queued += 1
            else:
                row.lost.append(mid)
        for mid, count in got.items():
            if mid not in expected:
                row.unexpected["not routed to it"] += count
    return rows


def _request_checks(workload: LoadWorkload, evidence: Evidence, logs: LogSums, rows: dict[str, Row]) -> list[Check]:
    checks: list[Check] = []
    bad = [r for r in workload.requests if r.status != 200]
    checks.append(Check("every request answered 200", not bad, f"{len(bad)} not: {Counter(r.status for r in bad)}"))
    wrong = sum(
        1
        for r in workload.requests
        if r.status == 200
        and [x["index"] for x in json.loads(r.answer or b"{}").get("rejected", [])] != r.expect_rejected
    )
    checks.append(Check("invalid events rejected by index, the others accepted", wrong == 0, f"{wrong} requests"))
    checks.append(Check("drained within the time limit", evidence.drained))
    # a request sent again (no answer the first time) may have been queued twice: then >=
    resent = sum(r.attempts - 1 for r in workload.requests)
    valid = len(workload.expected)
    checks.append(
        Check(
            "ingest log: accepted = valid hits sent",
            logs.accepted == valid or resent > 0,
            f"{logs.accepted} vs {valid}",
        )
    )
    checks.append(
        Check(INGEST_LOG_REJECTED, logs.rejected == workload.invalid, f"{logs.rejected} vs {workload.invalid}")
    )
    not_routed = sum(valid - row.accepted for row in rows.values())
    checks.append(
        Check(
            "ingest log: skipped = hits kept from a destination by their consent",
            sum(logs.skipped.values()) == not_routed and set(logs.skipped) <= {"purpose_not_granted"},
            f"{dict(logs.skipped)} vs {not_routed}",
        )
    )
    for d in DESTINATIONS:
        ok = logs.queued[d] == rows[d].accepted or (resent > 0 and logs.queued[d] >= rows[d].accepted)
        checks.append(Check(f"{d}: queued by ingest (log) = accepted", ok, f"{logs.queued[d]} vs {rows[d].accepted}"))
    return checks


def _destination_checks(
    d: str,
    row: Row,
    *,
    evidence: Evidence,
    logs: LogSums,
    delivered: Counter[str],
    failed: dict[str, str],
    faults: dict[str, Counter[str]],
) -> list[Check]:
    checks = [
        Check(
            f"{d}: conservation, 0 lost",
            not row.lost and row.settled == row.accepted,
            f"lost {len(row.lost)} e.g. {row.lost[:3]}" if row.lost else "",
        ),
        _guarantee_check(d, row),
        Check(f"{d}: nothing delivered that should not be", not row.unexpected, repr(dict(row.unexpected))),
        Check(
            f"{d}: events delivered (log) = delivered at the destination",
            logs.delivered[d] == sum(delivered.values()),
            f"{logs.delivered[d]} vs {sum(delivered.values())}",
        ),
        Check(
            f"{d}: failed (log) = failed-events store",
            sum(logs.failed[d].values()) == (stored := _failed_entries(evidence, d)),
            f"{sum(logs.failed[d].values())} vs {stored} ({len(failed)} distinct)",
        ),
    ]
    if d == "lake":  # no HTTP, no faults injected
        return checks
    retryable, permanent = injected(faults, d)
    reason = PERMANENT_ANSWERS[d][2]
    docs = sum(1 for doc in evidence.failed_docs if doc.get("destination") == d)
    retried = sum(v for k, v in logs.retried[d].items() if k not in INTERNAL_RETRY_REASONS)
    internal = sum(v for k, v in logs.retried[d].items() if k in INTERNAL_RETRY_REASONS)
    refused = sum(1 for _, req in evidence.captured[d] if not req.get("valid"))
    return [
        *checks,
        Check(
            f"{d}: one failed-store object per permanent fault, reason {reason}",
            docs == permanent and set(row.failed) <= {reason},
            f"{docs} objects, {permanent} faults, reasons {dict(row.failed)}",
        ),
        Check(
            f"{d}: retried requests (log) = retryable faults injected",
            retried == retryable and internal == 0,
            f"{retried} vs {retryable}; internal {internal}",
        ),
        Check(f"{d}: no request the destination itself refused", refused == 0, f"{refused} invalid"),
    ]


def _guarantee_check(d: str, row: Row) -> Check:
    """The destination's duplicates against its guarantee: "once" allows no copy at all (the proxy's
    faults never deliver a request, so no answer is lost after delivery), at
    least once none left after deduplicating by its idempotency key."""
    guarantee = GUARANTEES[d]
    if guarantee.delivery == "once unless an answer is lost":  # the injected faults never reach the destination
        return Check(f"{d}: once: 0 duplicates delivered", row.duplicates == 0, str(row.duplicates))
    return Check(
        f"{d}: at least once: 0 duplicates after dedup by {guarantee.key}",
        row.after_dedup == 0,
        f"{row.duplicates} raw, {row.after_dedup} after dedup",
    )


def _failed_entries(evidence: Evidence, d: str) -> int:
    """Events in the failed-events store, every copy (an at-least-once destination can refuse a
    resent event again)."""
    return sum(
        len(item["envelope"].get("events", []))
        for doc in evidence.failed_docs
        if doc.get("destination") == d
        for item in doc.get("envelopes", [])
    )


def _decision_checks(evidence: Evidence, rows: dict[str, Row], valid: int) -> list[Check]:
    """The decision log counts events once they settle: it must agree with the table exactly.
    Skips: the hits ingest kept from a destination (when ingest writes its rows), never the
    forwarders' (the policy does not change during the run)."""
    counts = evidence.decision_counts()
    checks = []
    for d, row in rows.items():
        logged = counts.get(d, Counter())
        drops = Counter({reason: n for (action, reason), n in logged.items() if action == "dropped"})
        skipped = sum(n for (action, _), n in logged.items() if action == "skipped")
        sent = sum(n for (action, _), n in logged.items() if action == "sent")
        failed = sum(n for (action, _), n in logged.items() if action == "failed")
        checks.append(
            Check(
                f"{d}: decision log: dropped = predicted, sent = delivered, failed = failed, skipped = not routed",
                drops == row.dropped
                and sent == row.delivered + row.duplicates  # every copy sent is counted
                and failed == _failed_entries(evidence, d)
                and skipped in (0, valid - row.accepted),
                f"dropped {dict(drops)} vs {dict(row.dropped)}; sent {sent} vs {row.delivered} + {row.duplicates}; "
                f"failed {failed} vs {_failed_entries(evidence, d)}; "
                f"skipped {skipped} (ingest: {valid - row.accepted})",
            )
        )
    return checks
