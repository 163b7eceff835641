"""Forwarder: SQS batch -> envelopes -> policy again -> destination -> partial batch response.

Powertools' ``BatchProcessor`` calls a handler one record at a time; destinations here send in
API-sized batches (one lake object per batch, GA4 25 events, Meta 1,000), so this module keeps the
same contract (``{"batchItemFailures": [{"itemIdentifier": id}]}``) over a whole-batch call.
Records that cannot be read are reported as failures too, so SQS redelivers them and after
``maxReceiveCount`` the queue's DLQ keeps them: nothing is dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from fairtrack.destinations import Delivery, DestinationClient, UnavailableDestination
from fairtrack.envelope import Envelope
from fairtrack.observability import CORRELATION_ATTRIBUTE, logger, metrics
from fairtrack.policy import evaluate
from fairtrack.queue import envelope_from_body
from fairtrack.settings import ForwarderSettings
from fairtrack.store import NoActivePolicy, PolicyStore


def build_destination(settings: ForwarderSettings, secret_getter: Callable[[str], bytes | None]) -> DestinationClient:
    if settings.destination == "webhook" and settings.webhook_url:
        from fairtrack.destinations.webhook import WebhookDestination

        arn = settings.webhook_secret_arn
        return WebhookDestination(
            settings.webhook_url, lambda: secret_getter(arn) if arn else None, settings.webhook_timeout_seconds
        )
    if settings.destination == "lake":
        from fairtrack.destinations.lake import LakeDestination

        return LakeDestination(settings.lake_bucket, settings.lake_prefix)
    if settings.destination == "webhook":
        return UnavailableDestination("webhook", "WEBHOOK_URL is not configured")
    return UnavailableDestination(settings.destination, "forwarder not implemented yet")


def correlation_id(record: dict[str, Any]) -> str | None:
    attr = (record.get("messageAttributes") or {}).get(CORRELATION_ATTRIBUTE) or {}
    value = attr.get("stringValue")
    return value if isinstance(value, str) else None


class Forwarder:
    def __init__(self, settings: ForwarderSettings, destination: DestinationClient, store: PolicyStore | None = None):
        self.settings = settings
        self.destination = destination
        self.store = store or PolicyStore(settings.policy_table, settings.policy_cache_seconds)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        records = event.get("Records") or []
        failed: set[str] = set()
        envelopes: list[tuple[str, Envelope]] = []
        for record in records:
            message_id = str(record.get("messageId", ""))
            try:
                env = envelope_from_body(record.get("body") or "")
            except ValidationError:
                logger.error("unreadable queue record: left for retry and the DLQ")
                failed.add(message_id)
                continue
            if env.destination != self.settings.destination:
                logger.error(
                    "record for another destination: left for the DLQ", extra={"record_destination": env.destination}
                )
                failed.add(message_id)
                continue
            envelopes.append((message_id, env))
        if records and (cid := correlation_id(records[0])):
            logger.set_correlation_id(cid)

        deliveries, dropped = self._recheck(envelopes, failed)
        if deliveries:
            failed |= self.destination.deliver(deliveries)
        delivered = sum(len(d.events) for d in deliveries if d.message_id not in failed)
        metrics.add_metric(name="EventsDelivered", unit="Count", value=delivered)
        logger.info(
            "batch forwarded",
            extra={
                "destination": self.settings.destination,
                "records": len(records),
                "events_delivered": delivered,
                "dropped_by_policy": dict(dropped),
                "records_failed": len(failed),
            },
        )
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in sorted(failed)]}

    def _recheck(self, envelopes: list[tuple[str, Envelope]], failed: set[str]) -> tuple[list[Delivery], Counter[str]]:
        """Apply the active policy again: it may have changed since ingest."""
        dropped: Counter[str] = Counter()
        if not envelopes:
            return [], dropped
        try:
            policy = self.store.active_policy()
        except NoActivePolicy:
            logger.error("no active policy: records left for retry")
            failed.update(mid for mid, _ in envelopes)
            return [], dropped
        deliveries: list[Delivery] = []
        for message_id, env in envelopes:
            events: list[tuple[list[str], dict[str, Any]]] = []
            for routed in env.events:
                minimal, decisions = evaluate(routed.event, frozenset(routed.purposes), env.destination, policy)
                if minimal is None:
                    dropped[next(d.reason.split(":")[0] for d in decisions if d.action == "skipped")] += 1
                else:
                    events.append((routed.purposes, minimal))
            if events:
                deliveries.append(Delivery(message_id, env.source_id, policy.version, events))
        return deliveries, dropped
