"""What a proof run collects after the queues drained: log sums, delivered ids, the
failed-events store, dead letters, the decision log and the lake.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fairtrack_tools.proofs.stack import DESTINATIONS, DLQS, QUEUES, ProofStack
from fairtrack_tools.proofs.traffic import Request, send


def _json_lines(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                if isinstance(doc, dict):
                    yield doc


@dataclass
class LogSums:
    """Counts summed over the stack's log lines."""

    routed_lines: int = 0
    accepted: int = 0
    rejected: int = 0
    queued: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    batches: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    dropped: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failed: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    retried: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    errors: int = 0
    metric_lines: int = 0
    other_lines: int = 0

    @classmethod
    def read(cls, lines: list[str]) -> LogSums:
        out = cls()
        for doc in _json_lines(lines):
            if "_aws" in doc:
                out.metric_lines += 1
                continue
            message = doc.get("message")
            if doc.get("level") == "ERROR":
                out.errors += 1
            if message == "hits routed":
                out.routed_lines += 1
                out.accepted += int(doc.get("accepted", 0))
                out.rejected += int(doc.get("rejected", 0))
                out.queued.update(doc.get("queued") or {})
                out.skipped.update(doc.get("skipped") or {})
            elif message == "batch forwarded":
                d = str(doc.get("destination"))
                out.batches[d] += 1
                out.delivered[d] += int(doc.get("events_delivered", 0))
                out.duplicates[d] += int(doc.get("duplicates_skipped", 0))
                out.dropped[d].update(doc.get("dropped") or {})
                out.failed[d].update(doc.get("failed") or {})
                out.retried[d].update(doc.get("retried") or {})
            else:
                out.other_lines += 1
        return out


INTERNAL_RETRY_REASONS = frozenset(
    {"ledger_unavailable", "claim_held", "deadline", "no_active_policy", "failed_store_unavailable", "unavailable"}
)


def event_ids_in_envelope(body: str) -> Iterator[tuple[str, str]]:
    """(destination, event messageId) of each event of a queue message."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        env = json.loads(body)
        for routed in env.get("events", []):
            yield str(env["destination"]), str(routed["event"].get("messageId"))


def group_ids(lake: list[dict[str, Any]]) -> dict[str, str]:
    """The group pseudonym -> the message id of the group call that carried it, from the lake (a
    GA4 join_group carries no properties, so no proof_id: its group_id names the call)."""
    out: dict[str, str] = {}
    for record in lake:
        event = record["event"]
        if event.get("type") == "group" and event.get("groupId"):
            out.setdefault(str(event["groupId"]), str(event.get("messageId")))
    return out


def delivered_ids(
    captured: dict[str, list[tuple[Any, dict[str, Any]]]], lake: list[dict[str, Any]]
) -> dict[str, Counter[str]]:
    """Event ids each destination accepted (requests the capture server judged valid)."""
    out: dict[str, Counter[str]] = {d: Counter() for d in DESTINATIONS}
    groups = group_ids(lake)
    for body, request in captured["ga4"]:
        if request.get("valid") and isinstance(body, dict):
            for ev in body.get("events") or []:
                params = ev.get("params") or {}
                out["ga4"][str(params.get("proof_id") or groups.get(str(params.get("group_id"))))] += 1
    for body, request in captured["meta"]:
        if request.get("valid") and isinstance(body, dict):
            for ev in body.get("data") or []:
                out["meta"][str(ev.get("event_id"))] += 1
    for body, _ in captured["webhook"]:
        if isinstance(body, dict):
            for ev in body.get("batch") or []:
                out["webhook"][str(ev.get("messageId"))] += 1
    for record in lake:
        out["lake"][str(record["event"].get("messageId"))] += 1
    return out


def dedup_keys(
    captured: dict[str, list[tuple[Any, dict[str, Any]]]], lake: list[dict[str, Any]]
) -> dict[str, dict[str, set[str]]]:
    """Each destination's event id -> the idempotency keys its delivered copies carried (a receiver
    deduplicating by the key keeps one copy per key). GA4 has no key: every copy counts."""
    out: dict[str, dict[str, set[str]]] = {d: defaultdict(set) for d in DESTINATIONS}
    for body, request in captured["meta"]:
        if request.get("valid") and isinstance(body, dict):
            for ev in body.get("data") or []:
                out["meta"][str(ev.get("event_id"))].add(f"{ev.get('event_name')}/{ev.get('event_id')}")
    for body, request in captured["webhook"]:
        if isinstance(body, dict):
            headers = {k.lower(): v for k, v in (request.get("headers") or {}).items()}
            for ev in body.get("batch") or []:
                out["webhook"][str(ev.get("messageId"))].add(str(headers.get("idempotency-key")))
    for record in lake:
        mid = str(record["event"].get("messageId"))
        out["lake"][mid].add(mid)
    return out


@dataclass
class Evidence:
    captured: dict[str, list[tuple[Any, dict[str, Any]]]]
    lake: list[dict[str, Any]]
    lake_raw: list[tuple[str, bytes]]
    decisions: list[dict[str, Any]]
    failed_docs: list[dict[str, Any]]
    failed_raw: list[tuple[str, bytes]]
    dlq: dict[str, list[str]]
    leftover: dict[str, list[str]]
    logs: list[str]
    stderr: str
    drained: bool

    @classmethod
    def collect(cls, stack: ProofStack, drained: bool) -> Evidence:
        lake_bucket, failed_bucket = stack.output("LakeBucketName"), stack.output("FailedEventsBucketName")
        lake_raw = list(stack.objects(lake_bucket))
        lake: list[dict[str, Any]] = []
        decisions: list[dict[str, Any]] = []
        for key, body in lake_raw:
            rows = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            (decisions if key.startswith("decisions/") else lake).extend(rows)
        failed_raw = list(stack.objects(failed_bucket, "failed/"))
        return cls(
            captured=stack.captured(),
            lake=lake,
            lake_raw=lake_raw,
            decisions=decisions,
            failed_docs=[json.loads(body) for _, body in failed_raw],
            failed_raw=failed_raw,
            dlq={d: [b for _, b in stack.read_queue(q)] for d, q in DLQS.items()},
            leftover={d: [b for _, b in stack.read_queue(q)] for d, q in QUEUES.items()},
            logs=stack.log_lines(),
            stderr=stack.stack_stderr(),
            drained=drained,
        )

    def failed_events(self) -> dict[str, dict[str, str]]:
        """destination -> event messageId -> reason, from the failed-events store."""
        out: dict[str, dict[str, str]] = defaultdict(dict)
        for doc in self.failed_docs:
            for item in doc.get("envelopes", []):
                for routed in item["envelope"].get("events", []):
                    out[str(doc["destination"])][str(routed["event"].get("messageId"))] = str(doc.get("reason"))
        return out

    def decision_counts(self) -> dict[str, Counter[tuple[str, str]]]:
        """destination -> (action, reason) -> events, from the decision log's event rows."""
        out: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        for row in self.decisions:
            if row.get("field") is None:
                out[str(row.get("destination"))][(str(row.get("action")), str(row.get("reason")))] += int(
                    row.get("count", 0)
                )
        return out


def send_and_collect(
    stack: ProofStack,
    requests: list[Request],
    *,
    concurrency: int,
    drain_timeout: float,
    timings: dict[str, float],
    say: Callable[[str], None],
) -> tuple[bool, Evidence, float]:
    """Send every request, wait until the queues drained, and collect the evidence: whether they
    drained, the evidence, and when its collection began. ``timings`` gets ``send`` and ``drain``."""
    mark = time.monotonic()
    send(stack.base_url, requests, concurrency)
    timings["send"] = time.monotonic() - mark
    say(f"sent in {timings['send']:.1f}s; draining")
    mark = time.monotonic()
    drained = stack.drain(drain_timeout)
    timings["drain"] = time.monotonic() - mark
    mark = time.monotonic()
    return drained, Evidence.collect(stack, drained), mark
