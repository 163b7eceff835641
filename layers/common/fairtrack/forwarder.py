"""Forwarder: SQS batch -> envelopes -> policy again -> destination -> partial batch response.

Powertools' ``BatchProcessor`` calls a handler one record at a time; destinations here send in
API-sized batches (one lake object per batch, GA4 25 events, Meta 1,000), so this module keeps the
same contract (``{"batchItemFailures": [{"itemIdentifier": id}]}``) over a whole-batch call.
Records that cannot be read are reported as failures too, so SQS redelivers them and after
``maxReceiveCount`` the queue's DLQ keeps them: nothing is dropped silently.

After delivery each batch writes its decisions, counted per day, source, field and reason (never
per visitor), to the decision log (:mod:`fairtrack.stores.decision_log`: a Firehose stream,
``DECISION_LOG_STREAM``) when one is configured; a failure to write it is logged and counted, and
never fails or retries the delivery.

Deduplication is per destination (:mod:`fairtrack.destinations.guarantees`): Meta, the webhook and
the lake carry an idempotency key on every copy and keep no ledger; GA4 claims each message in the
delivery ledger (:mod:`fairtrack.stores.ledger`) before sending it, with one conditional write. When the
Lambda context is given, no request starts once too little time is left for it and for settling
(:data:`SETTLE_RESERVE_SECONDS`): its messages are left for retry and their claims released.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from pydantic import ValidationError

from fairtrack.destinations import (
    Delivery,
    DeliveryReport,
    DestinationClient,
    EventRef,
    Failure,
)
from fairtrack.destinations.adjustments import loggable_adjustments
from fairtrack.destinations.configured import build_destination
from fairtrack.destinations.guarantees import keeps_ledger
from fairtrack.envelope import Envelope, RoutedEvent
from fairtrack.observability import CORRELATION_ATTRIBUTE, count_by_reason, logger, metrics
from fairtrack.policy.decisions import Decision
from fairtrack.policy.engine import evaluate
from fairtrack.settings import ForwarderSettings
from fairtrack.stores.clients import SharedClient
from fairtrack.stores.decision_log import (
    BatchDecisions,
    BucketDecisionLog,
    DecisionLog,
    day_of,
    decision_log_bucket,
    decision_log_stream,
)
from fairtrack.stores.failed_events import FailedStore
from fairtrack.stores.ledger import DEFAULT_INVOCATION_SECONDS, LEASE_MARGIN_SECONDS, Claim, Ledger
from fairtrack.stores.policy_table import NoActivePolicy, PolicyStore, is_suppressed
from fairtrack.stores.queue import envelope_from_body

__all__ = ["Forwarder", "build_destination", "correlation_id", "event_id", "loggable_adjustments"]

# time kept back from the Lambda deadline for settling (failed store, ledger releases, decision log)
SETTLE_RESERVE_SECONDS = 3.0


def correlation_id(record: dict[str, Any]) -> str | None:
    attr = (record.get("messageAttributes") or {}).get(CORRELATION_ATTRIBUTE) or {}
    value = attr.get("stringValue")
    return value if isinstance(value, str) else None


class Forwarder:
    """One forwarder batch: read, re-check the policy, claim the messages (GA4), deliver, keep
    permanent failures, release the claims of retried messages, count, answer SQS."""

    def __init__(
        self,
        settings: ForwarderSettings,
        destination: DestinationClient,
        store: PolicyStore | None = None,
        ledger: Ledger | None = None,
        failed_store: FailedStore | None = None,
        *,
        decision_log: DecisionLog | BucketDecisionLog | None = None,
        s3: Any = None,
        firehose: Any = None,
    ):
        """``s3``: the S3 client of the failed store and the decision log when this builds them (one
        :class:`~fairtrack.stores.clients.SharedClient` for both when None); the handler passes the one its
        lake destination writes with."""
        self.settings = settings
        self.destination = destination
        self.store = store or PolicyStore(settings.policy_table, settings.policy_cache_seconds)
        # only a destination that cannot deduplicate by itself keeps a ledger (the guarantees table)
        self.ledger = None
        if keeps_ledger(settings.destination):
            self.ledger = ledger if ledger is not None else _ledger(settings)
        s3 = s3 if s3 is not None else SharedClient("s3")  # created on first use, if ever
        self.failed_store = failed_store if failed_store is not None else _failed_store(settings, s3)
        self.decision_log = decision_log if decision_log is not None else _decision_log(settings, s3, firehose)

    def handle(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """``context``: the Lambda context; its deadline bounds the claims' lease and when the last
        request may start (without it: :data:`~fairtrack.stores.ledger.DEFAULT_INVOCATION_SECONDS`)."""
        started = time.monotonic()
        remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else None
        records = event.get("Records") or []
        retry: set[str] = set()
        envelopes: list[tuple[str, Envelope]] = []
        bodies: dict[str, str] = {}
        for record in records:
            message_id = str(record.get("messageId", ""))
            bodies[message_id] = record.get("body") or ""
            try:
                env = envelope_from_body(bodies[message_id])
            except ValidationError:
                logger.error("unreadable queue record: left for retry and the DLQ")
                retry.add(message_id)
                continue
            if env.destination != self.settings.destination:
                logger.error(
                    "record for another destination: left for the DLQ", extra={"record_destination": env.destination}
                )
                retry.add(message_id)
                continue
            envelopes.append((message_id, env))
        if records and (cid := correlation_id(records[0])):
            logger.set_correlation_id(cid)

        tally = _Tally()
        decided = BatchDecisions(self.settings.destination)
        deliveries = self._recheck(envelopes, retry, tally, decided)
        lease = (remaining if remaining is not None else DEFAULT_INVOCATION_SECONDS) + LEASE_MARGIN_SECONDS
        deliveries, claims = self._claim(deliveries, bodies, lease, retry, tally)
        if deliveries:
            if remaining is None:
                report = self.destination.deliver(deliveries)
            else:
                reserve = self._request_seconds() + SETTLE_RESERVE_SECONDS
                deadline = started + remaining - reserve
                report = self.destination.deliver(deliveries, stop=lambda: time.monotonic() >= deadline)
            self._settle(deliveries, report, retry, tally, decided, claims=claims)
        self._log_decisions(decided, retry, tally)
        tally.emit(self.settings.destination, len(records), retry)
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in sorted(retry)]}

    def _recheck(
        self, envelopes: list[tuple[str, Envelope]], retry: set[str], tally: _Tally, decided: BatchDecisions
    ) -> list[Delivery]:
        """Apply the active policy again: it may have changed since ingest. Every field decision
        is recorded, for the decision log."""
        if not envelopes:
            return []
        try:
            policy = self.store.active_policy()
        except NoActivePolicy:
            logger.error("no active policy: records left for retry")
            retry.update(mid for mid, _ in envelopes)
            tally.retried["no_active_policy"] += len(envelopes)
            return []
        deliveries: list[Delivery] = []
        ldu = policy.limited_data_use(self.settings.destination)
        suppressed = self.store.suppressed()
        for message_id, env in envelopes:
            if env.decisions and (bad := decided.carried(message_id, env.decisions)):
                logger.warning("carried decision rows ignored", extra={"rows": bad})
            events: list[tuple[list[str], dict[str, Any]]] = []
            for routed in env.events:
                if is_suppressed(routed.event, suppressed):
                    # erased after ingest queued it (or replayed from a DLQ): it goes nowhere
                    tally.dropped["subject_suppressed"] += 1
                    skip = Decision(env.destination, "skipped", "subject_suppressed", policy_version=policy.version)
                    decided.skipped(message_id, day_of(routed.event), env.source_id, skip, policy)
                    continue
                minimal, decisions = evaluate(
                    routed.event, frozenset(routed.purposes), env.destination, policy, record=True
                )
                day = day_of(routed.event)  # the minimal event may lack receivedAt; the queued one has it
                if minimal is None:
                    skip = next(d for d in decisions if d.action == "skipped")
                    tally.dropped[skip.reason.split(":")[0]] += 1
                    decided.skipped(message_id, day, env.source_id, skip, policy)
                else:
                    events.append((routed.purposes, minimal))
                    decided.evaluated(
                        message_id, event_id(minimal), day, env.source_id, version=policy.version, decisions=decisions
                    )
            if events:
                where = self._action_source(env.source_id)
                deliveries.append(Delivery(message_id, env.source_id, policy.version, events, ldu, where))
        return deliveries

    def _action_source(self, source_id: str) -> str:
        """The source's ``action_source`` setting, which only Meta reads (its ``source#`` item,
        cached like the policy); ``website`` for other destinations or a source no longer there."""
        if self.settings.destination != "meta":
            return "website"
        source = self.store.source(source_id)
        return source.action_source if source is not None else "website"

    def _request_seconds(self) -> float:
        """The longest one destination request can take (connect at most 2 s, then the read)."""
        timeout = (
            self.settings.webhook_timeout_seconds
            if self.settings.destination == "webhook"
            else self.settings.destination_timeout_seconds
        )
        return 2.0 + timeout

    def _claim(
        self, deliveries: list[Delivery], bodies: dict[str, str], lease: float, retry: set[str], tally: _Tally
    ) -> tuple[list[Delivery], dict[str, Claim]]:
        """Claim each message in the ledger (GA4), and leave out what must not be sent now: copies
        of a message another receive holds or sent (duplicates), messages this one's earlier
        receive still holds (retry), events an earlier receive settled, and a second copy of an
        event inside this batch. An event without its id (a policy that keeps messageId from the
        destination) cannot be told apart from another: it is never skipped as settled."""
        if self.ledger is None or not deliveries:
            return deliveries, {}
        keys = {d.message_id: self.ledger.key(bodies.get(d.message_id, "")) for d in deliveries}
        wanted: dict[str, str] = {}
        for d in deliveries:
            wanted.setdefault(keys[d.message_id], d.message_id)  # identical bodies: one claim
        granted = self.ledger.claim(wanted, lease)
        claims: dict[str, Claim] = {}
        seen: set[str] = set()
        kept: list[Delivery] = []
        for d in deliveries:
            claim = granted[keys[d.message_id]]
            if wanted[claim.key] != d.message_id or claim.state == "duplicate":
                tally.duplicates += len(d.events)
                continue
            if claim.state != "claimed":
                retry.add(d.message_id)
                reason = "ledger_unavailable" if claim.state == "unavailable" else "claim_held"
                tally.retried[reason] += 1
                continue
            claims[d.message_id] = claim
            events = []
            for purposes, e in d.events:
                i = event_id(e)
                if not i or (i not in claim.settled and i not in seen):
                    if i:
                        seen.add(i)
                    events.append((purposes, e))
            tally.duplicates += len(d.events) - len(events)
            if events:
                kept.append(
                    Delivery(d.message_id, d.source_id, d.policy_version, events, d.limited_data_use, d.action_source)
                )
        if tally.retried["ledger_unavailable"]:
            logger.error(
                "delivery ledger unwritable: records left for retry",
                extra={"records": tally.retried["ledger_unavailable"]},
            )
        return kept, claims

    def _settle(
        self,
        deliveries: list[Delivery],
        report: DeliveryReport,
        retry: set[str],
        tally: _Tally,
        decided: BatchDecisions,
        *,
        claims: dict[str, Claim],
    ) -> None:
        by_ref = {(d.message_id, event_id(e)): (d, p, e) for d in deliveries for p, e in d.events}
        settled: dict[str, set[str]] = {mid: set() for mid in claims}

        def settle(refs: list[EventRef] | tuple[EventRef, ...]) -> None:
            for ref in refs:
                if ref.event_id and ref.message_id in settled:
                    settled[ref.message_id].add(ref.event_id)

        settle(report.sent)
        for failure in report.failed:
            try:
                self._keep_failed(failure, by_ref)
            except Exception as exc:  # noqa: BLE001 - the failure cannot be kept: retry, never lose it
                logger.error(
                    "failed-events store unwritable: records left for retry", extra={"error_type": type(exc).__name__}
                )
                retry.update(ref.message_id for ref in failure.events)
                tally.retried["failed_store_unavailable"] += len(failure.events)
                continue
            tally.failed[failure.reason] += len(failure.events)
            decided.failed(failure.events, failure.reason)
            settle(failure.events)
        retry |= report.retry
        if self.ledger is not None and (held := [mid for mid in claims if mid in retry]):
            # the retried messages' claims: record what settled, end the lease (a message that
            # settled whole keeps its claim: SQS deletes it, and the claim stops a copy)
            tally.ledger_lost += self.ledger.release((claims[mid], settled[mid]) for mid in held)
        decided.sent(report.sent)
        decided.dropped(report.dropped)
        tally.sent += len(report.sent)
        tally.retried.update(report.retry_reasons)
        tally.dropped.update(reason for _, reason in report.dropped)
        tally.adjustments.update(report.adjustments)

    def _log_decisions(self, decided: BatchDecisions, retry: set[str], tally: _Tally) -> None:
        """Write the batch's settled decisions: one Firehose record (a bucket object per day without
        a stream).
        Never raises: the events were delivered whatever happens to their audit trail."""
        try:
            counts = decided.finish(retry)
            if not counts:
                tally.decision_log = "nothing_settled"
                return
            if self.decision_log is None:
                tally.decision_log = "not_configured"
                return
            written = self.decision_log.write(counts)
        except Exception as exc:  # noqa: BLE001 - the delivery stands; the gap is logged and counted
            _decision_log_failed(tally, type(exc).__name__)
            return
        tally.decision_log_records = written.records
        if written.failed:  # Firehose refused records after the retries: their rows are missing
            _decision_log_failed(tally, ",".join(written.errors) or "FailedPutCount")
            return
        tally.decision_log = "written"

    def _keep_failed(self, failure: Failure, by_ref: dict[tuple[str, str], _Found]) -> None:
        if self.failed_store is None:
            raise RuntimeError("FAILED_BUCKET is not configured")
        grouped: dict[str, tuple[Delivery, list[RoutedEvent]]] = {}
        for ref in failure.events:
            found = by_ref.get((ref.message_id, ref.event_id))
            if found is None:
                continue
            delivery, purposes, event = found
            routed = RoutedEvent(purposes=purposes, event=event)
            grouped.setdefault(delivery.message_id, (delivery, []))[1].append(routed)
        envelopes = [
            (
                mid,
                Envelope(
                    destination=self.settings.destination,
                    source_id=d.source_id,
                    policy_version=d.policy_version,
                    events=events,
                ),
            )
            for mid, (d, events) in grouped.items()
        ]
        self.failed_store.put(envelopes, failure.reason, failure.status, failure.answer)


_Found = tuple[Delivery, list[str], dict[str, Any]]


def event_id(event: dict[str, Any]) -> str:
    """The event's dedup id (``messageId``, a necessary attribute every destination may have)."""
    return str(event.get("messageId") or "")


class _Tally:
    """What one batch came to, for one log line and the destination's EMF metrics (counts and
    reasons only: no ids, no values)."""

    def __init__(self) -> None:
        self.sent = 0
        self.duplicates = 0
        self.ledger_lost = 0
        self.dropped: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.retried: Counter[str] = Counter()
        self.adjustments: Counter[str] = Counter()
        self.decision_log = "nothing_settled"
        self.decision_log_records = 0

    def emit(self, destination: str, records: int, retry: set[str]) -> None:
        metrics.add_dimension(name="destination", value=destination)
        metrics.add_metric(name="EventsDelivered", unit="Count", value=self.sent)
        metrics.add_metric(name="EventsDuplicateSkipped", unit="Count", value=self.duplicates)
        metrics.add_metric(name="RecordsRetried", unit="Count", value=len(retry))
        count_by_reason("EventsDropped", self.dropped, destination)
        count_by_reason("EventsFailed", self.failed, destination)
        logger.info(
            "batch forwarded",
            extra={
                "destination": destination,
                "records": records,
                "events_delivered": self.sent,
                "duplicates_skipped": self.duplicates,
                "dropped": dict(self.dropped),
                "failed": dict(self.failed),
                "retried": dict(self.retried),
                "adjustments": loggable_adjustments(self.adjustments),
                "records_failed": len(retry),
                "decision_log": self.decision_log,
                "decision_log_records": self.decision_log_records,
            },
        )


def _ledger(settings: ForwarderSettings) -> Ledger | None:
    """The delivery ledger, for a destination that cannot deduplicate by itself (GA4)."""
    if not settings.delivery_table or not keeps_ledger(settings.destination):
        return None
    return Ledger(settings.delivery_table, settings.destination)


def _failed_store(settings: ForwarderSettings, s3: Any) -> FailedStore | None:
    return FailedStore(settings.failed_bucket, settings.destination, s3=s3) if settings.failed_bucket else None


def _decision_log(settings: ForwarderSettings, s3: Any, firehose: Any) -> DecisionLog | BucketDecisionLog | None:
    stream = decision_log_stream(settings)
    if stream:
        return DecisionLog(stream, settings.destination, firehose=firehose or SharedClient("firehose"))
    bucket = decision_log_bucket(settings)
    return BucketDecisionLog(bucket, settings.destination, s3=s3) if bucket else None


def _decision_log_failed(tally: _Tally, error: str) -> None:
    tally.decision_log = "write_failed"
    logger.warning(
        "decision log not written: the batch was delivered, its decisions are not in the log",
        extra={"error_type": error},
    )
    metrics.add_metric(name="DecisionLogWriteFailed", unit="Count", value=1)
